"""Train one model, score it on the holdout, and write a Kaggle submission.

    python -m src.run model=cnn trainer.epochs=60
    python -m src.run model=logreg data.holdout=0      # fit on all 42,000 rows
    python -m src.run -m model=svm,cnn                 # a sweep

Everything a run makes goes into its Hydra run dir (see README, "Reading a run dir"), except
the submission, which goes to `submission.dir`. Returns the holdout accuracy for sweepers.
"""

from __future__ import annotations

import inspect
import io
import json
import logging
import random
import sys
import time
from datetime import datetime
from pathlib import Path

import hydra
import numpy as np
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from . import cli_config, dataset, submission
from .atomic_io import write_bytes, write_text
from .config_check import check
from .errors import exit_on_error
from .models import factory, persist
from .provenance import git_state, peak_memory_mb

log = logging.getLogger(__name__)


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> float | None:
    return train(cfg)


@exit_on_error
def train(cfg: DictConfig) -> float | None:
    check(cfg)
    estimator = factory.build(cfg.model.estimator)
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)

    train_set = dataset.load_train(cfg.data.dir, cfg.data.cache)
    test_set = dataset.load_test(cfg.data.dir, cfg.data.cache)
    fit_set, holdout = dataset.holdout_split(train_set, cfg.data.holdout, cfg.data.split_seed)
    log.info("data: %d rows to fit, %s, %d test rows", len(fit_set),
             f"{len(holdout)} held out" if holdout is not None else "no holdout", len(test_set))

    fit_kwargs = {}
    if holdout is not None and "validation_data" in inspect.signature(estimator.fit).parameters:
        fit_kwargs["validation_data"] = (holdout.pixels, holdout.labels)
    log.info("fit: %s on %d rows: %s", cfg.model.name, len(fit_set), estimator)
    start = time.perf_counter()
    estimator.fit(fit_set.pixels, fit_set.labels, **fit_kwargs)
    fit_seconds = time.perf_counter() - start

    train_accuracy = _accuracy(estimator, fit_set)
    holdout_accuracy = _accuracy(estimator, holdout) if holdout is not None else None
    start = time.perf_counter()
    test_proba = estimator.predict_proba(test_set.pixels)
    predict_seconds = time.perf_counter() - start

    persist.save(estimator, run_dir)
    _save_array(run_dir / "test_proba.npy", test_proba.astype(np.float32))
    write_text(run_dir / "config_resolved.yaml", OmegaConf.to_yaml(cfg, resolve=True))
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    score = "full" if holdout is None else f"holdout{holdout_accuracy:.5f}"
    sub_path = submission.write(submission.build(test_proba.argmax(axis=1)), cfg.submission.dir,
                                f"{stamp}_{cfg.model.name}_{score}", len(test_set))

    metrics = {
        "model": cfg.model.name,
        "holdout_accuracy": holdout_accuracy,
        "train_accuracy": train_accuracy,
        "rows": {"fit": len(fit_set), "holdout": 0 if holdout is None else len(holdout),
                 "test": len(test_set)},
        "fit_seconds": round(fit_seconds, 2),
        "predict_seconds": round(predict_seconds, 2),
        "peak_memory_mb": peak_memory_mb(),
        "git": git_state(Path(__file__).parent),
        "overrides": list(HydraConfig.get().overrides.task),
        "submission": str(sub_path),
    }
    write_text(run_dir / "metrics.json", json.dumps(metrics, indent=2) + "\n")
    log.info("training accuracy %.5f (on the %d rows it was fit on)", train_accuracy, len(fit_set))
    log.info("fit %.1f s, predict %.1f s, peak memory %.0f MB, run dir %s",
             fit_seconds, predict_seconds, metrics["peak_memory_mb"], run_dir)
    if holdout is not None:
        log.info("submission %s  holdout accuracy %.5f", sub_path, holdout_accuracy)
    else:
        log.info("submission %s  holdout accuracy: none (data.holdout=0, fit on all rows)",
                 sub_path)
    return holdout_accuracy


def _accuracy(estimator, digits: dataset.Digits) -> float:
    # argmax of the class scores, exactly as the submission is made
    return float(np.mean(estimator.predict_proba(digits.pixels).argmax(axis=1) == digits.labels))


def _save_array(path: Path, array: np.ndarray) -> None:
    buffer = io.BytesIO()
    np.save(buffer, array)
    write_bytes(path, buffer.getvalue())


@exit_on_error
def _check_command_line() -> None:
    cli_config.check_overrides(sys.argv[1:])


if __name__ == "__main__":
    _check_command_line()
    main()
