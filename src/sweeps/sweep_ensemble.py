"""Hydra callback: average a sweep's jobs into one submission when the sweep ends."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from hydra.experimental.callback import Callback

from src.runs.run_dir import SWEEP_ENSEMBLE


class SweepEnsemble(Callback):
    """Runs `python -m src.ensemble` on the sweep dir after the summary (which stops the
    sweep first if a job failed)."""

    def on_multirun_end(self, config, **kwargs) -> None:
        # its own process, as a user would run it: Hydra's global state is the sweep's here,
        # and Hydra turns a callback's exception into a warning (SystemExit still ends it)
        sweep_dir = Path(config.hydra.sweep.dir)
        done = subprocess.run([sys.executable, "-m", "src.ensemble", f"runs={sweep_dir}",
                               f"out_dir={sweep_dir / SWEEP_ENSEMBLE}",
                               f"data.dir={config.data.dir}",
                               f"submission.dir={config.submission.dir}"], check=False)
        if done.returncode != 0:
            sys.exit(done.returncode)
