"""The sha256 of a file, as hex: what the manifest, the cache, the ledger and the wheel check
compare."""

from __future__ import annotations

import hashlib
from pathlib import Path


def sha256_file(path: str | Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()
