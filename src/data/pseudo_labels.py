"""Pseudo-labels (Lee, 2013): test images that finished runs predicted confidently join every
model's fit rows, labelled with the digit those runs predicted.

The runs' mean test probabilities choose and label the images; nothing else about the test set
is read (the replica's answer key never is). Holdout and out-of-fold scores stay on train.csv's
rows, but they flatter the run when a source was fit on the rows this one holds out: its
predictions carry what it learnt from them. The run's metrics say so (`holdout_optimistic`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from src.data.dataset import Digits
from src.ensembles.members import check_test_sets, combine, members
from src.utils.errors import ConfigError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PseudoLabels:
    digits: Digits  # the chosen test images, labelled with the sources' predicted digits
    runs: list[str]
    min_confidence: float
    sources: list[dict]  # each source's metrics: its split, train images, own pseudo-labels

    def record(self, split: dict, train_fingerprint: str) -> dict:
        """The run's metrics entry: where the labels came from, how many joined, and whether
        the run's holdout (or out-of-fold) score is optimistic for them."""
        return {"runs": self.runs, "min_confidence": self.min_confidence,
                "rows": len(self.digits),
                "holdout_optimistic": self.holdout_optimistic(split, train_fingerprint)}

    def holdout_optimistic(self, split: dict, train_fingerprint: str) -> bool:
        """True when a source may have been fit on rows this run holds out: one fit on another
        split or other train images, itself pseudo-labelled, or, with k folds, any (each fold's
        sources saw the rows the fold holds out)."""
        if split["mode"] == "all rows":
            return False
        return split["mode"] == "k folds" or any(
            m.get("split") != split or (m.get("data") or {}).get("train") != train_fingerprint
            or "pseudo_labels" in m for m in self.sources)


def load(data_cfg, test_set: Digits, cwd: str | Path = ".") -> PseudoLabels | None:
    """The test images whose mean predicted probability over `data_cfg.pseudo_labels.runs`
    reaches its `min_confidence`, or None when no runs are given."""
    cfg = data_cfg.pseudo_labels
    paths = [cfg.runs] if isinstance(cfg.runs, str) else list(cfg.runs or [])
    if not paths:
        return None
    try:
        runs = members([str(Path(cwd) / p) for p in paths], top=None, at_least=1)
        if check_test_sets(runs, data_cfg) != test_set.fingerprint():
            raise ConfigError("they do not record which test set they predicted (runs of an "
                              "older src.run): give runs that do")
    except ConfigError as err:
        raise ConfigError(f"data.pseudo_labels.runs: {err}") from None
    mean = combine([r.test_proba() for r in runs], "mean")
    chosen = np.flatnonzero(mean.max(axis=1) >= cfg.min_confidence)
    digits = Digits(test_set.pixels[chosen], mean[chosen].argmax(axis=1).astype(np.uint8))
    log.info("pseudo-labels: %d of %d test images predicted at >= %s by %d run(s)",
             len(chosen), len(test_set), cfg.min_confidence, len(runs))
    return PseudoLabels(digits, [str(p) for p in paths], cfg.min_confidence,
                        [r.metrics() for r in runs])
