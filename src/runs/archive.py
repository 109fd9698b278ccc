"""The results archive: finished runs kept in the repository, small enough to commit.

A machine's outputs/ goes with the machine; what a run proved goes here. An archived run is a
run dir with only what later work reads: its resolved config, its metrics (plus where and when
it was archived, and its recipe hash), its training records, and its predictions as float16 in
one compressed file (src/runs/run_dir.py, PREDICTIONS; out-of-fold scores coarser, below). No
model weights: an archived run can join ensembles, be scored and be compared, not predict new
data.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from src.runs.recipe import recipe_hash
from src.runs.run_dir import CONFIG, METRICS, RunDir
from src.utils.atomic_io import write_bytes
from src.utils.errors import ConfigError

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
# Out-of-fold scores (42,000 rows of a k-fold run) at full float16 would take a k-fold run's
# archive past 1 MB; they serve ensemble selection only, which needs less precision.
OOF_DROPPED_BITS = 4


def archive(run: RunDir, results_dir: Path, name: str, max_bytes: int,
            fingerprints: dict | None = None) -> RunDir:
    """Write `run` into results_dir/name; never over an existing archive. `fingerprints`
    ({"train", "test"}) stand in for a run that did not record which images it used."""
    run = RunDir(run)
    if not NAME.fullmatch(name or ""):
        raise ConfigError(f"name={name!r}: use letters, digits, '.', '_' and '-' "
                          "(it becomes a folder name)")
    dest = Path(results_dir) / name
    if dest.exists():
        raise ConfigError(f"{dest} exists already: an archived run is never overwritten; "
                          "choose another name")
    if not run.is_training_run():
        raise ConfigError(f"{run} is not a finished run of src.run (it needs {METRICS} and "
                          f"{CONFIG})")
    arrays = predictions(run)
    metrics = run.metrics()
    if "data" not in metrics and fingerprints is not None:
        metrics["data"] = {**fingerprints, "taken": "when archived"}
    metrics["archive"] = {"from": str(run), "archived_at": datetime.now(UTC).isoformat(
        timespec="seconds"), "recipe_hash": recipe_hash(run.config())}

    staging = Path(results_dir) / f".{name}.{secrets.token_hex(4)}.tmp"
    try:
        staging.mkdir(parents=True)
        staged = RunDir(staging)
        staged.write_config(run.config_text())
        staged.write_metrics(metrics)
        staged.write_predictions(arrays)
        for record in run.record_files():
            write_bytes(staging / record.name, record.read_bytes())
        size = sum(p.stat().st_size for p in staging.iterdir())
        if size > max_bytes:
            raise ConfigError(f"{run} would take {size:,} bytes archived, over the limit of "
                              f"{max_bytes:,} (results.max_bytes)")
        # a whole archive or none; a dest made meanwhile is refused (a non-empty one by the
        # kernel, an empty one here)
        if dest.exists():
            raise ConfigError(f"{dest} appeared while archiving: choose another name")
        os.rename(staging, dest)
    except OSError as err:
        raise ConfigError(f"{dest} not written: {err}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return RunDir(dest)


def predictions(run: RunDir) -> dict[str, np.ndarray]:
    """What an archive keeps of a run's predictions, as float16 (labels as uint8)."""
    test = run.test_proba()
    if test is None:
        raise ConfigError(f"{run} has no test predictions to archive")
    arrays = {"test_proba": np.asarray(test, dtype=np.float16)}
    holdout = run.holdout()
    if holdout is not None:
        arrays["holdout_proba"] = holdout[0].astype(np.float16)
        arrays["holdout_labels"] = holdout[1].astype(np.uint8)
    oof = run.oof_proba()
    if oof is not None:
        arrays["oof_proba"] = coarse_float16(oof)
    return arrays


def coarse_float16(proba: np.ndarray, dropped_bits: int = OOF_DROPPED_BITS) -> np.ndarray:
    """float16 with its lowest mantissa bits zeroed: 6 of 10 bits left is 1.6% relative
    precision (below 6e-5, float16's subnormals, 1e-6 absolute), enough to select members by,
    and it compresses to about two thirds."""
    bits = np.asarray(proba, dtype=np.float16).view(np.uint16)
    return (bits & np.uint16((0xFFFF << dropped_bits) & 0xFFFF)).view(np.float16)


def archived_runs(results_dir: Path) -> list[RunDir]:
    """Every archived run, by name."""
    root = Path(results_dir)
    return [RunDir(p.parent) for p in sorted(root.glob(f"*/{METRICS}"))
            if not p.parent.name.startswith(".")] if root.is_dir() else []


def find(results_dir: Path, recipe: str, images: dict, machine: dict | None = None
         ) -> RunDir | None:
    """An archived run of this recipe hash on these images ({"train", "test"} fingerprints),
    and on this kind of machine when `machine` is given."""
    for run in archived_runs(results_dir):
        metrics = run.metrics()
        data = metrics.get("data") or {}
        if (metrics.get("archive", {}).get("recipe_hash") == recipe
                and (data.get("train"), data.get("test")) == (images["train"], images["test"])
                and (machine is None or metrics.get("machine") == machine)):
            return run
    return None
