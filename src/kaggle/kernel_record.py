"""Every kernel `make kaggle-run` pushed from here: one CSV row a push, in
`kaggle.kernel.record` (beside the submission ledger).

`make kaggle-run LIST=1` lists them with their state on Kaggle, and `FETCH=` brings a session
home that nobody waited for (Ctrl-C, the wait bound), with the version and the git state of the
code that was pushed. The client can list an account's kernels only by a search of Kaggle's, so
this record is how the project knows its own. Rows are appended as the ledger's are
(src/kaggle/ledger.py: one write and an fsync); the file sits in a folder of its own under
submissions/ (which `make clean` keeps), out of the way of the CSVs `make submit` picks from.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from src.kaggle import ledger
from src.kaggle.kernels import Kernel

COLUMNS = ["time", "kernel", "version", "overrides", "git"]


def add(path: str | Path, kernel: Kernel, overrides: list[str], git: dict) -> None:
    ledger.append(path, {"time": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
                         "kernel": kernel.id, "version": kernel.version or "",
                         "overrides": " ".join(overrides), "git": json.dumps(git)},
                  columns=COLUMNS)


def kernel(row: dict) -> Kernel:
    """The kernel and version a row records."""
    owner, slug = row["kernel"].split("/", 1)
    return Kernel(owner, slug, int(row["version"]) if row["version"] else None)


def last_push(path: str | Path, kernel_id: str) -> dict | None:
    """The newest row of `kernel_id`, its git state parsed; None if it was not pushed here."""
    rows = [row for row in ledger.read(path) if row["kernel"] == kernel_id]
    if not rows:
        return None
    row = dict(rows[-1])
    try:
        row["git"] = json.loads(row.get("git") or "null")
    except ValueError:
        row["git"] = None
    return row


def latest(path: str | Path) -> list[dict]:
    """The last push of each kernel, newest first."""
    last = {row["kernel"]: row for row in ledger.read(path)}
    return sorted(last.values(), key=lambda row: row["time"], reverse=True)
