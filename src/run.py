"""Train one model, score it on the holdout, and write a Kaggle submission.

    python -m src.run model=cnn trainer.epochs=60
    python -m src.run model=logreg data.holdout=0      # fit on all 42,000 rows
    python -m src.run -m model=svm,cnn                 # a sweep

Everything a run makes goes into its Hydra run dir (see README, "Reading a run dir"), except
the submission, which goes to `submission.dir`. Returns the holdout accuracy for sweepers.
"""

from __future__ import annotations

import inspect
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
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from src.config import command_config
from src.config.validate import check
from src.data import dataset
from src.models import factory, persist
from src.submissions import submission_csv
from src.summarize import write_failure
from src.training import threads
from src.training.provenance import git_state, peak_memory_mb
from src.utils.atomic_io import write_array, write_arrays, write_text
from src.utils.errors import HarnessError, exit_on_error

log = logging.getLogger(__name__)


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> float | None:
    if HydraConfig.get().mode == RunMode.MULTIRUN:
        return sweep_job(cfg)
    return exit_on_error(train)(cfg)


def sweep_job(cfg: DictConfig) -> float | None:
    """One job of a sweep: a failure is recorded in failed.json for the summary, and the
    other jobs go on."""
    try:
        return train(cfg)
    except Exception as err:  # noqa: BLE001 - any failure of one job is that job's row
        if isinstance(err, HarnessError):
            line = str(err)
        else:
            line = f"{type(err).__name__}: {err}".splitlines()[0]
            log.exception("job failed")  # the traceback goes to this job's log
        run_dir = Path(HydraConfig.get().runtime.output_dir)
        write_failure(run_dir, line, model=cfg.model.name)
        log.error("error: %s", line)
        return None


def train(cfg: DictConfig) -> float | None:
    check(cfg)
    cfg.threads = threads.budget(cfg.threads, HydraConfig.get().launcher)
    threads.limit_math_libraries(cfg.threads)
    factory.build(cfg.model.estimator)  # refuse bad estimator settings before loading data
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)

    train_set = dataset.load_train(cfg.data.dir, cfg.data.cache)
    test_set = dataset.load_test(cfg.data.dir, cfg.data.cache)
    if cfg.data.folds:
        held_rows = dataset.kfold_rows(train_set, cfg.data.folds, cfg.data.split_seed)
        splits = dataset.kfold_splits(train_set, held_rows)
        log.info("data: %d-fold cross-validation over %d rows, %d test rows",
                 cfg.data.folds, len(train_set), len(test_set))
    else:
        splits = [dataset.holdout_split(train_set, cfg.data.holdout, cfg.data.split_seed)]
        fit_set, holdout = splits[0]
        log.info("data: %d rows to fit, %s, %d test rows", len(fit_set),
                 f"{len(holdout)} held out" if holdout is not None else "no holdout",
                 len(test_set))

    fits = [_fit(cfg, fit_set, holdout, test_set, run_dir,
                 f"model_fold{k}" if cfg.data.folds else "model")
            for k, (fit_set, holdout) in enumerate(splits)]
    test_proba = np.mean([f["test_proba"] for f in fits], axis=0)  # K models vote by average
    train_accuracy = float(np.mean([f["train_accuracy"] for f in fits]))
    fold_accuracy = [f["holdout_accuracy"] for f in fits]
    holdout_accuracy = None if fold_accuracy[0] is None else float(np.mean(fold_accuracy))

    write_array(run_dir / "test_proba.npy", test_proba.astype(np.float32))
    write_text(run_dir / "config_resolved.yaml", OmegaConf.to_yaml(cfg, resolve=True))
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    if cfg.data.folds:
        score = f"cv{cfg.data.folds}-{holdout_accuracy:.5f}"
    else:
        score = "full" if holdout_accuracy is None else f"holdout{holdout_accuracy:.5f}"
    sub_path = submission_csv.write(submission_csv.build(test_proba.argmax(axis=1)),
                                    cfg.submission.dir, f"{stamp}_{cfg.model.name}_{score}",
                                    len(test_set))

    fit_rows, holdout_rows = splits[0][0], splits[0][1]
    metrics = {
        "model": cfg.model.name,
        "holdout_accuracy": holdout_accuracy,
        "train_accuracy": train_accuracy,
        "rows": {"fit": len(fit_rows), "holdout": 0 if holdout_rows is None else len(holdout_rows),
                 "test": len(test_set)},
        "fit_seconds": round(sum(f["fit_seconds"] for f in fits), 2),
        "predict_seconds": round(sum(f["predict_seconds"] for f in fits), 2),
        "peak_memory_mb": peak_memory_mb(),
        "threads": cfg.threads,
        "git": git_state(Path(__file__).parent),
        "overrides": list(HydraConfig.get().overrides.task),
        "submission": str(sub_path),
    }
    if holdout_rows is not None and not cfg.data.folds:  # for ensembles: members' agreement
        write_arrays(run_dir / "holdout.npz", proba=fits[0]["holdout_proba"].astype(np.float32),
                     labels=holdout_rows.labels)
    if cfg.data.folds:
        oof = np.zeros((len(train_set), test_proba.shape[1]), dtype=np.float32)
        for rows, fit in zip(held_rows, fits, strict=True):
            oof[rows] = fit["holdout_proba"]
        write_array(run_dir / "oof_proba.npy", oof)
        metrics["cv"] = {
            "folds": cfg.data.folds, "fold_accuracy": fold_accuracy,
            "mean": holdout_accuracy, "std": float(np.std(fold_accuracy)),
            "oof_accuracy": float(np.mean(oof.argmax(axis=1) == train_set.labels)),
        }
        log.info("cross-validation: fold accuracy %.5f +/- %.5f over %d folds (%s)",
                 holdout_accuracy, metrics["cv"]["std"], cfg.data.folds,
                 ", ".join(f"{a:.5f}" for a in fold_accuracy))
    if cfg.figures:
        _figures(run_dir, splits[0], fits[0], test_set, test_proba)
    write_text(run_dir / "metrics.json", json.dumps(metrics, indent=2) + "\n")
    log.info("training accuracy %.5f (on the rows each model was fit on)", train_accuracy)
    log.info("fit %.1f s, predict %.1f s, peak memory %.0f MB, run dir %s",
             metrics["fit_seconds"], metrics["predict_seconds"], metrics["peak_memory_mb"],
             run_dir)
    if cfg.data.folds:
        log.info("submission %s  mean fold accuracy %.5f", sub_path, holdout_accuracy)
    elif holdout_accuracy is not None:
        log.info("submission %s  holdout accuracy %.5f", sub_path, holdout_accuracy)
    else:
        log.info("submission %s  holdout accuracy: none (data.holdout=0, fit on all rows)",
                 sub_path)
    return holdout_accuracy


