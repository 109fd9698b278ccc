"""Save a fitted estimator in its own library's format."""

from __future__ import annotations

from pathlib import Path

import joblib


def save(estimator, run_dir: Path) -> Path:
    if hasattr(estimator, "save"):  # Keras: the native .keras archive
        return estimator.save(run_dir)
    path = Path(run_dir) / "model.joblib"
    joblib.dump(estimator, path)
    return path
