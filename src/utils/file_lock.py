"""An exclusive lock held for as long as a process does one thing (a search in its sweep dir,
a submission on the ledger), so that a second process doing the same thing is refused in one
line instead of racing."""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

from src.utils.errors import HarnessError

RETRY_EVERY = 0.2  # seconds between tries while waiting for a held lock


class Busy(HarnessError):
    """Another process holds the lock."""


@contextlib.contextmanager
def exclusive(path: Path, what: str, wait: float = 0, holder: str = "") -> Iterator[None]:
    """Hold `path` locked (it is made if missing) for the `with` block; the OS lets go when
    the process dies, so a killed holder never leaves a stale lock. A held lock is waited for
    up to `wait` seconds, then refused in one line naming its holder; `holder` says who this
    process is, for that line."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() < deadline:
                    time.sleep(RETRY_EVERY)
                    continue
                handle.seek(0)
                held_by = handle.read().strip() or "another process"
                raise Busy(f"{what} is already running ({held_by}, lock {path}): wait for "
                           "it, or stop it first") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}" + (f": {holder}" if holder else ""))
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
