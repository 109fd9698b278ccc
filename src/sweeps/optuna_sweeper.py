"""Hyperparameter search that survives being stopped: the project's Optuna sweeper.

    python -m src.run hparams_search=cnn_optuna                       # 20 trials, or the rest
    python -m src.run hparams_search=svm_optuna hydra.sweeper.n_trials=30
    python -m src.run hparams_search=cnn_optuna hydra.sweeper.pruner=none

Ask-and-tell over an RDB storage (SQLite in the stable sweep dir multirun/search/<study_name>
by default): each batch of `n_jobs` trials is asked of the study, launched by whatever Hydra
launcher is configured, and told its result. Run the same command again after a stop and it
goes on with the same study:
  - `n_trials` is the study's total: trials that ended in earlier invocations count;
  - a job dir is named by its trial number, so no finished trial's dir is ever reused;
  - a trial cut off by the stop is marked failed (its dir says so) and not counted.
Keras trials report their holdout accuracy each epoch (src/sweeps/pruning.py); a pruned trial
is told PRUNED, counts toward the total and is a `pruned` row in the summary. When the search
ends, the best trial's settings become `conf/experiment/best_<study>.yaml`, printed with the
command that trains them on all rows.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import optuna
from hydra.core.plugins import Plugins
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf
from optuna.trial import TrialState

from src.config.names import CONF_DIR
from src.runs.run_dir import RunDir
from src.sweeps import study_settings
from src.sweeps.pruning import PRUNED
from src.utils import file_lock
from src.utils.atomic_io import write_text
from src.utils.errors import EXIT_USER_ERROR, HarnessError

log = logging.getLogger(__name__)

ENDED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
INTERRUPTED = "interrupted"  # user attribute of a trial cut off by a stop
# Overrides that say where or how verbosely a trial ran, not what it trained.
NOT_SETTINGS = ("hparams_search", "experiment", "data.dir", "submission.dir", "trainer.verbose",
                "threads", "tracking")


class Search:
    def __init__(self, experiment_dir: str | None = None, **settings: Any) -> None:
        self.settings = OmegaConf.create(settings)
        self.experiment_dir = Path(experiment_dir) if experiment_dir else CONF_DIR / "experiment"

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction,
              config: DictConfig) -> None:
        self.config = config
        self.launcher = Plugins.instance().instantiate_launcher(
            config=config, hydra_context=hydra_context, task_function=task_function)

    def sweep(self, arguments: list[str]) -> None:
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)  # SQLite needs the folder before any job
        try:
            # one search at a time in a sweep dir: two would number their jobs alike, and each
            # would take the other's running trials for ones cut off by a stop
            with file_lock.exclusive(sweep_dir / study_settings.LOCK,
                                     f"a search in {sweep_dir}"):
                self._sweep(arguments, sweep_dir)
        except HarnessError as err:  # one line, as the command-line checks give
            print(f"error: {err}", file=sys.stderr, flush=True)
            sys.exit(EXIT_USER_ERROR)

    def _sweep(self, arguments: list[str], sweep_dir: Path) -> None:
        settings = self.settings
        distributions, fixed = study_settings.search_space(settings, arguments)
        record = study_settings.space_record(distributions, str(settings.direction))
        url = study_settings.storage_url(settings, sweep_dir, self.config.hydra.runtime.cwd)
        study_settings.check_study(url, settings.study_name, record)
        sampler = study_settings.sampler(settings)
        storage = optuna.storages.RDBStorage(url)
        study = optuna.create_study(study_name=settings.study_name, storage=storage,
                                    sampler=sampler, pruner=study_settings.pruner(settings),
                                    direction=str(settings.direction), load_if_exists=True)
        study.set_user_attr(study_settings.SEARCH_SPACE, record)
        _close_interrupted(study, storage, sweep_dir)
        if study.trials:  # a seeded sampler would start over and propose the same points again
            sampler.reseed_rng()
        done = sum(t.state in ENDED and not t.user_attrs.get(INTERRUPTED) for t in study.trials)
        to_run = max(settings.n_trials - done, 0)
        log.info("study %s: %d of %d trials done, %d to run (storage %s, %s sampler, %s pruner)",
                 settings.study_name, done, settings.n_trials, to_run, url, settings.sampler,
                 settings.pruner)
        while to_run > 0:
            batch = min(to_run, max(int(settings.n_jobs), 1))
            trials = [study.ask(fixed_distributions=distributions) for _ in range(batch)]
            for run in _consecutive(trials):
                self._run_batch(study, run, fixed, sweep_dir)
            to_run -= batch
        if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            log.error("study %s has no completed trial yet: no best settings to write",
                      settings.study_name)
            return
        self._write_experiment(study.best_trial, sweep_dir)

    def _run_batch(self, study: optuna.Study, trials: list[optuna.Trial], fixed: dict,
                   sweep_dir: Path) -> None:
        first = trials[0].number  # job numbers = trial numbers: how a job finds its trial
        overrides = []
        for trial in trials:
            for key, value in fixed.items():
                trial.set_user_attr(key, value)
            overrides.append([f"{k}={v}" for k, v in {**trial.params, **fixed}.items()])
        returns = self.launcher.launch(overrides, initial_job_idx=first)
        failures = 0
        for trial, result in zip(trials, returns, strict=True):
            job_dir = _job_dir(result) or _trial_dir(sweep_dir, trial.number)
            failure = job_dir.failure() if job_dir is not None else None
            if failure and failure.get("status") == PRUNED:
                study.tell(trial, state=TrialState.PRUNED)
                continue
            value = _value(result)
            if value is None:
                study.tell(trial, state=TrialState.FAIL)
                failures += 1
            else:
                study.tell(trial, value)
        if failures / len(trials) > self.settings.max_failure_rate:
            raise RuntimeError(f"{failures} of {len(trials)} trials failed, more than "
                               f"hydra.sweeper.max_failure_rate={self.settings.max_failure_rate}"
                               ": see their rows in the summary")

    def _write_experiment(self, best: optuna.trial.FrozenTrial, sweep_dir: Path) -> None:
        # the model comes from the search's config (hparams_search picks it), unless searched
        settings = {"model": self.config.hydra.runtime.choices.model, **best.user_attrs,
                    **best.params}
        settings.pop(INTERRUPTED, None)
        run_dir = _trial_dir(sweep_dir, best.number)
        name = f"best_{self.settings.study_name}"
        path = self.experiment_dir / f"{name}.yaml"
        write_text(path, experiment_yaml(settings, self.settings.study_name, best.number,
                                         best.value, run_dir))
        command = f"python -m src.run experiment={name} data.holdout=0"
        if self.experiment_dir.resolve() != (CONF_DIR / "experiment").resolve():
            # Hydra finds experiment files in <config dir>/experiment/ only
            command = (command.replace("src.run", f"src.run --config-dir "
                                       f"{self.experiment_dir.parent}")
                       if self.experiment_dir.name == "experiment" else
                       f"{command} (after copying {path.name} into conf/experiment/)")
        print(f"\nbest trial {best.number}: holdout accuracy {best.value:.5f} ({run_dir})\n"
              f"its settings: {path}\ntrain them on all rows: {command}", flush=True)


def _consecutive(trials: list) -> list[list]:
    """The batch in runs of consecutive trial numbers, each launched with its first number:
    the study hands out consecutive numbers unless another process asks for trials too."""
    runs = []
    for trial in trials:
        if runs and trial.number == runs[-1][-1].number + 1:
            runs[-1].append(trial)
        else:
            runs.append([trial])
    return runs


def _job_dir(result) -> RunDir | None:
    """Where the launcher ran the job (None when it never started)."""
    try:
        return RunDir(str(result.hydra_cfg.hydra.runtime.output_dir))
    except (AttributeError, TypeError, ValueError):
        return None


def _value(result) -> float | None:
    """The job's holdout accuracy, or None when it failed (its row says why)."""
    try:
        value = result.return_value
    except Exception:  # noqa: BLE001 - a job that raised: Hydra re-raises it here
        return None
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def experiment_yaml(settings: dict, study: str, number: int, value: float,
                    run_dir: RunDir | None) -> str:
    """An experiment file that composes the trial's settings onto the defaults: config
    groups (model=cnn) as defaults-list overrides, everything else as values."""
    groups, values = [], []
    for key, value_ in sorted(settings.items()):
        if key.split(".")[0] in NOT_SETTINGS or key in NOT_SETTINGS or key.startswith("hydra"):
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


