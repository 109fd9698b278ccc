"""Pseudo-labels: which test images join the fit rows and with which labels, the run that
trains on them, and the one-line refusals."""

import json

import numpy as np
from omegaconf import OmegaConf

from src.config import command_config
from src.data import dataset, pseudo_labels
from src.runs.recipe import recipe_hash
from src.utils.errors import ConfigError
from tests.helpers import one_line_error, train
from tests.test_results_archive import fake_run


def _cfg(runs, min_confidence=0.5):
    return OmegaConf.create({"runs": runs, "min_confidence": min_confidence})


def test_confident_test_images_join_with_the_sources_mean_prediction(tiny_data, tmp_path):
    test = dataset.load_test(tiny_data, cache=False)
    (a, pa, _), (b, pb, _) = (fake_run(tmp_path / "a", tiny_data, seed=1),
                              fake_run(tmp_path / "b", tiny_data, seed=2))
    # images both runs call a clear 7 and 3, and one they split 50/50 between 1 and 2
    for run, proba in ((a, pa), (b, pb)):
        proba[:3] = 0
        proba[0, 7] = proba[1, 3] = 1
        proba[2, 1 if run is a else 2] = 1
        run.write_test_proba(proba)
    mean = (pa + pb) / 2
    got = pseudo_labels.load(_cfg([str(a), str(b)]), test)
    chosen = np.flatnonzero(mean.max(axis=1) >= 0.5)
    assert 0 in chosen and 1 in chosen and 2 in chosen  # 0.5 reaches min_confidence 0.5
    np.testing.assert_array_equal(got.digits.pixels, test.pixels[chosen])
    np.testing.assert_array_equal(got.digits.labels, mean[chosen].argmax(axis=1))
    assert list(got.digits.labels[:2]) == [7, 3]
    stricter = pseudo_labels.load(_cfg([str(a), str(b)], 0.9), test)
    # the split image drops out at 0.9
    np.testing.assert_array_equal(stricter.digits.pixels,
                                  test.pixels[np.flatnonzero(mean.max(axis=1) >= 0.9)])
    assert len(stricter.digits) < len(got.digits)
    assert stricter.record() == {"runs": [str(a), str(b)], "min_confidence": 0.9,
                                 "rows": len(stricter.digits)}
    assert pseudo_labels.load(_cfg(None), test) is None


def test_a_source_that_cannot_label_this_test_set_is_refused(tiny_data, tmp_path):
    test = dataset.load_test(tiny_data, cache=False)
    other, _, _ = fake_run(tmp_path / "other", tiny_data, test_fingerprint="0" * 16)
    for runs, says in (([str(tmp_path / "nowhere")], "is not a finished run"),
                       ([str(other)], "predicted another test set")):
        try:
            pseudo_labels.load(_cfg(runs), test)
        except ConfigError as err:
            assert says in str(err) and "data.pseudo_labels.runs" in str(err)
        else:
            raise AssertionError(f"{runs} was accepted")


def test_a_run_fits_on_its_rows_and_the_pseudo_labelled_ones(tiny_data, tmp_path):
    first = train(tiny_data, tmp_path / "first", "model=logreg", "data.holdout=0",
                  "figures=false", in_process=True)
    assert first.returncode == 0, first.stderr[-2000:]
    source = tmp_path / "first" / "run"
    second = train(tiny_data, tmp_path / "second", "model=logreg", "figures=false",
                   f"data.pseudo_labels.runs=[{source}]", "data.pseudo_labels.min_confidence=0.6",
                   in_process=True)
    assert second.returncode == 0, second.stderr[-2000:]
    metrics = json.loads((tmp_path / "second" / "run" / "metrics.json").read_text())
    confident = int((np.load(source / "test_proba.npy").max(axis=1) >= 0.6).sum())
    assert confident > 0 and metrics["pseudo_labels"] == {
        "runs": [str(source)], "min_confidence": 0.6, "rows": confident}
    # 270 of the 300 train.csv rows (10% held out) and the confident test images; the holdout
    # is train.csv's alone, and the source saw it: the score is flagged as optimistic
    assert metrics["rows"]["fit"] == 270 + confident and metrics["rows"]["holdout"] == 30
    assert "the holdout score is optimistic" in second.stderr + second.stdout
    bad = train(tiny_data, tmp_path / "bad", "model=logreg", f"data.pseudo_labels.runs=[{source}]",
                "data.pseudo_labels.min_confidence=1.5", in_process=True)
    assert bad.returncode != 0 and "data.pseudo_labels.min_confidence=1.5" in one_line_error(bad)


def test_pseudo_labels_are_part_of_the_recipe_and_absent_ones_leave_it_as_it_was():
    def config(*overrides):
        return OmegaConf.to_container(command_config.load(["model=cnn", *overrides]))
    plain = config()
    assert recipe_hash(plain) == recipe_hash({**plain, "data": {
        k: v for k, v in plain["data"].items() if k != "pseudo_labels"}})
    labelled = config("data.pseudo_labels.runs=[results/a]")
    assert recipe_hash(labelled) != recipe_hash(plain)
    assert recipe_hash(config("data.pseudo_labels.runs=[results/a]",
                              "data.pseudo_labels.min_confidence=0.9")) != recipe_hash(labelled)
