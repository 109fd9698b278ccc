"""Keep one sweep dir to one sweep. Job dirs are numbered from 0 in every sweep, so a second,
different sweep in the same dir would mix its jobs into the first's summary and overwrite
them; a resumed search (src/sweeps/optuna_sweeper.py) must find its own study there, not another.

A sweep records what it is in `sweep.json` when it starts: the sweeper, the study, the
search space and the command-line overrides. The same sweep may run again in its dir (that
is how a search resumes); a different one is refused before any job starts.
"""

from __future__ import annotations

import json
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from src.config.names import OPTUNA_SWEEPER as OPTUNA
from src.runs.run_dir import HYDRA
from src.utils.atomic_io import write_text
from src.utils.errors import ConfigError

RECORD = "sweep.json"


def identity(hydra_cfg: DictConfig, task_overrides: list[str]) -> dict:
    sweeper = hydra_cfg.sweeper
    params = sweeper.get("params")
    return {
        "sweeper": str(sweeper.get("_target_")),
        "study_name": sweeper.get("study_name"),
        "direction": str(sweeper.get("direction")) if "direction" in sweeper else None,
        "params": OmegaConf.to_container(params) if params else {},
        "overrides": sorted(task_overrides),
    }


def check(sweep_dir: Path, wanted: dict) -> None:
    """One ConfigError line when `sweep_dir` holds another sweep's jobs."""
    record = sweep_dir / RECORD
    if record.is_file():
        try:
            found = _current(json.loads(record.read_text()))
        except ValueError:
            found = {}
        if found == wanted:
            return
        detail = "; ".join(_difference(k, found.get(k), wanted.get(k))
                           for k in sorted(wanted.keys() | found.keys())
                           if found.get(k) != wanted.get(k))
        raise ConfigError(f"sweep dir {sweep_dir} holds a different sweep ({detail}): "
                          "pick another hydra.sweep.dir (or hydra.sweeper.study_name), "
                          "or remove that dir")
    if any(sweep_dir.glob(f"*/{HYDRA}")):
        raise ConfigError(f"sweep dir {sweep_dir} already holds jobs of an unrecorded sweep: "
                          "pick another hydra.sweep.dir, or remove that dir")


# A search begun under hydra-optuna-sweeper (before the project's own sweeper) is the same
# search: it may resume under the new one (its database after `optuna storage upgrade`).
LEGACY_SWEEPERS = {
    "hydra_plugins.digit_harness.resumable_optuna_sweeper.ResumableOptunaSweeper": OPTUNA,
}


def _current(found: dict) -> dict:
    if not isinstance(found, dict):
        return {}
    found = dict(found)
    found["sweeper"] = LEGACY_SWEEPERS.get(found.get("sweeper"), found.get("sweeper"))
    direction = found.get("direction")
    if isinstance(direction, str) and direction.startswith("Direction."):  # the old enum
        found["direction"] = direction.removeprefix("Direction.")
    return found


def _difference(key: str, was, now) -> str:
    if isinstance(was, list) and isinstance(now, list):
        added, dropped = sorted(set(now) - set(was)), sorted(set(was) - set(now))
        return f"{key}: " + ", ".join([*(f"+{o}" for o in added), *(f"-{o}" for o in dropped)])
    return f"{key} was {was!r}, now {now!r}"


def record(sweep_dir: Path, found: dict) -> None:
    write_text(sweep_dir / RECORD, json.dumps(found, indent=2) + "\n")
