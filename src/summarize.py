"""Print and write the summary of any sweep dir, even one still running.

    python -m src.summarize multirun/2026-11-25/18-00-00

Writes summary.csv and summary.md into the sweep dir (src/sweeps/summary.py), as Hydra's
callback does when a sweep ends.
"""

from __future__ import annotations

import sys
from pathlib import Path

from src.runs.run_dir import OVERRIDES, is_sweep_dir
from src.sweeps.summary import summarize
from src.utils.errors import HarnessError, exit_on_error


@exit_on_error
def main(argv: list[str]) -> None:
    if len(argv) != 1:
        raise SystemExit("usage: python -m src.summarize SWEEP_DIR")
    sweep_dir = Path(argv[0])
    if not is_sweep_dir(sweep_dir):
        raise HarnessError(f"{sweep_dir} holds no sweep jobs (no */{OVERRIDES}): give a "
                           "multirun dir, e.g. multirun/<date>/<time>")
    summarize(sweep_dir)


if __name__ == "__main__":
    main(sys.argv[1:])
