"""Pseudo-labels: which test images join the fit rows and with which labels, the runs that
train on them (holdout, all rows, k folds), whether their holdout scores are optimistic, the
recipe hash, and the one-line refusals."""

import json

import numpy as np
from omegaconf import OmegaConf

from src.config import command_config
from src.data import dataset, pseudo_labels
from src.runs import archive
from src.runs.recipe import recipe_hash
from src.utils.errors import ConfigError
from tests.helpers import call_main, one_line_error, train
from tests.test_results_archive import fake_run


def _data(data_dir, runs, min_confidence=0.5):
    return OmegaConf.create({"dir": str(data_dir), "cache": False, "pseudo_labels": {
        "runs": runs, "min_confidence": min_confidence}})


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
    got = pseudo_labels.load(_data(tiny_data, [str(a), str(b)]), test)
    chosen = np.flatnonzero(mean.max(axis=1) >= 0.5)
    assert {0, 1, 2} <= set(chosen)  # 0.5 reaches min_confidence 0.5
    np.testing.assert_array_equal(got.digits.pixels, test.pixels[chosen])
    np.testing.assert_array_equal(got.digits.labels, mean[chosen].argmax(axis=1))
    assert list(got.digits.labels[:2]) == [7, 3]
    # the split image drops out at 0.9
    stricter = pseudo_labels.load(_data(tiny_data, [str(a), str(b)], 0.9), test)
    np.testing.assert_array_equal(stricter.digits.pixels,
                                  test.pixels[np.flatnonzero(mean.max(axis=1) >= 0.9)])
    assert len(stricter.digits) < len(got.digits)
    assert pseudo_labels.load(_data(tiny_data, None), test) is None
    # an archived source (float16 predictions) labels the same images as its run dir
    kept = archive.archive(a, tmp_path / "results", "a", max_bytes=1_000_000)
    from_run, from_archive = (pseudo_labels.load(_data(tiny_data, str(source), 0.6), test)
                              for source in (a, kept))
    np.testing.assert_array_equal(from_archive.digits.pixels, from_run.digits.pixels)
    np.testing.assert_array_equal(from_archive.digits.labels, from_run.digits.labels)


def test_a_source_that_cannot_label_this_test_set_is_refused(tiny_data, tmp_path):
    test = dataset.load_test(tiny_data, cache=False)
    other, _, _ = fake_run(tmp_path / "other", tiny_data, test_fingerprint="0" * 16)
    for runs, says in (([str(tmp_path / "nowhere")], "is neither a finished run"),
                       ([str(other)], "predicted another test set")):
        try:
            pseudo_labels.load(_data(tiny_data, runs), test)
        except ConfigError as err:
            assert says in str(err) and str(err).startswith("data.pseudo_labels.runs: ")
        else:
            raise AssertionError(f"{runs} was accepted")


def _metrics(run_dir):
    return json.loads((run_dir / "metrics.json").read_text())


def test_runs_fit_on_their_rows_and_the_pseudo_labelled_ones(tiny_data, tmp_path):
    """Holdout, all rows and k folds: every model fits on its train.csv rows and the confident
    test images; the holdout score is flagged when a source may have seen the holdout."""
    sources = {}
    for name, holdout in (("all", "0"), ("same", "0.1")):
        first = train(tiny_data, tmp_path / name, "model=logreg", f"data.holdout={holdout}",
                      "figures=false", in_process=True)
        assert first.returncode == 0, first.stderr[-2000:]
        sources[name] = tmp_path / name / "run"
    confident = int((np.load(sources["all"] / "test_proba.npy").max(axis=1) >= 0.6).sum())
    assert confident > 0
    # the path relative to the directory the command runs in, as a user types it
    seen = call_main("src.run", f"data.dir={tiny_data}", "model=logreg", "figures=false",
                     "hydra.run.dir=seen/run", "submission.dir=subs",
                     "data.pseudo_labels.runs=[all/run]", "data.pseudo_labels.min_confidence=0.6",
                     cwd=tmp_path)
    assert seen.returncode == 0, seen.stderr[-2000:]
    metrics = _metrics(tmp_path / "seen" / "run")
    assert metrics["pseudo_labels"] == {"runs": ["all/run"], "min_confidence": 0.6,
                                        "rows": confident, "holdout_optimistic": True}
    # 270 of the 300 train.csv rows (10% held out) and the confident test images; the holdout
    # is train.csv's alone
    assert metrics["rows"] == {"fit": 270 + confident, "holdout": 30, "test": 120,
                               "pseudo": confident}
    assert "the holdout score will be optimistic" in seen.stderr + seen.stdout
    # a source that held out the same rows of the same train.csv leaves the score honest
    same = train(tiny_data, tmp_path / "honest", "model=logreg", "figures=false",
                 f"data.pseudo_labels.runs=[{sources['same']}]", in_process=True)
    assert same.returncode == 0, same.stderr[-2000:]
    assert not _metrics(tmp_path / "honest" / "run")["pseudo_labels"]["holdout_optimistic"]
    assert "optimistic" not in same.stderr + same.stdout
    folds = train(tiny_data, tmp_path / "folds", "model=logreg", "figures=false",
                  "data.holdout=0", "data.folds=3", f"data.pseudo_labels.runs=[{sources['all']}]",
                  "data.pseudo_labels.min_confidence=0.6", in_process=True)
    assert folds.returncode == 0, folds.stderr[-2000:]
    metrics = _metrics(tmp_path / "folds" / "run")
    assert [m["fit_rows"] for m in metrics["models"]] == [200 + confident] * 3
    assert metrics["rows"]["fit"] == 300 + confident and metrics["rows"]["holdout"] == 300
    assert metrics["pseudo_labels"]["holdout_optimistic"]


def test_bad_pseudo_label_settings_get_one_line_before_any_training(tiny_data, tmp_path):
    for override, says in (("data.pseudo_labels.runs=5", "data.pseudo_labels.runs=5 is not a "
                                                          "list of run dirs"),
                           ("data.pseudo_labels.min_confidence=1.0", "min_confidence=1.0"),
                           ("data.pseudo_labels.runs=[nowhere]", "data.pseudo_labels.runs: ")):
        extra = () if "runs=" in override else ("data.pseudo_labels.runs=[nowhere]",)
        bad = train(tiny_data, tmp_path / "bad", "model=logreg", override, *extra,
                    in_process=True)
        assert bad.returncode != 0 and says in one_line_error(bad), override
        assert not (tmp_path / "bad" / "run" / "metrics.json").exists()


def test_pseudo_labels_are_part_of_the_recipe_and_absent_ones_leave_it_as_it_was():
    def config(*overrides):
        return OmegaConf.to_container(command_config.load(["model=cnn", *overrides]))
    plain = config()
    assert recipe_hash(plain) == recipe_hash({**plain, "data": {
        k: v for k, v in plain["data"].items() if k != "pseudo_labels"}})
    labelled = config("data.pseudo_labels.runs=[results/a,results/b]")
    assert recipe_hash(labelled) != recipe_hash(plain)
    # the same sources however they are spelt
    assert recipe_hash(config("data.pseudo_labels.runs=[./results/b,results/a]")) == \
        recipe_hash(labelled)
    assert recipe_hash(config("data.pseudo_labels.runs=[results/a]")) != recipe_hash(labelled)
    assert recipe_hash(config("data.pseudo_labels.runs=[results/a,results/b]",
                              "data.pseudo_labels.min_confidence=0.95")) != recipe_hash(labelled)
