"""A finished kernel's output made into a run dir like a local run's, and its submission into
`submission.dir`, so `make predict`, `make ensemble`, `make report` and `make submit` take it
as they take a local run.

The output is downloaded into a staging dir beside the run dir's place; it is checked (a run
that finished, a valid submission, test predictions of the right shape) and its paths turned
into this machine's before it is renamed into place, so a failure at any point leaves nothing
half-fetched in outputs/ or submissions/.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import yaml

from src.kaggle.api_client import KaggleError
from src.kaggle.kernel_package import RUN_DIR, SUBMISSION_DIR
from src.kaggle.kernels import Kernel
from src.runs import run_dir as layout
from src.runs.run_dir import RunDir
from src.submissions import submission_csv
from src.utils.atomic_io import write_text


def place(staging: Path, kernel: Kernel, overrides: list[str], target: Path, local: dict,
          test_rows: int, git: dict, session_seconds: float | None) -> tuple[RunDir, Path]:
    """Move the run in `staging` (what the kernel wrote) to `target` and its submission into
    local["submission_dir"]; return both. `local` holds this machine's data_dir, cache and
    submission_dir, which replace the session's in the run's config; `git` is the state of
    the code that was pushed (the session has no repository)."""
    run = RunDir(staging / RUN_DIR)
    metrics = _read_metrics(run, kernel)
    sent = staging / SUBMISSION_DIR / Path(metrics.get("submission", "")).name
    if not sent.is_file():
        raise _lost(kernel, f"its submission {SUBMISSION_DIR}/{sent.name}")
    frame = submission_csv.read(sent, test_rows)
    proba = run.test_proba()
    if proba is None or proba.shape != (test_rows, 10) or not np.isfinite(proba).all():
        raise _lost(kernel, f"test predictions of shape ({test_rows}, 10) in {layout.TEST_PROBA}")

    session = {"data_dir": run.config()["data"]["dir"], "submission": metrics["submission"],
               # push to end, as often as polled; None for a session fetched later
               "seconds": None if session_seconds is None else round(session_seconds, 1)}
    _localise_config(run, local)
    write_text(run.path / layout.OVERRIDES, yaml.safe_dump(list(overrides)))
    target.parent.mkdir(parents=True, exist_ok=True)
    submission = submission_csv.write(frame, local["submission_dir"], sent.stem, test_rows)
    metrics.update(overrides=list(overrides), submission=str(submission), git=git,
                   kaggle={"kernel": kernel.ref, "url": kernel.url, "session": session})
    run.write_metrics(metrics)
    try:
        os.rename(run.path, target)  # the whole run appears at once, or not at all
    except OSError:
        submission.unlink(missing_ok=True)
        raise
    return RunDir(target), submission


def recorded_overrides(staging: Path, kernel: Kernel) -> list[str]:
    """The overrides the session's run recorded (the job's and the session's paths)."""
    overrides = RunDir(staging / RUN_DIR).overrides()
    if overrides is None:
        raise _lost(kernel, f"a run ({RUN_DIR}/{layout.OVERRIDES})")
    return overrides


def _read_metrics(run: RunDir, kernel: Kernel) -> dict:
    try:
        metrics = run.metrics()
    except ValueError:
        metrics = None
    if not metrics or run.config() is None:
        raise _lost(kernel, f"a finished run ({RUN_DIR}/{layout.METRICS} and "
                            f"{layout.CONFIG})")
    return metrics


def _localise_config(run: RunDir, local: dict) -> None:
    """The run's config with this machine's data and submission dirs: `make predict` reads
    its test set from the config's data.dir."""
    config = run.config()
    config["data"]["dir"] = local["data_dir"]
    config["data"]["cache"] = local["cache"]
    config["submission"]["dir"] = local["submission_dir"]
    run.write_config(yaml.safe_dump(config, sort_keys=False))


def _lost(kernel: Kernel, what: str) -> KaggleError:
    return KaggleError(f"kernel {kernel.ref} completed, but its output lacks {what}: nothing "
                       f"was kept; see its log on {kernel.url}")


def discard(staging: Path) -> None:
    shutil.rmtree(staging, ignore_errors=True)
