"""What every part of the harness uses: one error type for what a user can fix, atomic file
writes, file hashes."""
