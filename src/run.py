"""Train one model, score it on the holdout, and write a Kaggle submission.

    python -m src.run model=cnn trainer.epochs=60
    python -m src.run model=logreg data.holdout=0      # fit on all 42,000 rows
    python -m src.run -m model=svm,cnn                 # a sweep

Everything a run makes goes into its Hydra run dir (see docs/runs.md, "Reading a run dir"), except
the submission, which goes to `submission.dir`. Returns the holdout accuracy for sweepers.
"""

from __future__ import annotations

import logging
import random
import sys
from datetime import datetime
from pathlib import Path

import hydra
import numpy as np
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from src.config import command_config
from src.config.validate import check
from src.data import dataset, pseudo_labels
from src.models import factory
from src.runs.run_dir import RunDir
from src.submissions import submission_csv
from src.sweeps import pruning
from src.tracking import mlflow_store, run_tracker
from src.training import threads, validation
from src.training.fitting import Fit, fit_split
from src.training.provenance import git_state, peak_memory_mb
from src.utils import machine
from src.utils.errors import HarnessError, exit_on_error

log = logging.getLogger(__name__)


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> float | None:
    if HydraConfig.get().mode == RunMode.MULTIRUN:
        return sweep_job(cfg)
    return exit_on_error(train)(cfg)


def sweep_job(cfg: DictConfig) -> float | None:
    """One job of a sweep: a failure is recorded in its run dir for the summary, and the
    other jobs go on."""
    try:
        return train(cfg)
    except pruning.Pruned as err:  # the search's pruner stopped it: a row, not a failure
        RunDir(HydraConfig.get().runtime.output_dir).write_failure(
            str(err), status=pruning.PRUNED, model=cfg.model.name)
        log.info("%s", err)
        return None
    except Exception as err:  # noqa: BLE001 - any failure of one job is that job's row
        if isinstance(err, HarnessError):
            line = str(err)
        else:
            line = f"{type(err).__name__}: {err}".splitlines()[0]
            log.exception("job failed")  # the traceback goes to this job's log
        RunDir(HydraConfig.get().runtime.output_dir).write_failure(line, model=cfg.model.name)
        log.error("error: %s", line)
        return None


def train(cfg: DictConfig) -> float | None:
    check(cfg)
    hydra_cfg = HydraConfig.get()
    multirun = hydra_cfg.mode == RunMode.MULTIRUN
    if not multirun:  # a sweep checked it before its first job; a job goes on untracked
        mlflow_store.check(cfg.tracking, hydra_cfg.runtime.cwd)
    cfg.threads = threads.budget(cfg.threads, hydra_cfg.launcher)
    threads.limit_math_libraries(cfg.threads)
    factory.build(cfg.model.estimator)  # refuse bad estimator settings before loading data
    run = RunDir(hydra_cfg.runtime.output_dir)
    tracker = run_tracker.start(cfg, run, hydra_cfg.runtime.cwd,
                                Path(str(hydra_cfg.sweep.dir)) if multirun else None)
    try:
        return _train(cfg, run, tracker)
    except BaseException as err:  # the tracked run ends as the run did, and the error goes on
        stopped = isinstance(err, pruning.Pruned | KeyboardInterrupt)
        tracker.end(run_tracker.KILLED if stopped else run_tracker.FAILED,
                    f"{type(err).__name__}: {err}")
        raise


