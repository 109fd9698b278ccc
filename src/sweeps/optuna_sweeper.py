"""Hyperparameter search that survives being stopped: Hydra's Optuna sweeper, resumable.

    python -m src.run hparams_search=cnn_optuna                       # 20 trials, or the rest
    python -m src.run hparams_search=svm_optuna hydra.sweeper.n_trials=30

The study lives in SQLite in a stable sweep dir (multirun/search/<study_name>). Run the same
command again after a stop and it goes on with the same study. Hydra's sweeper alone resumes
badly (facebookresearch/hydra#3328): job numbering restarts at 0, overwriting earlier trials'
dirs, and `n_trials` adds trials rather than counting toward a total. Here:
  - `n_trials` is the study's total: trials that finished in earlier invocations count;
  - a job dir is named by its trial number, so no finished trial's dir is ever reused;
  - a trial cut off by the stop is marked failed (its dir says so) and not counted.
When the search ends, the best trial's settings become `conf/experiment/best_<study>.yaml`,
printed with the command that trains them on all rows.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import optuna
from hydra_plugins.hydra_optuna_sweeper._impl import OptunaSweeperImpl
from omegaconf import OmegaConf
from optuna.trial import TrialState

from src.config.command_config import CONF_DIR
from src.runs.run_dir import RunDir
from src.utils.atomic_io import write_text

log = logging.getLogger(__name__)

ENDED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
INTERRUPTED = "interrupted"  # user attribute of a trial cut off by a stop
# Overrides that say where or how verbosely a trial ran, not what it trained.
NOT_SETTINGS = ("hparams_search", "experiment", "data.dir", "submission.dir", "trainer.verbose",
                "threads")


class ResumableOptunaSweeperImpl(OptunaSweeperImpl):
    def __init__(self, experiment_dir: str | None = None, **optuna_settings: Any) -> None:
        super().__init__(**optuna_settings)
        self.experiment_dir = Path(experiment_dir) if experiment_dir else CONF_DIR / "experiment"
        self.total_trials = self.n_trials

    def sweep(self, arguments: list[str]) -> None:
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)  # SQLite needs the folder before Hydra's jobs
        study = optuna.create_study(study_name=self.study_name, storage=self.storage,
                                    directions=self._get_directions(), load_if_exists=True)
        _close_interrupted(study, sweep_dir)
        if study.trials:  # a seeded sampler would start over and propose the same points again
            self.sampler.reseed_rng()
        done = sum(t.state in ENDED and not t.user_attrs.get(INTERRUPTED) for t in study.trials)
        self.n_trials = max(self.total_trials - done, 0)
        self.job_idx = len(study.trials)  # the next trial's number: job dir = trial number
        log.info("study %s: %d of %d trials done, %d to run", self.study_name, done,
                 self.total_trials, self.n_trials)
        super().sweep(arguments)
        study = optuna.load_study(study_name=self.study_name, storage=self.storage)
        if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            log.error("study %s has no completed trial yet: no best settings to write",
                      self.study_name)
            return
        self._write_experiment(study.best_trial, sweep_dir)

    def _write_experiment(self, best: optuna.trial.FrozenTrial, sweep_dir: Path) -> None:
        # the model comes from the search's config (hparams_search picks it), unless searched
        settings = {"model": self.config.hydra.runtime.choices.model, **best.user_attrs,
                    **best.params}
        settings.pop(INTERRUPTED, None)
        run_dir = _trial_dir(sweep_dir, best.number)
        name = f"best_{self.study_name}"
        path = self.experiment_dir / f"{name}.yaml"
        write_text(path, experiment_yaml(settings, self.study_name, best.number, best.value,
                                         run_dir))
        command = f"python -m src.run experiment={name} data.holdout=0"
        if self.experiment_dir.resolve() != (CONF_DIR / "experiment").resolve():
            # Hydra finds experiment files in <config dir>/experiment/ only
            command = (command.replace("src.run", f"src.run --config-dir "
                                       f"{self.experiment_dir.parent}")
                       if self.experiment_dir.name == "experiment" else
                       f"{command} (after copying {path.name} into conf/experiment/)")
        print(f"\nbest trial {best.number}: holdout accuracy {best.value:.5f} ({run_dir})\n"
              f"its settings: {path}\ntrain them on all rows: {command}", flush=True)


def experiment_yaml(settings: dict, study: str, number: int, value: float,
                    run_dir: RunDir | None) -> str:
    """An experiment file that composes the trial's settings onto the defaults: config
    groups (model=cnn) as defaults-list overrides, everything else as values."""
    groups, values = [], []
    for key, value_ in sorted(settings.items()):
        if key in NOT_SETTINGS or key.startswith("hydra"):
            continue
        if (CONF_DIR / key).is_dir():
            groups.append({f"override /{key}": str(value_)})
        else:  # YAML spelling, so that null, true and numbers keep their types
            values.append(f"{key}={'null' if value_ is None else value_}")
    body = OmegaConf.to_container(OmegaConf.from_dotlist(values))
    if groups:
        body = {"defaults": groups, **body}
    header = (f"# @package _global_\n"
              f"# Best trial of Optuna study {study}: trial {number}, holdout accuracy "
              f"{value:.5f}\n# run dir: {run_dir or 'not found'}\n"
              "# Written by the search (src/sweeps/optuna_sweeper.py); rerunning it rewrites "
              "this file.\n")
    return header + OmegaConf.to_yaml(body)


def _close_interrupted(study: optuna.Study, sweep_dir: Path) -> None:
    """A trial still RUNNING when a new invocation starts was cut off by a stop. If its job
    had written its metrics, the study just missed the result: record it. Otherwise mark it
    failed, and say so in its dir, so neither Optuna nor the summary waits for it."""
    storage = study._storage  # optuna 2.10 offers no public way to end another run's trial
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        job_dir = _trial_dir(sweep_dir, trial.number)
        accuracy = _holdout_accuracy(job_dir)
        own_error = job_dir is not None and job_dir.has_failed()
        if accuracy is not None:
            storage.set_trial_values(trial._trial_id, [accuracy])
            storage.set_trial_state(trial._trial_id, TrialState.COMPLETE)
            log.info("trial %d had finished before the stop: result recorded", trial.number)
            continue
        storage.set_trial_user_attr(trial._trial_id, INTERRUPTED, True)
        storage.set_trial_state(trial._trial_id, TrialState.FAIL)
        if job_dir is not None and not own_error:  # a job's own error line stays
            job_dir.write_failure("the search stopped during this trial; it does not count "
                                  "toward n_trials", status="interrupted")
        log.warning("trial %d was cut off by a stop: marked failed, not counted", trial.number)


def _holdout_accuracy(job_dir: RunDir | None) -> float | None:
    try:
        return float(job_dir.metrics()["holdout_accuracy"])
    except (AttributeError, TypeError, OSError, ValueError, KeyError):
        return None


def _trial_dir(sweep_dir: Path, number: int) -> RunDir | None:
    for path in map(RunDir, sweep_dir.glob(f"{number}_*")):
        if path.is_sweep_job():
            return path
    path = sweep_dir / str(number)
    return RunDir(path) if path.is_dir() else None
