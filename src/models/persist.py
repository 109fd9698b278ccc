"""Save a fitted estimator in its own library's format, atomically."""

from __future__ import annotations

import os
from pathlib import Path

import joblib


def save(estimator, run_dir: Path) -> Path:
    """Write `model.keras` (Keras' native archive) or `model.joblib` (scikit-learn's)."""
    suffix = ".keras" if hasattr(estimator, "save") else ".joblib"
    final, partial = Path(run_dir) / f"model{suffix}", Path(run_dir) / f".model.partial{suffix}"
    try:
        if suffix == ".keras":
            estimator.save(partial)
        else:
            joblib.dump(estimator, partial)
        os.replace(partial, final)
    finally:
        partial.unlink(missing_ok=True)
    return final
