"""The submission ledger: one CSV row per attempt to submit, in `submissions/ledger.csv`.

New rows are appended with one write and an fsync, so a crash can lose at most the row being
written, never earlier ones. Outcomes and public scores are filled in later by rewriting the
whole file to a temporary name and renaming it into place, so a crash there leaves the old
ledger whole. Whoever writes it holds `locked` (one `make submit` or `make scores` at a time).
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from src.utils import file_lock
from src.utils.atomic_io import write_text

COLUMNS = ["time", "file", "sha256", "run_dir", "model", "overrides", "git_commit",
           "holdout_accuracy", "message", "kaggle_ref", "status", "public_score"]

# Written just before a file is sent and replaced by the outcome once Kaggle answers: a row
# still `sending` belongs to a process that died in between, and nobody knows whether Kaggle
# got the file until `make scores` looks for it in Kaggle's list.
SENDING = "sending"
NOT_SENT = "not sent"  # a `sending` row Kaggle's list does not have
UNKNOWN = "unknown"  # prefix: the send failed in a way that may have come after Kaggle got it


def lock_path(path: str | Path) -> Path:
    path = Path(path)
    return path.with_name(f"{path.name}.lock")


@contextlib.contextmanager
def locked(path: str | Path, holder: str, wait: float = 0) -> Iterator[None]:
    """The ledger to oneself for the `with` block: `holder` (e.g. "make submit") is named to
    anyone refused meanwhile; a held lock is waited for up to `wait` seconds."""
    with file_lock.exclusive(lock_path(path), f"`make submit` or `make scores` on {path}",
                             wait=wait, holder=holder):
        yield


def outcome_unknown(row: dict) -> bool:
    """Kaggle may or may not have this attempt: only its list of submissions can tell."""
    return not row["kaggle_ref"] and (row["status"] == SENDING
                                      or row["status"].startswith(UNKNOWN))


def counts_as_sent(row: dict) -> bool:
    return bool(row["kaggle_ref"]) or outcome_unknown(row)


def read(path: str | Path) -> list[dict]:
    path = Path(path)
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    # A row cut short by a crash has missing fields: skip it rather than trust it.
    return [row for row in rows if None not in row.values() and None not in row]


def append(path: str | Path, row: dict, columns: list[str] = COLUMNS) -> None:
    """One row at the end of the CSV at `path` (made with a header of `columns` if new)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    size = path.stat().st_size if path.exists() else 0
    if size == 0:
        writer.writeheader()
    elif _last_byte(path) != b"\n":
        buffer.write("\n")  # end a row torn by a crash, so this one starts on its own line
    writer.writerow({column: row.get(column, "") for column in columns})
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, buffer.getvalue().encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)


def update(path: str | Path, pick: Callable[[dict], bool], changes: dict) -> dict:
    """Apply `changes` to the last row `pick` accepts, and return it (the caller holds
    `locked`, so no other writer can come between the read and the rewrite)."""
    rows = read(path)
    row = next((r for r in reversed(rows) if pick(r)), None)
    if row is None:
        raise LookupError(f"no such row in {path}")
    row.update(changes)
    rewrite(path, rows)
    return row


def rewrite(path: str | Path, rows: list[dict]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows({column: row.get(column, "") for column in COLUMNS} for row in rows)
    write_text(path, buffer.getvalue())


def _last_byte(path: Path) -> bytes:
    with open(path, "rb") as fh:
        fh.seek(-1, os.SEEK_END)
        return fh.read(1)
