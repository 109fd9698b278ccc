"""A run's validation scheme: which models it fits on which rows, in one of three modes.

  holdout   data.holdout=f   one model on (1-f) of the rows, scored on the rest
  all rows  data.holdout=0   one model on every row, no holdout score
  k folds   data.folds=K     K models, each scored on the fold it did not see; they vote on
                             the test rows by their mean class scores
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from src.data import dataset
from src.data.dataset import Digits
from src.runs.run_dir import model_stem

HOLDOUT, ALL_ROWS, K_FOLDS = "holdout", "all rows", "k folds"


@dataclass(frozen=True)
class Split:
    stem: str  # the model's file stem in the run dir
    fit: Digits
    holdout: Digits | None
    held_rows: np.ndarray | None = None  # k folds: the labelled rows this fold holds out


@dataclass(frozen=True)
class Scheme:
    mode: str
    splits: list[Split]
    labelled: int  # rows of train.csv
    pseudo: int = 0  # pseudo-labelled test images in every model's fit rows

    def describe(self, test_rows: int) -> str:
        first = self.splits[0]
        if self.mode == K_FOLDS:
            shape = (f"{len(self.splits)}-fold cross-validation over {self.labelled} rows "
                     f"({len(first.fit)} to fit each model)")
        elif self.mode == HOLDOUT:
            shape = f"{len(first.fit)} rows to fit, {len(first.holdout)} held out"
        else:
            shape = f"{len(first.fit)} rows to fit, no holdout"
        extra = f" (with {self.pseudo} pseudo-labelled test images)" if self.pseudo else ""
        return f"{shape}{extra}, {test_rows} test rows"

    def split_record(self, data_cfg) -> dict:
        """What the run's metrics say about the split: enough to make it again."""
        record = {"mode": self.mode, "seed": data_cfg.split_seed}
        if self.mode == K_FOLDS:
            record["folds"] = len(self.splits)
        elif self.mode == HOLDOUT:
            record["holdout"] = data_cfg.holdout
        return record


def scheme(data_cfg, train_set: Digits, extra: Digits | None = None) -> Scheme:
    """The splits of train_set; `extra` labelled rows (pseudo-labels) join every model's fit
    rows, never a holdout."""
    pseudo = 0 if extra is None else len(extra)

    def fit_on(fit: Digits) -> Digits:
        return fit if extra is None else dataset.concat(fit, extra)
    if data_cfg.folds:
        held = dataset.kfold_rows(train_set, data_cfg.folds, data_cfg.split_seed)
        splits = [Split(model_stem(k), fit_on(fit), holdout, rows) for k, ((fit, holdout), rows)
                  in enumerate(zip(dataset.kfold_splits(train_set, held), held, strict=True))]
        return Scheme(K_FOLDS, splits, len(train_set), pseudo)
    fit, holdout = dataset.holdout_split(train_set, data_cfg.holdout, data_cfg.split_seed)
    return Scheme(HOLDOUT if holdout is not None else ALL_ROWS,
                  [Split(model_stem(), fit_on(fit), holdout)], len(train_set), pseudo)
