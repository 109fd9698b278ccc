"""What the runner needs from a model beyond scikit-learn's estimator API, declared.

Every model here is a scikit-learn classifier (fit, predict_proba, predict, score, get_params,
clone). What `src.run` needs beyond that, a model declares by inheriting `RunnerModel` and
overriding what applies to it; a plain scikit-learn estimator (the logistic regression
pipeline) needs none of it and gets the defaults through the functions below. Nothing is found
out by probing attributes or signatures.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import joblib

JOBLIB = ".joblib"  # scikit-learn's own format: the default for every estimator
KERAS = ".keras"  # KerasClassifier's files; spelled here so loading needs no TensorFlow


class RunnerModel:
    """Mixin: put it left of scikit-learn's mixins and BaseEstimator."""

    file_suffix = JOBLIB  # the model's own format; `save` writes it and `persist.load` reads it
    takes_validation_data = False  # fit(X, y, validation_data=(X, y)): per-epoch holdout scores
    has_test_time_augmentation = False

    def training_records(self) -> dict[str, dict]:
        """JSON records of the fit for the run dir: {"history": ...} or {"search": ...}."""
        return {}

    def compute_record(self) -> dict | None:
        """Where the last fit computed (dtype policy, device strategy, replicas), for the
        run's metrics; None: nothing to say (scikit-learn models run on the CPU)."""
        return None

    def log_to(self, directory: Path) -> None:
        """Where the fit's own logs (TensorBoard) go; most models keep none."""

    def listen_to_epochs(self, listener: Callable[[int, dict], None]) -> None:
        """Call `listener(epoch, logs)` after each epoch of the next fit (a search's pruning);
        a model without epochs never calls it."""

    def set_test_time_augmentation(self, on: bool) -> None:
        raise TypeError(f"{type(self).__name__} has no test-time augmentation")

    def save(self, path: Path) -> None:
        joblib.dump(self, path)


def declared(estimator) -> RunnerModel:
    """The estimator's declarations: its own, or the defaults of a plain scikit-learn one."""
    return estimator if isinstance(estimator, RunnerModel) else _PLAIN


def fit(estimator, X, y, validation_data=None):
    """Fit, handing over the holdout only to a model that declared it takes one."""
    if validation_data is not None and declared(estimator).takes_validation_data:
        return estimator.fit(X, y, validation_data=validation_data)
    return estimator.fit(X, y)


def save(estimator, path: Path) -> None:
    if isinstance(estimator, RunnerModel):
        estimator.save(path)
    else:
        joblib.dump(estimator, path)


_PLAIN = RunnerModel()
