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
from src.ensembles.members import combine, members, predicted_test_set
from src.utils.errors import ConfigError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PseudoLabels:
    digits: Digits  # the chosen test images, labelled with the sources' predicted digits
    runs: list[str]
    min_confidence: float
    sources: list[dict]  # each source's metrics: its split, train images, own pseudo-labels

    def record(self, holdout_optimistic: bool) -> dict:
        """The run's metrics entry: where the labels came from, how many joined, and whether
        the run's holdout (or out-of-fold) score is optimistic for them."""
        return {"runs": self.runs, "min_confidence": self.min_confidence,
                "rows": len(self.digits), "holdout_optimistic": holdout_optimistic}

    def holdout_optimistic(self, split: dict, train_fingerprint: str) -> bool:
        """True when a source may have been fit on rows this run holds out: one fit on another
        split or other train images, itself pseudo-labelled, or, with k folds, any (each fold's
        sources saw the rows the fold holds out)."""
        if split["mode"] == "all rows":
            return False
        return split["mode"] == "k folds" or any(
            m.get("split") != split or (m.get("data") or {}).get("train") != train_fingerprint
            or "pseudo_labels" in m for m in self.sources)


def source_paths(runs) -> list[str]:
    """`data.pseudo_labels.runs` as a list: one path, a list of them, or null (none)."""
    return [runs] if isinstance(runs, str) else [str(r) for r in runs or []]


def load(data_cfg, test_set: Digits, cwd: str | Path = ".") -> PseudoLabels | None:
    """The test images whose mean predicted probability over `data_cfg.pseudo_labels.runs`
    reaches its `min_confidence`, or None when no runs are given."""
    cfg = data_cfg.pseudo_labels
    paths = source_paths(cfg.runs)
    if not paths:
        return None
    try:
        runs = members([str(Path(cwd) / p) for p in paths], top=None, at_least=1)
        predicted, here = predicted_test_set(runs), test_set.fingerprint()
        if predicted is None:
            raise ConfigError("they do not record which test set they predicted (runs of an "
                              "older src.run): give runs that do")
        if predicted != here:
            raise ConfigError(f"they predicted another test set than {data_cfg.dir}/test.csv "
                              f"(fingerprint {predicted}, the file's {here})")
    except ConfigError as err:
        raise ConfigError(f"data.pseudo_labels.runs: {err}") from None
    mean = combine([r.test_proba() for r in runs], "mean")
    chosen = np.flatnonzero(mean.max(axis=1) >= cfg.min_confidence)
    digits = Digits(test_set.pixels[chosen], mean[chosen].argmax(axis=1).astype(np.uint8))
    log.info("pseudo-labels: %d of %d test images predicted at >= %s by %d run(s)",
             len(chosen), len(test_set), cfg.min_confidence, len(runs))
    return PseudoLabels(digits, paths, cfg.min_confidence,
                        [r.metrics() for r in runs])
