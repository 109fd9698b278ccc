"""Fit one fresh model on one split of the validation scheme, predict what the run needs,
save the model."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from src.data.dataset import Digits
from src.models import contract, factory, persist
from src.runs.run_dir import RunDir
from src.training.validation import Split
from src.utils.machine import LoadMeter

log = logging.getLogger(__name__)


@dataclass
class Fit:
    split: Split
    train_accuracy: float
    test_proba: np.ndarray
    fit_seconds: float
    predict_seconds: float
    holdout_proba: np.ndarray | None = None
    holdout_accuracy: float | None = None
    model_file: str = ""  # the saved model's file name in the run dir
    records: dict[str, dict] = field(default_factory=dict)  # history, search
    compute: dict | None = None  # Keras: dtype policy, device strategy, replicas
    fit_load: dict | None = None  # other processes' CPU during the fit (src/utils/machine.py)

    @property
    def epochs(self) -> int | None:
        """Epochs a Keras model trained (a budget or early stopping may cut them)."""
        history = self.records.get("history")
        return len(history["seconds"]) if history and "seconds" in history else None

    def summary(self) -> dict:
        """This model's entry in the run's metrics."""
        summary = {"model_file": self.model_file, "fit_rows": len(self.split.fit),
                   "holdout_rows": 0 if self.split.holdout is None else len(self.split.holdout),
                   "train_accuracy": self.train_accuracy,
                   "holdout_accuracy": self.holdout_accuracy,
                   "epochs": self.epochs,
                   "fit_seconds": round(self.fit_seconds, 2),
                   "fit_load": self.fit_load,
                   "predict_seconds": round(self.predict_seconds, 2)}
        if self.compute is not None:
            summary["compute"] = self.compute
        return summary


def fit_split(cfg, split: Split, test_set: Digits, run: RunDir,
              epoch_listeners: list[Callable[[int, dict], None]] = ()) -> Fit:
    estimator = factory.build(cfg.model.estimator)
    contract.declared(estimator).log_to(run.tensorboard_dir(split.stem))
    for listener in epoch_listeners:
        contract.declared(estimator).listen_to_epochs(listener)
    validation = None if split.holdout is None else (split.holdout.pixels, split.holdout.labels)
    log.info("fit: %s on %d rows: %s", cfg.model.name, len(split.fit), estimator)
    with LoadMeter() as meter:
        contract.fit(estimator, split.fit.pixels, split.fit.labels, validation)
    fit_seconds = meter.seconds

    train_accuracy = accuracy(estimator.predict_proba(split.fit.pixels), split.fit)
    holdout_proba = holdout_accuracy = None
    if split.holdout is not None:
        holdout_proba = estimator.predict_proba(split.holdout.pixels)
        holdout_accuracy = accuracy(holdout_proba, split.holdout)
    start = time.perf_counter()
    test_proba = estimator.predict_proba(test_set.pixels)
    predict_seconds = time.perf_counter() - start
    saved = persist.save(estimator, run, split.stem)
    records = contract.declared(estimator).training_records()
    for kind, record in records.items():
        run.write_record(kind, split.stem, record)
    return Fit(split, train_accuracy, test_proba, fit_seconds, predict_seconds, holdout_proba,
               holdout_accuracy, saved.name, records,
               contract.declared(estimator).compute_record(), meter.record())


def accuracy(proba: np.ndarray, digits: Digits) -> float:
    # argmax of the class scores, exactly as the submission is made
    return float(np.mean(proba.argmax(axis=1) == digits.labels))
