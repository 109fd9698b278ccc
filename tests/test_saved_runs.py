"""Saved runs are enough to predict again (src.predict) and to ensemble (src.ensemble), through
the real command lines on tiny data."""

import json

import numpy as np
import pandas as pd
import pytest

from tests.helpers import call_main, make_data_dir, one_line_error, run_module, train


@pytest.fixture(scope="module")
def runs(tiny_data, tmp_path_factory):
    """Two logreg runs (other seeds, other regularisation) and an nn run on deskewed digits
    (its saved config tells predict to deskew too), same holdout."""
    out = tmp_path_factory.mktemp("runs")
    made = []
    for name, overrides in (("a", ["model=logreg", "model.estimator.C=0.001"]),
                            ("b", ["model=logreg", "seed=2"]),
                            ("c", ["model=nn", "trainer.epochs=3", "deskew=true"])):
        result = train(tiny_data, out / name, *overrides, "figures=false", in_process=True)
        assert result.returncode == 0, result.stderr[-2000:]
        made.append(out / name / "run")
    return made


def read_labels(path):
    return pd.read_csv(path)["Label"].to_numpy()


@pytest.mark.parametrize("which", [0, 2])  # scikit-learn and Keras models
def test_predict_from_a_saved_run_matches_the_run(runs, tmp_path, which):
    run = runs[which]
    result = run_module("src.predict", f"run={run}", f"submission.dir={tmp_path}")
    assert result.returncode == 0, result.stderr[-2000:]
    (written,) = tmp_path.glob("*_predict.csv")
    original = json.loads((run / "metrics.json").read_text())["submission"]
    assert np.array_equal(read_labels(written), read_labels(original))
    assert "100.00%" in result.stdout and "no retraining" in result.stdout


def test_predict_any_test_csv(runs, tmp_path):
    other = make_data_dir(tmp_path / "other", n_train=20, n_test=37)
    result = run_module("src.predict", f"run={runs[1]}", f"data.dir={other}",
                        f"submission.dir={tmp_path / 'subs'}")
    assert result.returncode == 0, result.stderr[-2000:]
    (written,) = (tmp_path / "subs").glob("*.csv")
    assert len(read_labels(written)) == 37


def test_predict_refuses_a_dir_that_is_not_a_run(tmp_path):
    assert "not a finished run dir" in one_line_error(run_module("src.predict",
                                                                 f"run={tmp_path}"))
    assert "give run=DIR" in one_line_error(run_module("src.predict"))


def test_ensemble_averages_members_and_reports_agreement(runs, tiny_data, tmp_path):
    result = run_module("src.ensemble", "runs=" + ",".join(map(str, runs)),
                        f"submission.dir={tmp_path / 'subs'}", f"out_dir={tmp_path / 'ens'}")
    assert result.returncode == 0, result.stderr[-2000:]
    mean = np.mean([np.load(r / "test_proba.npy") for r in runs], axis=0)
    (written,) = (tmp_path / "subs").glob("*_ensemble3-mean_*.csv")
    assert np.array_equal(read_labels(written), mean.argmax(axis=1))
    record = json.loads((tmp_path / "ens" / "metrics.json").read_text())
    holdout = record["holdout"]
    assert sorted(holdout["members"]) == sorted(map(str, runs)) and len(holdout["agreement"]) == 3
    for run in runs:  # each member's holdout accuracy is the one its run reported
        own = json.loads((run / "metrics.json").read_text())["holdout_accuracy"]
        assert holdout["members"][str(run)] == pytest.approx(own)
    held = [np.load(r / "holdout.npz") for r in runs]
    expected = np.mean(np.mean([h["proba"] for h in held], axis=0).argmax(axis=1)
                       == held[0]["labels"])
    assert holdout["ensemble"] == pytest.approx(expected) and holdout["rows"] == 30
    assert "members agree on" in result.stdout
    # tiny_data is a replica: the ensemble is scored on its answer key, as make score would
    key = read_labels(tiny_data.parent / "answer_key" / "key.csv")
    assert record["test_accuracy"] == pytest.approx(np.mean(mean.argmax(axis=1) == key))
    assert f"test accuracy {record['test_accuracy']:.5f} on the replica's answer key" \
        in result.stdout


def test_ensemble_vote_and_top_n_of_a_sweep(tiny_data, tmp_path):
    # a learning rate of 1e-9 leaves the network at its random start: clearly the worst
    sweep = call_main("src.run", "-m", "model=nn", "trainer.epochs=3",
                       "trainer.lr=1e-9,1e-3,3e-3", "trainer.verbose=0", "figures=false",
                       f"data.dir={tiny_data}", f"hydra.sweep.dir={tmp_path / 'sweep'}",
                       f"submission.dir={tmp_path / 'subs'}")
    assert sweep.returncode == 0, sweep.stderr[-2000:]
    result = run_module("src.ensemble", f"runs={tmp_path / 'sweep'}", "top=2", "method=vote",
                        f"submission.dir={tmp_path / 'ens_subs'}", f"out_dir={tmp_path / 'e'}")
    assert result.returncode == 0, result.stderr[-2000:]
    record = json.loads((tmp_path / "e" / "metrics.json").read_text())
    accuracy = {p.parent.name: json.loads(p.read_text())["holdout_accuracy"]
                for p in (tmp_path / "sweep").glob("*/metrics.json")}
    chosen = [accuracy[p.split("/")[-1]] for p in record["members"]]
    assert sorted(chosen) == sorted(accuracy.values())[1:]
    assert "0_nn" not in " ".join(record["members"]) and accuracy["0_nn"] < min(chosen)
    assert record["model"] == "ensemble-vote"


def test_vote_follows_the_majority_where_the_mean_follows_confidence():
    from src.ensembles.members import combine

    sure_one = np.array([[0.01, 0.99]])
    barely_zero = np.array([[0.51, 0.49]])
    members = [barely_zero, barely_zero, sure_one]
    assert combine(members, "mean").argmax() == 1
    assert combine(members, "vote").argmax() == 0
    tie = [np.array([[0.6, 0.4]]), np.array([[0.3, 0.7]])]  # one vote each: the mean decides
    assert combine(tie, "vote").argmax() == 1


def test_ensemble_refuses_bad_members(runs, tmp_path):
    # the command's own exit and line once; the other refusals in this process
    assert "at least 2 members" in one_line_error(
        run_module("src.ensemble", f"runs={runs[0]}"))
    assert "neither a finished run" in one_line_error(
        call_main("src.ensemble", f"runs={runs[0]},{tmp_path}"))
    assert "method=avg is not one of" in one_line_error(
        call_main("src.ensemble", f"runs={runs[0]},{runs[1]}", "method=avg"))
    assert "top=abc is out of range" in one_line_error(
        call_main("src.ensemble", f"runs={runs[0]},{runs[1]}", "top=abc"))
