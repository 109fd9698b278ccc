"""Keep a finished run in the results archive (results/, committed), so it outlives the machine.

    python -m src.archive run=outputs/2026-12-06/20-19-05-123456_cnn name=cnn-seed42-full
    make archive RUN=outputs/... NAME=cnn-seed42-full

The archive keeps the config, metrics, training records and predictions (float16, compressed),
never model weights; see src/runs/archive.py. Archived runs join `make ensemble` like run dirs.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf

from src.config import command_config
from src.data import dataset
from src.runs import archive
from src.runs.run_dir import RunDir
from src.utils.errors import ConfigError, HarnessError, exit_on_error


@exit_on_error
def main(argv: list[str]) -> RunDir:
    settings = command_config.load(argv, name="archive")
    for key, example in (("run", "run=outputs/<date>/<run>"), ("name", "name=cnn-seed1-full")):
        if OmegaConf.is_missing(settings, key):
            raise ConfigError(f"which {key}? give {example}")
    run = RunDir(settings.run)
    archived = archive.archive(run, Path(settings.results.dir), str(settings.name),
                               int(settings.results.max_bytes), _fingerprints(run))
    size = sum(p.stat().st_size for p in archived.path.iterdir())
    print(f"archived {run} as {archived} ({size:,} bytes; "
          f"recipe {archived.metrics()['archive']['recipe_hash']})")
    return archived


def _fingerprints(run: RunDir) -> dict | None:
    """Which images a run that predates recording them used: its data dir's as they are now,
    when that data gives the very holdout the run held out (a replica shuffled otherwise would
    not); else None, and the archive does not say."""
    metrics, config, held = run.metrics() or {}, run.config() or {}, run.holdout()
    if "data" in metrics or held is None:
        return None
    data = config.get("data", {})
    try:
        train = dataset.load_train(data["dir"])
        test = dataset.load_test(data["dir"])
    except (KeyError, HarnessError):  # no data here: nothing to compare with
        return None
    _, holdout = dataset.holdout_split(train, data["holdout"], data["split_seed"])
    proba = run.test_proba(mmap=True)
    if (holdout is None or not np.array_equal(holdout.labels, held[1])
            or proba is None or len(proba) != len(test)):
        return None
    return {"train": train.fingerprint(), "test": test.fingerprint()}


if __name__ == "__main__":
    main(sys.argv[1:])
