"""The seed's linear SVM: C chosen by randomized k-fold search, then refit on every row.

Two solvers for the same model (a linear SVM, hinge loss, one-vs-one over the 45 digit
pairs): `svc` is the seed's SVC(kernel="linear") (libsvm, about 40 s a fit on 30,000 rows
here); `liblinear` is OneVsOneClassifier(LinearSVC(loss="hinge")), the same problem solved in
the primal-dual coordinate descent of liblinear, about 2 s a fit (docs/benchmarks.md).
"""

from __future__ import annotations

import logging
import time
import warnings
from numbers import Integral, Real

import numpy as np
from scipy.stats import loguniform
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import RandomizedSearchCV
from sklearn.multiclass import OneVsOneClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, Normalizer
from sklearn.svm import SVC, LinearSVC
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions

from src.models.classic import pixel_scaler
from src.models.contract import RunnerModel
from src.models.deskew import deskew

log = logging.getLogger(__name__)


SOLVERS = ("liblinear", "svc")
FEATURES = ("unit", "sqrt_l2")


def sqrt_pixels(pixels: np.ndarray) -> np.ndarray:
    return np.sqrt(np.asarray(pixels, dtype=np.float32) / 255.0)


def linear_svc(C: float = 1.0, solver: str = "liblinear", features: str = "unit") -> Pipeline:
    """unit: pixels / 255. sqrt_l2: square roots of those, each image scaled to unit length
    (a stroke's intensity matters less than its place; measured +0.1..0.4% here)."""
    if features == "unit":
        steps = [("scale", pixel_scaler())]
    else:
        steps = [("sqrt", FunctionTransformer(sqrt_pixels)), ("l2", Normalizer())]
    if solver == "svc":
        svm = SVC(kernel="linear", C=C)
    else:
        svm = OneVsOneClassifier(LinearSVC(C=C, loss="hinge", dual=True, max_iter=5000))
    return Pipeline([*steps, ("svc", svm)])


class LinearSVMSearch(RunnerModel, ClassifierMixin, BaseEstimator):
    """`SVC(kernel="linear")` whose C is drawn log-uniformly from [C_low, C_high] `n_iter`
    times and scored by `cv`-fold stratified cross-validation on `search_rows` sampled rows
    (None: all of them); the best C is then refit on every row.

    A given `C` skips the search: one fit (an outer search, such as hparams_search=svm_optuna,
    chooses it).

    Searching a sample keeps the seed's meaning (a linear SVM, C by k-fold CV over the same
    range) at a fraction of its cost: a linear SVC's fit time grows faster than its row count.
    """

    _parameter_constraints = {
        "C": [Interval(Real, 0, None, closed="neither"), None],
        "solver": [StrOptions(set(SOLVERS))],
        "features": [StrOptions(set(FEATURES))],
        "C_low": [Interval(Real, 0, None, closed="neither")],
        "C_high": [Interval(Real, 0, None, closed="neither")],
        "n_iter": [Interval(Integral, 1, None, closed="left")],
        "cv": [Interval(Integral, 2, None, closed="left")],
        "search_rows": [Interval(Integral, 2, None, closed="left"), None],
        "n_jobs": [Integral, None],
        "seed": ["random_state"],
        "deskew": ["boolean"],
    }

    def __init__(self, C=None, solver="liblinear", features="sqrt_l2", C_low=2**-7, C_high=2**6,
                 n_iter=8, cv=5, search_rows=10000, n_jobs=1, seed=0, deskew=False):
        self.C = C
        self.solver = solver
        self.features = features
        self.C_low = C_low
        self.C_high = C_high
        self.n_iter = n_iter
        self.cv = cv
        self.search_rows = search_rows
        self.n_jobs = n_jobs
        self.seed = seed
        self.deskew = deskew

    def _validate_params(self):
        super()._validate_params()
        if self.C_low >= self.C_high:
            raise ValueError(f"C_low={self.C_low} must be below C_high={self.C_high}")

    def _pixels(self, X):
        # once here rather than as a pipeline step, which the C search would redo every fold
        return deskew(X) if self.deskew else X

    def fit(self, X, y):
        self._validate_params()
        X = self._pixels(X)
        if self.C is not None:
            self.best_C_ = float(self.C)
            self.search_ = None
            log.info("svm: C=%.4g given, no search; fitting on %d rows", self.C, len(y))
            return self._refit(X, y)
        rng = check_random_state(self.seed)
        rows = np.arange(len(y))
        if self.search_rows is not None and self.search_rows < len(y):
            rows = np.sort(rng.choice(len(y), size=self.search_rows, replace=False))
        search = RandomizedSearchCV(
            linear_svc(solver=self.solver, features=self.features),
            {self._c_param(): loguniform(self.C_low, self.C_high)},
            n_iter=self.n_iter,
            cv=self.cv,
            refit=False,
            n_jobs=self.n_jobs,
            random_state=rng,
            verbose=1,
        )
        log.info("svm: %d-fold search over C in [%g, %g], %d draws, on %d rows",
                 self.cv, self.C_low, self.C_high, self.n_iter, len(rows))
        start = time.perf_counter()
        with warnings.catch_warnings():  # liblinear at the top of the C range hits max_iter
            warnings.simplefilter("ignore", ConvergenceWarning)
            search.fit(X[rows], y[rows])
        self.search_seconds_ = time.perf_counter() - start
        self.cv_results_ = search.cv_results_
        self.search_ = {"C": [float(c) for c in search.cv_results_[f"param_{self._c_param()}"]],
                        "cv_accuracy": [float(a) for a in search.cv_results_["mean_test_score"]],
                        "cv": self.cv, "rows": len(rows),
                        "best_C": float(search.best_params_[self._c_param()])}
        self.best_C_ = float(search.best_params_[self._c_param()])
        log.info("svm: best C=%.4g (cv accuracy %.4f) in %.0f s; refitting on %d rows",
                 self.best_C_, search.best_score_, self.search_seconds_, len(y))
        return self._refit(X, y)

    def training_records(self) -> dict[str, dict]:
        return {"search": self.search_} if self.search_ else {}

    def _c_param(self) -> str:
        return "svc__C" if self.solver == "svc" else "svc__estimator__C"

    def _refit(self, X, y):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            self.model_ = linear_svc(self.best_C_, self.solver, self.features).fit(X, y)
        self.classes_ = self.model_.classes_
        return self

    def decision_function(self, X):
        return self.model_.decision_function(self._pixels(X))

    def predict(self, X):
        return self.model_.predict(self._pixels(X))

    def predict_proba(self, X):
        """Softmax of the one-vs-rest decision values: scores for ranking and ensembling,
        not calibrated probabilities (SVC(probability=True) would cost a 5-fold refit)."""
        scores = self.decision_function(X)
        scores = np.exp(scores - scores.max(axis=1, keepdims=True))
        return scores / scores.sum(axis=1, keepdims=True)
