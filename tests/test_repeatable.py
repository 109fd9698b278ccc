"""`seed=N` makes a run repeatable on CPU: the same seed gives bit-identical test
probabilities (and so the same holdout accuracy) for logreg and nn; another seed does not."""

import json

import numpy as np
import pytest

from tests.helpers import call_main


@pytest.mark.parametrize("model, extra, seeded", [
    ("logreg", [], False),  # lbfgs draws nothing at random: every seed gives one model
    ("nn", ["trainer.epochs=2"], True),
])
def test_same_seed_same_result_another_seed_another_network(model, extra, seeded, tiny_data,
                                                             tmp_path):
    # one multirun, its jobs one after another in one process: a job's seed must give the
    # same network whatever ran before it
    seeds = "3,3,4" if seeded else "3,3"
    result = call_main("src.run", "-m", f"model={model}", *extra, f"seed={seeds}",
                       "trainer.verbose=0", "figures=false", f"data.dir={tiny_data}",
                       f"hydra.sweep.dir={tmp_path / 's'}", f"submission.dir={tmp_path / 'subs'}")
    assert result.returncode == 0, result.stderr[-2000:]
    jobs = sorted((tmp_path / "s").glob(f"*_{model}"), key=lambda p: int(p.name.split("_")[0]))
    metrics = [json.loads((job / "metrics.json").read_text()) for job in jobs]
    assert [[o for o in m["overrides"] if o.startswith("seed=")] for m in metrics] == [
        [f"seed={s}"] for s in seeds.split(",")]
    accuracy = [m["holdout_accuracy"] for m in metrics]
    proba = [np.load(job / "test_proba.npy") for job in jobs]
    assert accuracy[0] == accuracy[1]
    np.testing.assert_array_equal(proba[0], proba[1])
    if seeded:
        assert not np.array_equal(proba[0], proba[2])
