"""`hydra/sweeper=optuna`: the project's own Optuna (>= 5) sweeper: ask-and-tell over an RDB
storage, resumable, with pruning (src/sweeps/optuna_sweeper.py does the work)."""

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.plugins.sweeper import Sweeper

from src.config.names import OPTUNA_SWEEPER as TARGET


@dataclass
class OptunaSweeperConf:
    _target_: str = TARGET
    study_name: str = "search"
    storage: str | None = None  # an RDB URL; null: sqlite:///<sweep dir>/optuna.db
    direction: str = "maximize"  # of the value src.run returns (holdout accuracy)
    n_trials: int = 20  # the study's total, counting trials of earlier invocations
    n_jobs: int = 1  # trials asked and launched at once (hydra/launcher=joblib runs them together)
    max_failure_rate: float = 1.0  # of a batch; above it the search stops
    sampler: str = "tpe"  # a name of src/sweeps/study_settings.SAMPLERS (cmaes, gp: extra packages)
    seed: int | None = None  # the sampler's
    pruner: str = "median"  # a name of src/sweeps/study_settings.PRUNERS, or none
    # each pruner's options, used when it is the one chosen
    pruners: dict[str, Any] = field(default_factory=lambda: {
        "median": {"n_startup_trials": 5, "n_warmup_steps": 3},
        "percentile": {"percentile": 25.0, "n_startup_trials": 5, "n_warmup_steps": 3},
        "hyperband": {"min_resource": 2},
        "successive_halving": {"min_resource": 2},
        "none": {},
    })
    params: dict[str, str] = field(default_factory=dict)  # the search space, Hydra sweep syntax
    experiment_dir: str | None = None  # where best_<study>.yaml goes; null: conf/experiment


ConfigStore.instance().store(group="hydra/sweeper", name="optuna", node=OptunaSweeperConf,
                             provider="digit_harness")


class OptunaSweeper(Sweeper):
    def __init__(self, **settings: Any) -> None:
        from src.sweeps.optuna_sweeper import Search  # optuna loads only when a search runs

        self.search = Search(**settings)

    def setup(self, **kwargs: Any) -> None:
        self.search.setup(**kwargs)

    def sweep(self, arguments: list[str]) -> None:
        return self.search.sweep(arguments)
