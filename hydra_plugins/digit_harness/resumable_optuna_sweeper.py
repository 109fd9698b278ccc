"""`hydra/sweeper=resumable_optuna`: Hydra's Optuna sweeper, resumable
(see src/sweeps/optuna_sweeper.py)."""

from dataclasses import dataclass
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.plugins.sweeper import Sweeper
from hydra_plugins.hydra_optuna_sweeper.config import OptunaSweeperConf


@dataclass
class ResumableOptunaSweeperConf(OptunaSweeperConf):
    _target_: str = (
        "hydra_plugins.digit_harness.resumable_optuna_sweeper.ResumableOptunaSweeper")
    # where the best trial's settings are written as an experiment file (null: conf/experiment)
    experiment_dir: str | None = None


ConfigStore.instance().store(group="hydra/sweeper", name="resumable_optuna",
                             node=ResumableOptunaSweeperConf, provider="digit_harness")


class ResumableOptunaSweeper(Sweeper):
    def __init__(self, experiment_dir: str | None = None, **optuna_settings: Any) -> None:
        from src.sweeps.optuna_sweeper import (
            ResumableOptunaSweeperImpl,  # optuna loads only when used
        )

        self.sweeper = ResumableOptunaSweeperImpl(experiment_dir=experiment_dir,
                                                  **optuna_settings)

    def setup(self, **kwargs: Any) -> None:
        self.sweeper.setup(**kwargs)

    def sweep(self, arguments: list[str]) -> None:
        return self.sweeper.sweep(arguments)