def _close_interrupted(study: optuna.Study, storage: optuna.storages.BaseStorage,
                       sweep_dir: Path) -> None:
    """A trial still RUNNING when a new invocation starts was cut off by a stop. If its job
    had ended (metrics written, or pruned), the study just missed the result: record it.
    Otherwise mark it failed, and say so in its dir, so neither Optuna nor the summary waits
    for it."""
    study_id = storage.get_study_id_from_name(study.study_name)
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        job_dir = _trial_dir(sweep_dir, trial.number)
        accuracy = _holdout_accuracy(job_dir)
        failure = job_dir.failure() if job_dir is not None else None
        if accuracy is not None:
            study.tell(trial.number, accuracy)
            log.info("trial %d had finished before the stop: result recorded", trial.number)
            continue
        if failure and failure.get("status") == PRUNED:
            study.tell(trial.number, state=TrialState.PRUNED)
            continue
        if failure and failure.get("status") != INTERRUPTED:  # it failed on its own: counts
            study.tell(trial.number, state=TrialState.FAIL)
            continue
        storage.set_trial_user_attr(
            storage.get_trial_id_from_study_id_trial_number(study_id, trial.number),
            INTERRUPTED, True)
        study.tell(trial.number, state=TrialState.FAIL)
        if job_dir is not None:
            job_dir.write_failure("the search stopped during this trial; it does not count "
                                  "toward n_trials", status=INTERRUPTED)
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
