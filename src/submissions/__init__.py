"""The ImageId,Label submission CSV: build, validate, write (never over a file), find."""
