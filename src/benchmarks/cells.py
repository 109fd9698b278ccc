"""How the bench's tables say things: accuracies, minutes with their load, epochs, when
and where a record was measured."""

from __future__ import annotations

import json
import platform
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

from src.runs.run_dir import RunDir
from src.utils import machine as this_machine


def measured_on(path: Path) -> str:
    """When a bench record was measured (its own stamp: a clone's files all carry the date
    of the clone)."""
    record = json.loads(path.read_text())
    if "measured_at" in record:
        return record["measured_at"][:10]
    return datetime.fromtimestamp(path.stat().st_mtime, UTC).strftime("%Y-%m-%d")


def finished_on(run: Path) -> str:
    """The date a run finished: an archived run's archive date (the bench archives a run as it
    finishes), else its metrics' file date."""
    archived = (RunDir(run).metrics() or {}).get("archive")
    if archived:
        return archived["archived_at"][:10]
    return datetime.fromtimestamp(RunDir(run).finished_at(), UTC).strftime("%Y-%m-%d")


def time_to(history: dict, target: float) -> float | None:
    """Training seconds at the end of the first epoch whose holdout accuracy reached target."""
    for accuracy, seconds in zip(history["val_accuracy"], history["seconds"], strict=True):
        if accuracy >= target:
            return seconds
    return None


def accuracy_within(history: dict, seconds: float) -> float | None:
    reached = [a for a, s in zip(history["val_accuracy"], history["seconds"], strict=True)
               if s <= seconds]
    return reached[-1] if reached else None


def machine() -> str:
    libs = ", ".join(f"{name} {version(name)}" for name in
                     ("tensorflow", "keras", "scikit-learn", "numpy", "pandas", "hydra-core"))
    here = this_machine.describe()
    return f"{here['cores']} cores, {here['cpu']}; Python {platform.python_version()}; {libs}"


def any_busy(*loads) -> bool:
    """Whether any of these timings was measured busy, or under an unknown load: such a
    figure is shown, marked, and no conclusion is drawn from it."""
    return any(map(this_machine.is_busy, loads))


def same_machine(*records: dict) -> bool:
    """Whether these records were measured on one kind of machine (a ratio across machines
    measures the machines)."""
    kinds = {json.dumps(r.get("machine"), sort_keys=True) for r in records}
    return len(kinds) == 1 and "null" not in kinds


def timed_cell(seconds: float, load: dict | None, digits: int = 0) -> str:
    """A timing with its load when that load was not quiet: '812 (busy: 1.02 cores)'."""
    if not any_busy(load):
        return f"{seconds:.{digits}f}"
    said = this_machine.label(load)  # 'busy (0.90 cores of other load)' or 'load unknown'
    return f"{seconds:.{digits}f} ({said.replace(' (', ': ', 1).rstrip(')')})"


def accuracy_cell(value) -> str:
    return "—" if value is None else f"{value:.4f}"


def epochs_cell(run: dict) -> str:
    """Epochs a Keras run trained (a time budget may cut them); — for scikit-learn."""
    history = run.get("history")
    return str(len(history["seconds"])) if history else "—"


def provenance(runs: list[dict]) -> str:
    """When and where these runs were made: 'finished 2026-12-06 on 2 cores, Intel Xeon'."""
    dates = sorted({finished_on(Path(r["dir"])) for r in runs})
    machines = sorted({f"{r['machine']['cores']} cores, {r['machine']['cpu']}"
                       if r.get("machine") else "an unrecorded machine" for r in runs})
    span = dates[0] if len(dates) == 1 else f"{dates[0]}..{dates[-1]}"
    return f"finished {span} on {'; '.join(machines)}"


def loads_label(loads: list[dict]) -> str:
    """The load over several timings: 'quiet' when all were, else the busiest one's."""
    if not any_busy(*loads):
        return "quiet"
    known = [load for load in loads if load and load.get("other_cores") is not None]
    worst = max(known, key=lambda load: load["other_cores"] + load["steal_cores"],
                default=None)
    return this_machine.label(worst)
