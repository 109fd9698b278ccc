"""Ensemble selection (Caruana, Niculescu-Mizil, Crew and Ksikes, ICML 2004): greedy forward
selection with replacement from a library of models, on predictions for rows none of them
trained on (a shared holdout, or out-of-fold scores).

Each round adds the member whose addition makes the running average most accurate (ties: the
lower log loss), the same member as often as it helps; a member's weight is how often it was
added. Selecting with replacement keeps the ensemble from overfitting the selection rows as
plain greedy selection does once the good models are used up.
"""

from __future__ import annotations

import numpy as np

EPS = 1e-7  # keeps log loss finite on a probability rounded to 0


def forward_selection(probas: list[np.ndarray], labels: np.ndarray, rounds: int) -> np.ndarray:
    """Weights (summing to 1) over `probas` (each (rows, classes)) after `rounds` additions."""
    if rounds < 1:
        raise ValueError(f"rounds={rounds}: at least one member must be added")
    stack = np.stack([np.asarray(p, dtype=np.float64) for p in probas])
    rows = np.arange(len(labels))
    counts = np.zeros(len(probas), dtype=np.int64)
    total = np.zeros_like(stack[0])
    for added in range(1, rounds + 1):
        candidates = (total[None] + stack) / added  # the average with each member added
        accuracy = (candidates.argmax(axis=2) == labels[None]).mean(axis=1)
        log_loss = -np.log(candidates[:, rows, labels] + EPS).mean(axis=1)
        best = np.lexsort((log_loss, -accuracy))[0]  # most accurate, then lowest log loss
        counts[best] += 1
        total += stack[best]
    return counts / counts.sum()
