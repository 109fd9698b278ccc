"""`seed=N` makes a run repeatable on CPU: the same seed gives bit-identical test
probabilities (and so the same holdout accuracy) for logreg and nn; another seed does not."""

import json

import numpy as np
import pytest

from tests.helpers import train


def run(tiny_data, out, *overrides):
    result = train(tiny_data, out, *overrides)
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = json.loads((out / "run" / "metrics.json").read_text())
    return metrics["holdout_accuracy"], np.load(out / "run" / "test_proba.npy")


@pytest.mark.parametrize("model, extra, seeded", [
    ("logreg", [], False),  # lbfgs draws nothing at random: every seed gives one model
    ("nn", ["trainer.epochs=2"], True),
])
def test_same_seed_same_result_another_seed_another_network(model, extra, seeded, tiny_data,
                                                             tmp_path):
    args = (f"model={model}", *extra)
    acc_a, proba_a = run(tiny_data, tmp_path / "a", *args, "seed=3")
    acc_b, proba_b = run(tiny_data, tmp_path / "b", *args, "seed=3")
    assert acc_a == acc_b
    np.testing.assert_array_equal(proba_a, proba_b)
    if seeded:
        _, proba_c = run(tiny_data, tmp_path / "c", *args, "seed=4")
        assert not np.array_equal(proba_a, proba_c)
