"""A trial's side of pruning: a job of an Optuna search reports its holdout accuracy after each
epoch to its trial, through the study's storage (so it works in this process, in a joblib
worker or on a Slurm node alike), and stops when the pruner says the trial is hopeless.

The job finds its trial from its own Hydra config: the sweeper numbers each job by its trial
(`hydra.job.num`) and the job reads the storage and pruner from `hydra.sweeper`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode

from src.config.names import OPTUNA_SWEEPER

log = logging.getLogger(__name__)

PRUNED = "pruned"  # the job's status in its failure record and in the sweep summary
REPORTED = "val_accuracy"  # what a trial reports each epoch: the holdout accuracy


class Pruned(Exception):
    """Raised inside fit when the pruner stops the trial; its message is the summary's line."""


def epoch_reporter() -> Callable[[int, dict], None] | None:
    """The listener that reports each epoch to this job's trial, or None when this job is not
    a trial of a search that prunes."""
    if not HydraConfig.initialized():
        return None
    hydra_cfg = HydraConfig.get()
    settings = hydra_cfg.sweeper
    if hydra_cfg.mode != RunMode.MULTIRUN or settings.get("_target_") != OPTUNA_SWEEPER:
        return None
    from src.sweeps import study_settings

    if not study_settings.prunes(settings):
        return None
    study, storage, trial_id = _trial(settings, hydra_cfg)
    number = hydra_cfg.job.num

    def report(epoch: int, logs: dict) -> None:
        if REPORTED not in logs:
            return  # no holdout this epoch: nothing to compare
        value = float(logs[REPORTED])
        storage.set_trial_intermediate_value(trial_id, epoch + 1, value)
        if study.pruner.prune(study, storage.get_trial(trial_id)):
            raise Pruned(f"pruned after epoch {epoch + 1}: holdout accuracy {value:.5f} "
                         f"({settings.pruner} pruner)")

    log.info("trial %d reports its holdout accuracy each epoch (%s pruner)", number,
             settings.pruner)
    return report


def _trial(settings, hydra_cfg):
    """(study, storage, trial id) of this job's trial, through the study's own storage."""
    import optuna

    from src.sweeps import study_settings

    url = study_settings.storage_url(settings, hydra_cfg.sweep.dir, hydra_cfg.runtime.cwd)
    storage = optuna.storages.RDBStorage(url)
    # the sampler plays no part in judging a trial; a random one costs nothing to set up
    study = optuna.load_study(study_name=settings.study_name, storage=storage,
                              sampler=optuna.samplers.RandomSampler(),
                              pruner=study_settings.pruner(settings))
    trial_id = storage.get_trial_id_from_study_id_trial_number(
        storage.get_study_id_from_name(settings.study_name), hydra_cfg.job.num)
    return study, storage, trial_id
