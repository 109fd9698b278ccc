"""Predict again from a saved run: its model(s) and config, no retraining.

    python -m src.predict run=outputs/2026-11-25/19-00-00-000000_cnn
    python -m src.predict run=DIR data.dir=other/digit-recognizer tta=true

Writes a new validated submission (never over an existing file) and prints how often it
agrees with the submission the run wrote when it trained (same data: 100%).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf

from src.config import command_config
from src.data import dataset
from src.models import contract, persist
from src.runs.run_dir import CONFIG, MODEL, RunDir
from src.submissions import submission_csv
from src.utils.errors import ConfigError, exit_on_error


def load_run(run: RunDir | Path) -> tuple[dict, list]:
    """A run's resolved config and fitted estimators; one line if it has not got them."""
    run = RunDir(run)
    cfg = run.config()
    if cfg is None:
        raise ConfigError(f"{run} is not a finished run dir (no {CONFIG}): give a dir that "
                          "src.run wrote, e.g. outputs/<date>/<time>_<model>")
    estimators = persist.load(run, cfg)
    if not estimators:
        raise ConfigError(f"{run} holds no saved model "
                          f"({' or '.join(MODEL + s for s in persist.SUFFIXES)})")
    return cfg, estimators


def predict(run: RunDir | Path, data_dir: str | None = None, tta: bool | None = None,
            cache: bool = True) -> tuple[dict, np.ndarray, int]:
    cfg, estimators = load_run(run)
    if tta is not None:
        for estimator in estimators:
            if contract.declared(estimator).has_test_time_augmentation:
                estimator.set_test_time_augmentation(tta)
    test_set = dataset.load_test(data_dir or cfg["data"]["dir"], cache)
    proba = np.mean([e.predict_proba(test_set.pixels) for e in estimators], axis=0)
    return cfg, proba, len(test_set)


@exit_on_error
def main(argv: list[str]) -> Path:
    settings = command_config.load(argv, name="predict")
    if OmegaConf.is_missing(settings, "run"):
        raise ConfigError("which run? give run=DIR, a run dir that src.run wrote")
    if settings.tta not in (None, True, False):
        raise ConfigError(f"tta={settings.tta} is not true or false")
    run_dir = RunDir(settings.run)
    start = time.perf_counter()
    cfg, proba, n_rows = predict(run_dir, settings.data.dir, settings.tta, settings.data.cache)
    seconds = time.perf_counter() - start
    labels = proba.argmax(axis=1)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = submission_csv.write(submission_csv.build(labels), settings.submission.dir,
                            f"{stamp}_{cfg['model']['name']}_predict", n_rows)
    print(f"{path}: {n_rows} rows predicted by {run_dir} in {seconds:.1f} s (no retraining)")
    earlier = run_dir.test_proba()
    if earlier is not None and settings.data.dir is None and earlier.shape == proba.shape:
        print(f"agrees with the run's own predictions on "
              f"{np.mean(earlier.argmax(axis=1) == labels):.2%} of rows")
    return path


if __name__ == "__main__":
    main(sys.argv[1:])
