"""Build the estimator a config names, and refuse bad settings before any data is read."""

from __future__ import annotations

from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig
from sklearn.base import BaseEstimator
from sklearn.pipeline import Pipeline

from src.utils.errors import ConfigError


def build(estimator_cfg: DictConfig):
    try:
        estimator = instantiate(estimator_cfg, _convert_="all")
    except InstantiationException as err:
        # Hydra's message: "Error in call to target '...':\nTypeError(...)\nfull_key: ..."
        lines = [line.strip() for line in str(err).splitlines() if line.strip()]
        raise ConfigError(f"model.estimator: {' '.join(lines[:2])}") from None
    steps = [s for _, s in estimator.steps] if isinstance(estimator, Pipeline) else [estimator]
    for step in steps:
        if isinstance(step, BaseEstimator):  # scikit-learn's own parameter constraints
            try:
                step._validate_params()
            except (ValueError, TypeError) as err:
                raise ConfigError(f"model.estimator: {err}") from None
    return estimator
