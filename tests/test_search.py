"""Resumable Optuna search (hparams_search=...): a stopped search goes on with the same study,
counts toward its total, never reuses a finished trial's dir, and ends with the best settings
as an experiment file. A sweep dir holding a different sweep is refused in one line."""

import csv
import json
import os
import shutil

import optuna
import pytest
import yaml
from hydra import compose, initialize_config_dir

from src.config import command_config
from src.config.command_config import CONF_DIR
from src.sweeps import study_settings
from src.utils import file_lock
from src.utils.errors import HarnessError
from tests.helpers import call_main, one_line_error, run_module


def search_args(tiny_data, tmp_path, n_trials, *overrides, name="svm_optuna"):
    return [f"hparams_search={name}", f"data.dir={tiny_data}",
            f"submission.dir={tmp_path / 'subs'}", f"hydra.sweep.dir={tmp_path / 's'}",
            f"hydra.sweeper.n_trials={n_trials}",
            f"hydra.sweeper.experiment_dir={tmp_path / 'conf' / 'experiment'}", *overrides]


def search(tiny_data, tmp_path, n_trials, *overrides, name="svm_optuna"):
    """The search in this process (call_main): its trials' logs and exit code, no start-up."""
    return call_main("src.run", *search_args(tiny_data, tmp_path, n_trials, *overrides,
                                             name=name))


def study(tmp_path, name="svm_optuna"):
    return optuna.load_study(study_name=name, storage=f"sqlite:///{tmp_path / 's' / 'optuna.db'}")


def job_dirs(tmp_path):
    return sorted(p.name for p in (tmp_path / "s").iterdir() if (p / ".hydra").is_dir())


@pytest.mark.heavy
def test_a_stopped_search_resumes_toward_its_total(tiny_data, tmp_path):
    first = search(tiny_data, tmp_path, 2)
    assert first.returncode == 0, first.stderr[-3000:]
    assert [t.number for t in study(tmp_path).trials] == [0, 1]
    finished = {d: (tmp_path / "s" / d / "metrics.json").read_bytes() for d in job_dirs(tmp_path)}

    # a stop in the middle of a trial leaves it RUNNING in the study, with a half-made dir
    cut_off = study(tmp_path).ask()
    shutil.copytree(tmp_path / "s" / "1_svm" / ".hydra", tmp_path / "s" / "2_svm" / ".hydra")
    assert cut_off.number == 2

    second = search(tiny_data, tmp_path, 4)  # the total: two more finished trials
    assert second.returncode == 0, second.stderr[-3000:]  # cut off: a row, not a failure
    states = [(t.number, t.state.name) for t in study(tmp_path).trials]
    assert states == [(0, "COMPLETE"), (1, "COMPLETE"), (2, "FAIL"), (3, "COMPLETE"),
                      (4, "COMPLETE")]
    assert job_dirs(tmp_path) == ["0_svm", "1_svm", "2_svm", "3_svm", "4_svm"]
    for name, metrics in finished.items():  # earlier trials' dirs are untouched
        assert (tmp_path / "s" / name / "metrics.json").read_bytes() == metrics
    assert "interrupted" in (tmp_path / "s" / "2_svm" / "failed.json").read_text()
    with open(tmp_path / "s" / "summary.csv", newline="") as fh:
        status = {row["job"]: row["status"] for row in csv.DictReader(fh)}
    assert status == {"0_svm": "ok", "1_svm": "ok", "2_svm": "interrupted", "3_svm": "ok",
                      "4_svm": "ok"}

    # a stop after a trial's job finished but before the study heard: its result is kept
    late = study(tmp_path).ask()
    shutil.copytree(tmp_path / "s" / "4_svm", tmp_path / "s" / f"{late.number}_svm")
    third = search(tiny_data, tmp_path, 5)
    assert third.returncode == 0, third.stderr[-3000:]
    assert study(tmp_path).trials[late.number].state.name == "COMPLETE"
    assert len(study(tmp_path).trials) == 6

    third = search(tiny_data, tmp_path, 5)  # the total is reached: nothing more to run
    assert third.returncode == 0, third.stderr[-3000:]
    assert len(study(tmp_path).trials) == 6
    assert "5 of 5 trials done, 0 to run" in third.stdout + third.stderr