def _fit(cfg, fit_set, holdout, test_set, run_dir: Path, name: str) -> dict:
    """Fit one fresh estimator and predict what the run needs from it."""
    estimator = factory.build(cfg.model.estimator)
    if hasattr(estimator, "log_dir"):  # TensorBoard: `tensorboard --logdir outputs`
        estimator.log_dir = run_dir / "tensorboard" / name.replace("model", "fit")
    fit_kwargs = {}
    if holdout is not None and "validation_data" in inspect.signature(estimator.fit).parameters:
        fit_kwargs["validation_data"] = (holdout.pixels, holdout.labels)
    log.info("fit: %s on %d rows: %s", cfg.model.name, len(fit_set), estimator)
    start = time.perf_counter()
    estimator.fit(fit_set.pixels, fit_set.labels, **fit_kwargs)
    fit_seconds = time.perf_counter() - start

    result = {"fit_seconds": fit_seconds, "holdout_accuracy": None, "holdout_proba": None,
              "train_accuracy": _accuracy(estimator.predict_proba(fit_set.pixels), fit_set)}
    if holdout is not None:
        result["holdout_proba"] = estimator.predict_proba(holdout.pixels)
        result["holdout_accuracy"] = _accuracy(result["holdout_proba"], holdout)
    start = time.perf_counter()
    result["test_proba"] = estimator.predict_proba(test_set.pixels)
    result["predict_seconds"] = time.perf_counter() - start
    persist.save(estimator, run_dir, name)
    result["history"] = getattr(estimator, "history_", None)  # Keras: per-epoch figures
    result["search"] = getattr(estimator, "search_", None)  # the SVM's C search
    for key in ("history", "search"):
        if result[key]:
            write_text(run_dir / f"{name.replace('model', key)}.json",
                       json.dumps(result[key], indent=1) + "\n")
    return result


def _figures(run_dir: Path, split, fit: dict, test_set, test_proba) -> None:
    """The run's pictures (src/views/figures.py); a figure that fails costs a warning, not
    the run."""
    try:
        from src.views import figures

        fit_set, holdout = split
        written = figures.for_run(run_dir, fit_set, holdout, fit["holdout_proba"], test_set,
                                  test_proba, fit["history"], fit["search"])
        log.info("figures: %s", ", ".join(p.name for p in written))
    except Exception as err:  # noqa: BLE001 - pictures must never lose a trained model
        log.warning("figures not written: %s: %s", type(err).__name__, err)


def _accuracy(proba: np.ndarray, digits: dataset.Digits) -> float:
    # argmax of the class scores, exactly as the submission is made
    return float(np.mean(proba.argmax(axis=1) == digits.labels))


@exit_on_error
def _check_command_line() -> None:
    command_config.check_overrides(sys.argv[1:])


if __name__ == "__main__":
    _check_command_line()
    main()
