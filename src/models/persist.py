"""Save a fitted estimator in its own library's format, atomically."""

from __future__ import annotations

import os
from pathlib import Path

import joblib


def save(estimator, run_dir: Path, name: str = "model") -> Path:
    """Write `<name>.keras` (Keras' native archive) or `<name>.joblib` (scikit-learn's)."""
    suffix = ".keras" if hasattr(estimator, "save") else ".joblib"
    final, partial = Path(run_dir) / f"{name}{suffix}", Path(run_dir) / f".{name}.partial{suffix}"
    try:
        if suffix == ".keras":
            estimator.save(partial)
        else:
            joblib.dump(estimator, partial)
        os.replace(partial, final)
    finally:
        partial.unlink(missing_ok=True)
    return final


def load(run_dir: Path, trainer: dict) -> list:
    """The fitted estimators a run saved (one, or one per fold), ready to predict_proba.
    A Keras model comes back inside a KerasClassifier with the run's trainer settings."""
    paths = sorted(Path(run_dir).glob("model*.keras")) + sorted(Path(run_dir).glob("model*.joblib"))
    estimators = []
    for path in paths:
        if path.suffix == ".joblib":
            estimators.append(joblib.load(path))
        else:
            from src.models.keras_classifier import KerasClassifier  # TensorFlow only when needed

            estimators.append(KerasClassifier.from_saved(path, trainer))
    return estimators
