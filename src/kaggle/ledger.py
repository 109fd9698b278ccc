"""The submission ledger: one CSV row per attempt to submit, in `submissions/ledger.csv`.

New rows are appended with one write and an fsync, so a crash can lose at most the row being
written, never earlier ones. Public scores are filled in later by rewriting the whole file to a
temporary name and renaming it into place, so a crash there leaves the old ledger whole.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

from src.utils.atomic_io import write_text

COLUMNS = ["time", "file", "sha256", "run_dir", "model", "overrides", "git_commit",
           "holdout_accuracy", "message", "kaggle_ref", "status", "public_score"]


def read(path: str | Path) -> list[dict]:
    path = Path(path)
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    # A row cut short by a crash has missing fields: skip it rather than trust it.
    return [row for row in rows if None not in row.values() and None not in row]


def append(path: str | Path, row: dict) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    size = path.stat().st_size if path.exists() else 0
    if size == 0:
        writer.writeheader()
    elif _last_byte(path) != b"\n":
        buffer.write("\n")  # end a row torn by a crash, so this one starts on its own line
    writer.writerow({column: row.get(column, "") for column in COLUMNS})
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, buffer.getvalue().encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)


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
