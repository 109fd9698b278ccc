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
