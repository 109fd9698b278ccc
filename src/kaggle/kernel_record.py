"""Every kernel `make kaggle-run` pushed from here: one CSV row a push, in
`kaggle.kernel.record` (beside the submission ledger).

`make kaggle-run LIST=1` lists them with their state on Kaggle, and `FETCH=` brings a session
home that nobody waited for (Ctrl-C, the wait bound). The client can list an account's kernels
only by a search of Kaggle's, so this record is how the project knows its own. Rows are appended
as the ledger's are (src/kaggle/ledger.py: one write and an fsync).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from src.kaggle import ledger
from src.kaggle.kernels import Kernel

COLUMNS = ["time", "kernel", "version", "overrides"]


def add(path: str | Path, kernel: Kernel, overrides: list[str]) -> None:
    ledger.append(path, {"time": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
                         "kernel": kernel.id, "version": kernel.version or "",
                         "overrides": " ".join(overrides)}, columns=COLUMNS)


def latest(path: str | Path) -> list[dict]:
    """The last push of each kernel, newest first."""
    last = {row["kernel"]: row for row in ledger.read(path)}
    return sorted(last.values(), key=lambda row: row["time"], reverse=True)