def _train(cfg: DictConfig, run: RunDir, tracker: run_tracker.RunTracker) -> float | None:
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    train_set = dataset.load_train(cfg.data.dir, cfg.data.cache)
    test_set = dataset.load_test(cfg.data.dir, cfg.data.cache)
    pseudo = pseudo_labels.load(cfg.data, test_set, HydraConfig.get().runtime.cwd)
    # holdout | all rows | k folds; pseudo-labelled test images join every fit
    scheme = validation.scheme(cfg.data, train_set, pseudo.digits if pseudo else None)
    optimistic = pseudo is not None and pseudo.holdout_optimistic(
        scheme.split_record(cfg.data), train_set.fingerprint())
    if optimistic:
        log.warning("the holdout score will be optimistic: a pseudo-label source may have "
                    "been fit on rows this run holds out, and its labels carry what it learnt")
    log.info("data: %s", scheme.describe(len(test_set)))
    # the first model's epochs go to a search's trial (pruning) and to the tracker
    listeners = [tracker.epoch, *filter(None, [pruning.epoch_reporter()])]
    fits = [fit_split(cfg, split, test_set, run, listeners if i == 0 else [])
            for i, split in enumerate(scheme.splits)]

    test_proba = np.mean([f.test_proba for f in fits], axis=0)  # the K models' mean probability
    oof = _out_of_fold(scheme, fits) if scheme.mode == validation.K_FOLDS else None
    holdout_accuracy = _holdout_accuracy(scheme, fits, oof, train_set)
    run.write_test_proba(test_proba)
    run.write_config(OmegaConf.to_yaml(cfg, resolve=True))
    if scheme.mode == validation.HOLDOUT:  # for ensembles: members' agreement on the same rows
        run.write_holdout(fits[0].holdout_proba, scheme.splits[0].holdout.labels)
    if oof is not None:
        run.write_oof_proba(oof)
    sub_path = submission_csv.write(submission_csv.build(test_proba.argmax(axis=1)),
                                    cfg.submission.dir, _submission_stem(cfg, scheme,
                                                                         holdout_accuracy),
                                    len(test_set))
    metrics = _metrics(cfg, scheme, fits, oof, train_set, test_set, holdout_accuracy, sub_path)
    if pseudo:
        metrics["pseudo_labels"] = pseudo.record(optimistic)
    if cfg.figures:
        _figures(run, scheme.splits[0], fits[0], test_set, test_proba)
    run.write_metrics(metrics)
    _log_result(scheme, metrics, run, sub_path)
    tracker.finish(metrics, run, sub_path)  # after the run's own files: they never wait on it
    return holdout_accuracy


def _holdout_accuracy(scheme: validation.Scheme, fits: list[Fit], oof, train_set) -> float | None:
    """The accuracy on rows the run's models never saw: the holdout's; k folds: every labelled
    row's, each scored by the fold model that held it out (out of fold)."""
    if scheme.mode == validation.ALL_ROWS:
        return None
    if scheme.mode == validation.K_FOLDS:
        return float(np.mean(oof.argmax(axis=1) == train_set.labels))
    return fits[0].holdout_accuracy


def _out_of_fold(scheme: validation.Scheme, fits: list[Fit]) -> np.ndarray:
    oof = np.zeros((scheme.labelled, fits[0].test_proba.shape[1]), dtype=np.float32)
    for split, fit in zip(scheme.splits, fits, strict=True):
        oof[split.held_rows] = fit.holdout_proba
    return oof


def _submission_stem(cfg, scheme: validation.Scheme, holdout_accuracy: float | None) -> str:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    score = {validation.HOLDOUT: f"holdout{holdout_accuracy or 0:.5f}", validation.ALL_ROWS: "full",
             validation.K_FOLDS: f"cv{len(scheme.splits)}-{holdout_accuracy or 0:.5f}"}[scheme.mode]
    return f"{stamp}_{cfg.model.name}_{score}"


