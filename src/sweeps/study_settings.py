"""What an Optuna search is made of, from its config (`hydra.sweeper`): the sampler, the pruner,
the storage and the search space. The sweeper and each trial's job build them from the same
settings, so a job that runs elsewhere (joblib, Slurm) prunes by the same rule.

Every setting is checked here, in one line each, before any trial trains
(src/config/command_config.py calls `check`).
"""

from __future__ import annotations

import importlib.util
import inspect
import json
from pathlib import Path
from typing import Any

import optuna
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import IntervalSweep, Override, RangeSweep, Transformer
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
    distribution_to_json,
)

from src.utils import sqlite_url
from src.utils.errors import ConfigError

SAMPLERS = {
    "tpe": optuna.samplers.TPESampler,
    "random": optuna.samplers.RandomSampler,
    "cmaes": optuna.samplers.CmaEsSampler,
    "gp": optuna.samplers.GPSampler,
    "qmc": optuna.samplers.QMCSampler,
}
PRUNERS = {
    "median": optuna.pruners.MedianPruner,
    "percentile": optuna.pruners.PercentilePruner,
    "hyperband": optuna.pruners.HyperbandPruner,
    "successive_halving": optuna.pruners.SuccessiveHalvingPruner,
    "none": optuna.pruners.NopPruner,
}
# samplers that need a package the project does not install
SAMPLER_NEEDS = {"cmaes": "cmaes", "gp": "torch"}
SEARCH_SPACE = "search_space"  # the study's user attribute: the space it was made for
DATABASE = "optuna.db"  # the default storage's file, in the sweep dir
LOCK = "search.lock"  # in the sweep dir, held while a search runs there


def sampler(settings: DictConfig) -> optuna.samplers.BaseSampler:
    cls = _named(SAMPLERS, settings.sampler, "sampler")
    needs = SAMPLER_NEEDS.get(str(settings.sampler))
    if needs and importlib.util.find_spec(needs) is None:
        raise ConfigError(f"hydra.sweeper.sampler={settings.sampler} needs {needs}, which is "
                          f"not installed: pip install {needs}, or pick another sampler")
    seeded = "seed" in inspect.signature(cls).parameters
    return cls(seed=settings.seed) if seeded else cls()


def pruner(settings: DictConfig) -> optuna.pruners.BasePruner:
    name = str(settings.pruner)
    cls = _named(PRUNERS, name, "pruner")
    options = settings.pruners.get(name)
    options = OmegaConf.to_container(options) if options else {}
    try:
        return cls(**options)
    except (TypeError, ValueError) as err:
        known = ", ".join(p for p in inspect.signature(cls).parameters)
        raise ConfigError(f"hydra.sweeper.pruners.{name}: {err} (its options: {known})") from None


def prunes(settings: DictConfig) -> bool:
    return str(settings.pruner) != "none"


def storage_url(settings: DictConfig, sweep_dir: Path | str, cwd: Path | str) -> str:
    """The study's storage URL (default: SQLite in the sweep dir), absolute."""
    return sqlite_url.absolute(settings.storage or f"{sqlite_url.PREFIX}"
                               f"{Path(sweep_dir) / DATABASE}", cwd)


def search_space(settings: DictConfig, arguments: list[str]) -> tuple[dict, dict]:
    """(distributions, fixed values) of `hydra.sweeper.params` plus the command line's own
    sweeps: interval() is continuous (tag(log, ...) for a log scale), range() is stepped,
    a list or choice() is categorical; a plain value is fixed for every trial."""
    lines = [f"{k}={v}" for k, v in (settings.params or {}).items()] + list(arguments)
    try:
        parsed = OverridesParser.create().parse_overrides(lines)
    except HydraException as err:
        raise ConfigError(f"bad search space: {' '.join(str(err).split())}") from None
    distributions, fixed = {}, {}
    for override in parsed:
        key = override.get_key_element()
        if override.is_sweep_override():
            distributions[key] = _distribution(override)
        else:
            fixed[key] = override.get_value_element_as_str()
    for key in fixed:
        distributions.pop(key, None)  # the command line fixes what the preset searched
    return distributions, fixed