def test_the_best_trial_becomes_an_experiment_file(tiny_data, tmp_path):
    result = search(tiny_data, tmp_path, 3)
    assert result.returncode == 0, result.stderr[-3000:]
    best = study(tmp_path).best_trial
    path = tmp_path / "conf" / "experiment" / "best_svm_optuna.yaml"
    text = path.read_text()
    assert f"trial {best.number}" in text and f"{best.number}_svm" in text
    assert "experiment=best_svm_optuna data.holdout=0" in result.stdout
    assert str(path) in result.stdout
    # the file composes onto the project's config and reproduces the best trial's settings
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose("config", overrides=[f"hydra.searchpath=[file://{tmp_path / 'conf'}]",
                                           "experiment=best_svm_optuna"])
    assert cfg.model.name == "svm"
    assert best.params["model.estimator.C"] == cfg.model.estimator.C
    assert "data" not in yaml.safe_load(text)  # where the search ran is not a setting


def test_a_sweep_dir_of_another_sweep_is_refused(tiny_data, tmp_path):
    assert search(tiny_data, tmp_path, 1).returncode == 0
    before = sorted(p.name for p in (tmp_path / "s").iterdir())
    other = search(tiny_data, tmp_path, 2, "model.estimator.n_iter=3")
    line = one_line_error(other)
    assert "holds a different sweep" in line and "+model.estimator.n_iter=3" in line
    basic = run_module("src.run", "-m", "model=logreg", "seed=1,2", f"data.dir={tiny_data}",
                       f"hydra.sweep.dir={tmp_path / 's'}")
    assert "holds a different sweep" in one_line_error(basic)
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == before
    assert len(study(tmp_path).trials) == 1


def test_a_dir_of_an_unrecorded_sweep_is_refused(tiny_data, tmp_path):
    (tmp_path / "s" / "0_cnn" / ".hydra").mkdir(parents=True)
    assert "unrecorded sweep" in one_line_error(search(tiny_data, tmp_path, 1))
    assert not (tmp_path / "s" / "optuna.db").exists()


def test_a_search_without_a_holdout_is_refused(tiny_data, tmp_path):
    line = one_line_error(search(tiny_data, tmp_path, 2, "data.holdout=0"))
    assert "maximises holdout accuracy" in line and not (tmp_path / "s").exists()


def test_the_search_presets_compose():
    for name, key in (("cnn_optuna", "trainer.lr"), ("svm_optuna", "model.estimator.C")):
        with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
            cfg = compose("config", overrides=[f"hparams_search={name}"],
                          return_hydra_config=True)
        sweeper = cfg.hydra.sweeper
        assert key in sweeper.params and sweeper.direction == "maximize"
        assert name in cfg.hydra.sweep.dir and sweeper.storage is None  # the sweep dir's db
        assert study_settings.storage_url(sweeper, "multirun/x", "/w") == \
            "sqlite:////w/multirun/x/optuna.db"
        assert sweeper.n_trials >= 10 and sweeper.max_failure_rate == 1.0
        study_settings.sampler(sweeper), study_settings.pruner(sweeper)  # both build
    assert cfg.hydra.sweeper.pruner == "none"  # the SVM has no epochs to prune on


NO_SLURM = shutil.which("sbatch") is None or not os.environ.get("SLURM_CONF")
LAUNCHERS = [
    pytest.param([], id="basic"),  # trials in this process
    pytest.param(["hydra/launcher=joblib"], id="joblib"),  # in a worker process
    pytest.param(["hydra/launcher=slurm", "hydra.launcher.mem_gb=1",
                  "hydra.launcher.cpus_per_task=1", "hydra.launcher.timeout_min=10"],
                 id="slurm", marks=[pytest.mark.slurm, pytest.mark.skipif(
                     NO_SLURM, reason="no Slurm here: run `make test-slurm`")]),
]


@pytest.mark.heavy
@pytest.mark.parametrize("launcher", LAUNCHERS)
def test_a_cnn_search_prunes_a_hopeless_trial(tiny_data, tmp_path, launcher):
    """Each epoch's holdout accuracy reaches the trial through the study's storage, wherever
    the launcher runs the job."""
    (tmp_path / "s").mkdir()
    queued = optuna.create_study(study_name="cnn_optuna", direction="maximize",
                                 storage=f"sqlite:///{tmp_path / 's' / 'optuna.db'}")
    queued.enqueue_trial({"trainer.lr": 3e-3})  # learns
    queued.enqueue_trial({"trainer.lr": 1e-7})  # cannot learn in a few epochs
    # one narrow block: the pruning path is the same, at a tenth of the default's compute
    prune_early = ["trainer.epochs=3", "trainer.verbose=0", "model.estimator.net.filters=[8]",
                   "hydra.sweeper.pruners.median.n_startup_trials=1",
                   "hydra.sweeper.pruners.median.n_warmup_steps=0", *launcher]
    result = search(tiny_data, tmp_path, 2, *prune_early, name="cnn_optuna")
    assert result.returncode == 0, result.stderr[-3000:]  # a pruned trial is not a failure
    learnt, hopeless = study(tmp_path, "cnn_optuna").trials
    assert learnt.state.name == "COMPLETE" and len(learnt.intermediate_values) == 3
    assert hopeless.state.name == "PRUNED" and len(hopeless.intermediate_values) < 3
    assert hopeless.params["trainer.lr"] == 1e-7
    failed = (tmp_path / "s" / "1_cnn" / "failed.json").read_text()
    assert "pruned after epoch" in failed and not (tmp_path / "s" / "1_cnn" /
                                                   "metrics.json").exists()
    with open(tmp_path / "s" / "summary.csv", newline="") as fh:
        status = {row["job"]: row["status"] for row in csv.DictReader(fh)}
    assert status == {"0_cnn": "ok", "1_cnn": "pruned"}
    again = search(tiny_data, tmp_path, 2, *prune_early, name="cnn_optuna")
    assert "2 of 2 trials done, 0 to run" in again.stdout + again.stderr  # pruned ones count