def _metrics(cfg, scheme, fits, oof, train_set, test_set, holdout_accuracy, sub_path) -> dict:
    """What the run measured, true in every mode: `rows` counts distinct labelled rows (k
    folds: every row of train.csv was fit by K-1 models and held out by one; pseudo-labelled
    test images, counted in `fit` and in `pseudo`, were fit by every model); `models` has each
    one's."""
    first = scheme.splits[0]
    if scheme.mode == validation.K_FOLDS:
        rows = {"fit": scheme.labelled + scheme.pseudo, "holdout": scheme.labelled,
                "test": len(test_set)}
    else:
        rows = {"fit": len(first.fit), "holdout": 0 if first.holdout is None
                else len(first.holdout), "test": len(test_set)}
    if scheme.pseudo:
        rows["pseudo"] = scheme.pseudo
    metrics = {
        "model": cfg.model.name,
        "holdout_accuracy": holdout_accuracy,
        "train_accuracy": float(np.mean([f.train_accuracy for f in fits])),
        "split": scheme.split_record(cfg.data),
        # which images: archived predictions join others only on the same test set
        "data": {"train": train_set.fingerprint(), "test": test_set.fingerprint()},
        "rows": rows,
        "models": [f.summary() for f in fits],
        "fit_seconds": round(sum(f.fit_seconds for f in fits), 2),
        # how busy other processes kept the machine meanwhile: fit_seconds is a speed only
        # when this says quiet
        "fit_load": machine.combine([(f.fit_load, f.fit_seconds) for f in fits]),
        "machine": machine.describe(),
        "predict_seconds": round(sum(f.predict_seconds for f in fits), 2),
        "peak_memory_mb": peak_memory_mb(),
        "threads": cfg.threads,
        "git": git_state(Path(__file__).parent),
        "overrides": list(HydraConfig.get().overrides.task),
        "submission": str(sub_path),
    }
    if scheme.mode == validation.K_FOLDS:
        fold_accuracy = [f.holdout_accuracy for f in fits]
        metrics["cv"] = {
            "folds": len(fits), "fold_accuracy": fold_accuracy,
            "mean": float(np.mean(fold_accuracy)), "std": float(np.std(fold_accuracy)),
            "oof_accuracy": holdout_accuracy,
        }
    return metrics


def _log_result(scheme, metrics: dict, run: RunDir, sub_path: Path) -> None:
    if "cv" in metrics:
        cv = metrics["cv"]
        log.info("cross-validation: fold accuracy %.5f +/- %.5f over %d folds (%s)",
                 cv["mean"], cv["std"], cv["folds"],
                 ", ".join(f"{a:.5f}" for a in cv["fold_accuracy"]))
    log.info("training accuracy %.5f (on the rows each model was fit on)",
             metrics["train_accuracy"])
    log.info("fit %.1f s (%s), predict %.1f s, peak memory %.0f MB, run dir %s",
             metrics["fit_seconds"], machine.label(metrics["fit_load"]),
             metrics["predict_seconds"], metrics["peak_memory_mb"], run)
    if scheme.mode == validation.K_FOLDS:
        log.info("submission %s  holdout accuracy %.5f (out of fold: every row, scored by the "
                 "model that held it out)", sub_path, metrics["holdout_accuracy"])
    elif scheme.mode == validation.HOLDOUT:
        log.info("submission %s  holdout accuracy %.5f", sub_path, metrics["holdout_accuracy"])
    else:
        log.info("submission %s  holdout accuracy: none (data.holdout=0, fit on all rows)",
                 sub_path)


def _figures(run: RunDir, split: validation.Split, fit: Fit, test_set, test_proba) -> None:
    """The run's pictures (src/views/figures.py); a figure that fails costs a warning, not
    the run."""
    try:
        from src.views import figures

        written = figures.for_run(run, split.fit, split.holdout, fit.holdout_proba, test_set,
                                  test_proba, fit.records.get("history"),
                                  fit.records.get("search"))
        log.info("figures: %s", ", ".join(p.name for p in written))
    except Exception as err:  # noqa: BLE001 - pictures must never lose a trained model
        log.warning("figures not written: %s: %s", type(err).__name__, err)


@exit_on_error
def _check_command_line() -> None:
    command_config.check_overrides(sys.argv[1:])


def cli() -> None:
    """`python -m src.run <overrides>`: the command line checked, then Hydra's main (both
    read sys.argv)."""
    _check_command_line()
    main()


if __name__ == "__main__":
    cli()