def space_record(distributions: dict[str, BaseDistribution], direction: str) -> str:
    return json.dumps({"direction": direction,
                       "params": {k: json.loads(distribution_to_json(d))
                                  for k, d in sorted(distributions.items())}}, sort_keys=True)


def check_study(url: str, name: str, record: str) -> None:
    """A study that exists under this name must have been made for this search space."""
    path = sqlite_url.file_of(url)
    if path is not None and not path.is_file():
        return
    try:
        study = optuna.load_study(study_name=name, storage=url)
    except KeyError:
        return  # a new study in an existing database
    except Exception as err:  # noqa: BLE001 - any storage that cannot be opened is one line
        reason = " ".join(str(err).split())
        if "schema" in reason.lower() or "upgrade" in reason.lower():
            raise ConfigError(f"the study storage {url} was written by an older Optuna: "
                              f"upgrade it with `optuna storage upgrade --storage {url}`, "
                              "then run again") from None
        raise ConfigError(f"cannot open the study storage {url}: {type(err).__name__}: "
                          f"{reason[:200]}") from None
    found = study.user_attrs.get(SEARCH_SPACE)
    if found is not None and found != record:
        was, now = json.loads(found), json.loads(record)
        changed = sorted(k for k in was["params"].keys() | now["params"].keys()
                         if was["params"].get(k) != now["params"].get(k))
        if was["direction"] != now["direction"]:
            changed.append("direction")
        raise ConfigError(f"study {name} in {url} was made for another search space "
                          f"(differs in {', '.join(changed)}): pick another "
                          "hydra.sweeper.study_name, or remove that study's database")


def check(settings: DictConfig, sweep_dir: Path, cwd: Path, arguments: list[str]) -> None:
    """Everything about a search that can be wrong, before any trial starts."""
    sampler(settings)
    pruner(settings)
    if str(settings.direction) not in ("maximize", "minimize"):
        raise ConfigError(f"hydra.sweeper.direction={settings.direction}: use maximize or "
                          "minimize")
    distributions, _ = search_space(settings, arguments)
    url = storage_url(settings, sweep_dir, cwd)
    database = sqlite_url.file_of(url)
    if database is not None and database.parent != (Path(cwd) / sweep_dir).resolve() and \
            not database.parent.is_dir():  # the sweep dir is made by the search itself
        raise ConfigError(f"hydra.sweeper.storage={settings.storage}: the folder "
                          f"{database.parent} does not exist")
    check_study(url, settings.study_name, space_record(distributions, str(settings.direction)))


def _named(table: dict, name: Any, what: str):
    try:
        return table[str(name)]
    except KeyError:
        raise ConfigError(f"unknown {what} {name!r}: hydra.sweeper.{what}= one of "
                          f"{', '.join(table)}") from None


def _distribution(override: Override) -> BaseDistribution:
    try:
        return _distribution_of(override)
    except (TypeError, ValueError) as err:  # Optuna's word on bad bounds, e.g. low > high
        raise ConfigError(f"search space {override.input_line}: "
                          f"{' '.join(str(err).split())}") from None


def _distribution_of(override: Override) -> BaseDistribution:
    value = override.value()
    if isinstance(value, IntervalSweep):
        # Hydra keeps interval bounds as floats: tag(int, interval(a, b)) asks for integers
        log = "log" in value.tags
        if "int" in value.tags:
            return IntDistribution(int(value.start), int(value.end), log=log)
        return FloatDistribution(float(value.start), float(value.end), log=log)
    if isinstance(value, RangeSweep) and not value.shuffle:
        values = list(override.sweep_iterator())  # Hydra's range() leaves out stop, as Python's
        if not values:
            raise ValueError("the range is empty")
        if all(isinstance(v, int) for v in (value.start, value.stop, value.step)):
            return IntDistribution(values[0], values[-1], step=value.step)
        return FloatDistribution(float(values[0]), float(values[-1]), step=float(value.step))
    choices = list(override.sweep_iterator(transformer=Transformer.encode))
    if not choices:
        raise ValueError("no values to choose from")
    return CategoricalDistribution(choices)
