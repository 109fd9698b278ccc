"""Pseudo-labels (Lee, 2013): test images that finished runs predicted confidently join every
model's fit rows, labelled with the digit those runs predicted.

The runs' mean test probabilities choose and label the images; nothing else about the test set
is read (the replica's answer key never is). Holdout and out-of-fold scores stay on train.csv's
rows, but they flatter the run when a source run was fit on the rows this one holds out: its
predictions carry what it learnt from them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from src.data.dataset import Digits
from src.runs.run_dir import RunDir
from src.utils.errors import ConfigError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PseudoLabels:
    digits: Digits  # the chosen test images, labelled with the sources' predicted digits
    runs: list[str]
    min_confidence: float
    splits: list[dict]  # each source's split record, to tell whether it saw a holdout

    def record(self) -> dict:
        """The run's metrics entry: where the labels came from and how many joined."""
        return {"runs": self.runs, "min_confidence": self.min_confidence,
                "rows": len(self.digits)}

    def warn_if_seen(self, split: dict) -> None:
        """A holdout score is optimistic when a source was fit on the rows it holds out."""
        # k folds: each fold's source models saw the rows this run's fold holds out
        if split["mode"] == "k folds" or (split["mode"] == "holdout"
                                          and any(s != split for s in self.splits)):
            log.warning("the holdout score is optimistic: a pseudo-label source was fit on "
                        "rows this run holds out (%s), so its labels carry what it learnt from "
                        "them", split)


def load(cfg, test_set: Digits, cwd: str | Path = ".") -> PseudoLabels | None:
    """The test images whose mean predicted probability over `cfg.runs` reaches
    `cfg.min_confidence`, or None when no runs are given."""
    paths = [cfg.runs] if isinstance(cfg.runs, str) else list(cfg.runs or [])
    if not paths:
        return None
    probas, splits = [], []
    for path in paths:
        run = RunDir(Path(cwd) / path)
        metrics = run.metrics() if run.is_finished() else None
        proba = run.test_proba() if metrics else None
        if proba is None:
            raise ConfigError(f"data.pseudo_labels.runs: {path} is not a finished run with test "
                              "predictions (a run dir or results/NAME)")
        if metrics.get("data", {}).get("test") != test_set.fingerprint():
            raise ConfigError(f"data.pseudo_labels.runs: {path} predicted another test set "
                              f"than {len(test_set)} rows of this data.dir")
        probas.append(proba)
        splits.append(metrics.get("split"))
    mean = np.mean(probas, axis=0)
    chosen = np.flatnonzero(mean.max(axis=1) >= cfg.min_confidence)
    digits = Digits(test_set.pixels[chosen], mean[chosen].argmax(axis=1).astype(np.uint8))
    log.info("pseudo-labels: %d of %d test images predicted at >= %s by %d run(s)",
             len(chosen), len(test_set), cfg.min_confidence, len(paths))
    return PseudoLabels(digits, [str(p) for p in paths], cfg.min_confidence, splits)