def test_trials_run_side_by_side_with_joblib(tiny_data, tmp_path):
    result = search(tiny_data, tmp_path, 2, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2",
                    "hydra.sweeper.n_jobs=2")
    assert result.returncode == 0, result.stderr[-3000:]
    assert [t.state.name for t in study(tmp_path).trials] == ["COMPLETE", "COMPLETE"]
    assert job_dirs(tmp_path) == ["0_svm", "1_svm"]
    assert (tmp_path / "conf" / "experiment" / "best_svm_optuna.yaml").is_file()


def test_a_trial_that_ended_before_the_sweeper_heard_keeps_its_outcome(tiny_data, tmp_path):
    assert search(tiny_data, tmp_path, 1).returncode == 0
    for status in ("pruned", "failed"):  # the job wrote its ending, then the sweeper died
        trial = study(tmp_path).ask()
        job = tmp_path / "s" / f"{trial.number}_svm"
        shutil.copytree(tmp_path / "s" / "0_svm" / ".hydra", job / ".hydra")
        (job / "failed.json").write_text(json.dumps({"status": status, "error": "x"}))
    result = search(tiny_data, tmp_path, 3)  # both ended trials count: nothing more to run
    assert "1 of 3 jobs failed" in result.stderr and result.returncode == 1  # as any failure
    assert [t.state.name for t in study(tmp_path).trials] == ["COMPLETE", "PRUNED", "FAIL"]
    assert "3 of 3 trials done, 0 to run" in result.stdout + result.stderr


def test_a_second_search_in_the_same_sweep_dir_is_refused(tiny_data, tmp_path):
    with file_lock.exclusive(tmp_path / "s" / study_settings.LOCK, "a search"):
        line = one_line_error(search(tiny_data, tmp_path, 1))
    assert "is already running" in line and "pid" in line
    assert not (tmp_path / "s" / "optuna.db").exists()


def test_bad_search_settings_are_refused_before_any_trial(tiny_data, tmp_path):
    # src.run's pre-flight check, in this process (test_a_search_without_a_holdout_is_refused
    # proves the command's own exit and line)
    for override, words in (("hydra.sweeper.sampler=bogus", "unknown sampler 'bogus'"),
                            ("hydra.sweeper.pruner=bogus", "unknown pruner 'bogus'"),
                            ("+hydra.sweeper.pruners.median.bogus=1", "its options:"),
                            ("model.estimator.C=interval(1.0,0.5)", "low <= high"),
                            (f"hydra.sweeper.storage=sqlite:///{tmp_path / 'no' / 'x.db'}",
                             "does not exist")):
        with pytest.raises(HarnessError) as refused:
            command_config.check_overrides(search_args(tiny_data, tmp_path, 1, override,
                                                       name="cnn_optuna"))
        line = str(refused.value)
        assert words in line and "\n" not in line, line


def test_a_study_of_another_search_space_is_refused(tiny_data, tmp_path):
    assert search(tiny_data, tmp_path, 1).returncode == 0
    db = tmp_path / "s" / "optuna.db"
    before = db.read_bytes()
    other = search(tiny_data, tmp_path, 1, f"hydra.sweep.dir={tmp_path / 'other'}",
                   "hydra.sweeper.study_name=svm_optuna", f"hydra.sweeper.storage=sqlite:///{db}",
                   name="cnn_optuna")
    line = one_line_error(other)
    assert "was made for another search space" in line and "trainer.lr" in line, line
    assert db.read_bytes() == before and not (tmp_path / "other").exists()
