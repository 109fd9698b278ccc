"""scikit-learn models on raw (or deskewed) pixels."""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from src.models.deskew import deskew as deskew_pixels


def scale_pixels(pixels: np.ndarray) -> np.ndarray:
    """uint8 0..255 to float32 0..1 (module level so fitted pipelines pickle)."""
    return np.asarray(pixels, dtype=np.float32) / 255.0


def pixel_scaler() -> FunctionTransformer:
    return FunctionTransformer(scale_pixels)


def logistic_regression(C: float = 0.1, max_iter: int = 300, seed: int = 0,
                        deskew: bool = False) -> Pipeline:
    steps = [("deskew", FunctionTransformer(deskew_pixels))] if deskew else []
    return Pipeline(steps + [
        ("scale", pixel_scaler()),
        ("logreg", LogisticRegression(C=C, max_iter=max_iter, random_state=seed, verbose=0)),
    ])
