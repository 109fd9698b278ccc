"""Save a fitted estimator in its own library's format, atomically, and load a run's models."""

from __future__ import annotations

import os
from pathlib import Path

import joblib

from src.models import contract
from src.runs.run_dir import RunDir

SUFFIXES = (contract.KERAS, contract.JOBLIB)


def save(estimator, run: RunDir | Path, stem: str) -> Path:
    """Write the model as `<stem><suffix>`, the suffix of its declared format."""
    run = RunDir(run)
    suffix = contract.declared(estimator).file_suffix
    final = run.model_path(stem, suffix)
    partial = final.with_name(f".{stem}.partial{suffix}")  # Keras insists on the suffix
    try:
        contract.save(estimator, partial)
        os.replace(partial, final)
    finally:
        partial.unlink(missing_ok=True)
    return final


def load(run: RunDir | Path, config: dict) -> list:
    """The fitted estimators a run saved (one, or one per fold), ready to predict_proba.
    A Keras model comes back inside a KerasClassifier with the run's trainer settings and its
    deskew (`config`: the run's resolved config; a run from before deskew existed did not)."""
    run = RunDir(run)
    estimators = []
    for path in run.model_files(SUFFIXES):
        if path.suffix == contract.JOBLIB:
            estimators.append(joblib.load(path))
        else:
            from src.models.keras_classifier import KerasClassifier  # TensorFlow only when needed

            estimators.append(KerasClassifier.from_saved(path, config["trainer"],
                                                         config.get("deskew", False)))
    return estimators
