"""Multirun summaries (a failed job is a row, not the end of the sweep), src.summarize on any
sweep dir, k-fold cross-validation, and the seed_table experiment."""

import csv
import json
import os
import shutil
import sys

import joblib
import numpy as np
import pytest
from hydra import compose, initialize_config_dir

from src.config import command_config
from src.utils import machine
from tests.helpers import call_main, one_line_error, run_module


def sweep(tiny_data, tmp_path, *overrides, in_process=True):
    """A multirun on tiny data; in this process (call_main) unless a test proves the command
    line's own exit."""
    run = call_main if in_process else run_module
    return run("src.run", "-m", f"data.dir={tiny_data}", "trainer.verbose=0",
                      f"hydra.sweep.dir={tmp_path / 'sweep'}",
                      f"submission.dir={tmp_path / 'subs'}", *overrides)


def read_summary(sweep_dir):
    with open(sweep_dir / "summary.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def test_a_failed_job_is_a_row_and_the_others_finish(tiny_data, tmp_path):
    # holdout 0.01 of 300 rows cannot hold one row per class: that job fails when it runs
    result = sweep(tiny_data, tmp_path, "model=logreg", "data.holdout=0.01,0.1,0.2")
    assert result.returncode == 1
    assert "1 of 3 jobs failed" in result.stderr
    rows = read_summary(tmp_path / "sweep")
    assert [r["status"] for r in rows] == ["ok", "ok", "failed"]
    ok, failed = [r for r in rows if r["status"] == "ok"], rows[-1]
    assert len(ok) == 2 and all(float(r["holdout_accuracy"]) > 0.5 for r in ok)
    assert failed["status"] == "failed" and "cannot split 300 rows" in failed["error"]
    assert failed["data.holdout"] == "0.01" and failed["holdout_accuracy"] == ""
    assert (tmp_path / "sweep" / "summary.md").read_text().startswith("| job |")
    assert "sweep summary" in result.stdout and "cannot split" in result.stdout
    assert len(list((tmp_path / "subs").glob("*.csv"))) == 2


def test_summary_is_sorted_best_first(tiny_data, tmp_path):
    # a learning rate of 1e-9 leaves the network at its random start: far worse
    # run in this order, the worse job first: the summary must turn them round
    result = sweep(tiny_data, tmp_path, "model=nn", "trainer.epochs=2",
                   "trainer.lr=1e-9,1e-3")
    assert result.returncode == 0, result.stderr[-2000:]
    rows = read_summary(tmp_path / "sweep")
    accuracies = [float(r["holdout_accuracy"]) for r in rows]
    assert [r["trainer.lr"] for r in rows] == ["0.001", "1e-09"]
    assert accuracies[0] > accuracies[1]


def test_summarize_rebuilds_any_sweep_dir(tiny_data, tmp_path):
    assert sweep(tiny_data, tmp_path, "model=logreg", "seed=1,2").returncode == 0
    sweep_dir = tmp_path / "sweep"
    before = (sweep_dir / "summary.csv").read_text()
    (sweep_dir / "summary.csv").unlink()
    # a job that has not finished (or whose node died) is a row too
    unfinished = sweep_dir / "9_logreg"
    shutil.copytree(sweep_dir / "0_logreg" / ".hydra", unfinished / ".hydra")
    result = run_module("src.summarize", str(sweep_dir))
    assert result.returncode == 0, result.stderr
    rows = read_summary(sweep_dir)
    assert [r["status"] for r in rows] == ["ok", "ok", "running"]
    shutil.rmtree(unfinished)
    run_module("src.summarize", str(sweep_dir))
    assert (sweep_dir / "summary.csv").read_text() == before


def test_summarize_refuses_a_dir_that_is_not_a_sweep(tmp_path):
    assert "holds no sweep jobs" in one_line_error(run_module("src.summarize", str(tmp_path)))


def test_kfold_trains_k_models_and_averages_them(tiny_data, tmp_path):
    run_dir = tmp_path / "run"
    result = call_main("src.run", "model=logreg", "data.folds=3", "data.holdout=0",
                       f"data.dir={tiny_data}", f"hydra.run.dir={run_dir}",
                       f"submission.dir={tmp_path / 'subs'}")
    assert result.returncode == 0, result.stderr
    metrics = json.loads((run_dir / "metrics.json").read_text())
    cv = metrics["cv"]
    assert cv["folds"] == 3 and len(cv["fold_accuracy"]) == 3
    assert cv["mean"] == pytest.approx(np.mean(cv["fold_accuracy"]))
    assert cv["std"] == pytest.approx(np.std(cv["fold_accuracy"]))
    # the run's holdout accuracy is out of fold: every row, scored by the model that held it out
    assert metrics["holdout_accuracy"] == cv["oof_accuracy"]
    # the metrics tell every fold's story, not fold 0's: each row fit by 2 models, held by 1
    assert metrics["split"] == {"mode": "k folds", "folds": 3, "seed": 42}
    assert metrics["rows"] == {"fit": 300, "holdout": 300, "test": 120}
    models = metrics["models"]
    assert [m["model_file"] for m in models] == [f"model_fold{k}.joblib" for k in range(3)]
    assert [m["holdout_accuracy"] for m in models] == cv["fold_accuracy"]
    assert sum(m["holdout_rows"] for m in models) == 300
    assert all(m["fit_rows"] + m["holdout_rows"] == 300 for m in models)
    oof = np.load(run_dir / "oof_proba.npy")
    assert oof.shape == (300, 10) and (oof.sum(axis=1) > 0.99).all()  # every row predicted once

    from src.data import dataset

    test = dataset.load_test(tiny_data)
    models = [joblib.load(run_dir / f"model_fold{k}.joblib") for k in range(3)]
    expected = np.mean([m.predict_proba(test.pixels) for m in models], axis=0)
    np.testing.assert_allclose(np.load(run_dir / "test_proba.npy"), expected, rtol=1e-5)
    oof_labels = np.load(run_dir / "oof_proba.npy").argmax(axis=1)
    assert cv["oof_accuracy"] == pytest.approx(np.mean(oof_labels == dataset.load_train(
        tiny_data).labels))
    assert metrics["submission"].endswith(f"_logreg_cv3-{cv['oof_accuracy']:.5f}.csv")
    assert "holdout accuracy" in result.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize("overrides, words", [
    (["data.folds=3"], ["data.folds=3 and data.holdout=0.1 together"]),
    (["data.folds=1", "data.holdout=0"], ["data.folds=1", ">= 2"]),
])
def test_bad_fold_settings_are_one_line(tiny_data, tmp_path, overrides, words):
    result = call_main("src.run", "model=logreg", f"data.dir={tiny_data}", *overrides)
    message = one_line_error(result)
    for word in words:
        assert word in message


def test_seed_table_sweeps_the_seed_models():
    with initialize_config_dir(str(command_config.CONF_DIR), version_base="1.3"):
        cfg = compose("config", overrides=["experiment=seed_table"], return_hydra_config=True)
    assert str(cfg.hydra.mode) == "RunMode.MULTIRUN"
    assert cfg.hydra.sweeper.params.model == "svm,logreg,nn,lenet"
    assert cfg.data.holdout == 0.1


def test_joblib_launcher_runs_jobs_in_parallel_with_a_thread_budget(tiny_data, tmp_path):
    result = sweep(tiny_data, tmp_path, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2",
                   "model=logreg", "seed=1,2,3")
    assert result.returncode == 0, result.stderr[-2000:]
    rows = read_summary(tmp_path / "sweep")
    assert [r["status"] for r in rows] == ["ok"] * 3
    budgets = {json.loads((tmp_path / "sweep" / r["job"] / "metrics.json").read_text())["threads"]
               for r in rows}
    assert budgets == {max(1, len(machine.usable_cores()) // 2)}


@pytest.mark.parametrize("setting, launcher, expected", [
    ("auto", {"_target_": "hydra._internal.core_plugins.basic_launcher.BasicLauncher"}, "cores"),
    ("auto", {"_target_": "x.joblib_launcher.JoblibLauncher", "n_jobs": 2}, "cores//2"),
    ("auto", {"_target_": "x.joblib_launcher.JoblibLauncher", "n_jobs": -1}, 1),
    ("auto", {"_target_": "x.joblib_launcher.JoblibLauncher", "n_jobs": 1000}, 1),
    (3, {"_target_": "x.joblib_launcher.JoblibLauncher", "n_jobs": 2}, 3),
])
def test_thread_budget_rule(setting, launcher, expected):
    from src.training import threads

    cores = len(machine.usable_cores())
    want = {"cores": cores, "cores//2": max(1, cores // 2)}.get(expected, expected)
    assert threads.budget(setting, launcher) == want


def test_the_thread_budget_counts_the_cores_this_process_may_use(monkeypatch):
    from src.training import threads

    basic = {"_target_": "hydra._internal.core_plugins.basic_launcher.BasicLauncher"}
    monkeypatch.delenv("SLURM_CPUS_PER_TASK", raising=False)  # not a Slurm job, first
    monkeypatch.setattr(machine, "usable_cores", lambda: {5})  # e.g. under `taskset -c 5`
    assert threads.budget("auto", basic) == 1
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "4")  # Slurm's word wins
    assert threads.budget("auto", basic) == 4


def test_bad_thread_setting_is_refused(tiny_data):
    result = call_main("src.run", "model=logreg", f"data.dir={tiny_data}", "threads=0")
    assert "threads=0" in one_line_error(result)


def test_unknown_launcher_is_one_line(tiny_data, tmp_path):
    message = one_line_error(sweep(tiny_data, tmp_path, "hydra/launcher=nonesuch",
                                   "model=logreg", in_process=False))
    assert "nonesuch" in message and "joblib" in message  # it lists the ones there are
    assert not (tmp_path / "sweep").exists()


def test_slurm_without_sbatch_is_one_line(tiny_data, tmp_path):
    no_slurm = {"PATH": os.path.dirname(sys.executable) + ":/usr/bin/nonexistent"}
    result = run_module("src.run", "-m", "hydra/launcher=slurm", f"data.dir={tiny_data}",
                        "model=logreg", f"hydra.sweep.dir={tmp_path / 'sweep'}", env=no_slurm)
    assert "needs Slurm's sbatch" in one_line_error(result)
    assert not (tmp_path / "sweep").exists()


@pytest.mark.heavy
def test_cnn_ensemble_trains_its_seeds_and_averages_them_in_one_command(tiny_data, tmp_path):
    result = call_main("src.run", "experiment=cnn_ensemble", f"data.dir={tiny_data}",
                       "trainer.verbose=0", "trainer.epochs=1", "figures=false",
                       "model.estimator.net.filters=[8]",  # a narrow CNN
                       "seed=1,2", f"hydra.sweep.dir={tmp_path / 'sweep'}",
                       f"submission.dir={tmp_path / 'subs'}")
    assert result.returncode == 0, result.stderr[-3000:]
    rows = read_summary(tmp_path / "sweep")
    assert sorted(r["seed"] for r in rows) == ["1", "2"]
    ensemble = json.loads((tmp_path / "sweep" / "ensemble" / "metrics.json").read_text())
    assert len(ensemble["members"]) == 2 and ensemble["holdout_accuracy"] is None  # all rows
    members = [np.load(f"{m}/test_proba.npy") for m in ensemble["members"]]
    average = np.load(tmp_path / "sweep" / "ensemble" / "test_proba.npy")
    np.testing.assert_array_equal(average.argmax(axis=1),
                                  np.mean(members, axis=0).argmax(axis=1))
    assert len(list((tmp_path / "subs").glob("*ensemble2-mean_full.csv"))) == 1
    # the ensemble inside the sweep dir is not taken for a member when it is averaged again
    again = run_module("src.ensemble", f"runs={tmp_path / 'sweep'}",
                       f"out_dir={tmp_path / 'again'}", f"submission.dir={tmp_path / 'subs'}")
    assert again.returncode == 0, again.stderr[-2000:]
    assert json.loads((tmp_path / "again" / "metrics.json").read_text())["members"] == \
        ensemble["members"]
