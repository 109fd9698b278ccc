"""The project's Hydra config for the small commands that are not Hydra apps (make data,
make score): same files, same overrides syntax, no run dir."""

from __future__ import annotations

import difflib
import functools
import re
import shutil
from collections.abc import Callable
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from src.config.names import CONF_DIR, OPTUNA_SWEEPER
from src.sweeps import sweep_record
from src.utils.errors import ConfigError


def load(overrides: list[str], hydra_config: bool = False, name: str = "config") -> DictConfig:
    """The composed config `conf/<name>.yaml`; with `hydra_config`, also its `hydra` node
    (left unresolved: parts of it exist only inside a job)."""
    try:
        with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
            cfg = compose(name, overrides=overrides, return_hydra_config=hydra_config)
        if not hydra_config:
            OmegaConf.resolve(cfg)
        return cfg
    except (HydraException, OmegaConfBaseException) as err:
        unknown = re.match(r"Could not override '([^']+)'", str(err))
        if unknown:  # Hydra's hint to add it with + would start a run that ignores it
            raise ConfigError(f"bad override: {unknown[1]} is not a setting (conf/{name}.yaml "
                              f"and its groups){did_you_mean(unknown[1], name)}") from None
        summary = []
        for line in filter(None, (raw.strip() for raw in str(err).splitlines())):
            if line.startswith("Config search"):  # the rest lists search paths
                break
            if not line.startswith(("full_key", "object_type")):
                summary.append(line)
        raise ConfigError(f"bad override: {' '.join(summary)}") from None


def did_you_mean(key: str, name: str = "config", base: DictConfig | None = None) -> str:
    """"; did you mean <key>?" for the nearest key or group that exists where `key` points
    (e.g. trainer.epochs for trainer.epoch) in `base` (default: conf/<name>.yaml composed as
    it is), or "" when nothing is close."""
    parent, _, last = key.rpartition(".")
    node = load([], name=name) if base is None else base
    options = {str(k) for k in node} | {p.name for p in CONF_DIR.iterdir() if p.is_dir()}
    if parent:
        node = OmegaConf.select(node, parent)
        options = {str(k) for k in node} if isinstance(node, DictConfig) else set()
    close = difflib.get_close_matches(last, sorted(options), n=1, cutoff=0.6)
    return f"; did you mean {'.'.join(filter(None, [parent, close[0]]))}?" if close else ""


def _added_key(override, base: Callable[[], DictConfig]) -> str | None:
    """The key a `+key=value` (or `++`) override adds where nothing would read it, else None:
    a key the composed config (`base()`) lacks, and not a config group's choice. Only the
    estimator's own parameters (model.estimator.<name>) may be added: its class refuses a name
    it lacks before any data is read; anywhere else an added key would be silently ignored."""
    from hydra.core.override_parser.types import OverrideType

    key = override.key_or_group
    if override.type not in (OverrideType.ADD, OverrideType.FORCE_ADD) or "/" in key:
        return None
    if OmegaConf.select(base(), key, default=_MISSING) is not _MISSING:
        return None  # there already: `++` sets it, Hydra itself refuses a plain `+`
    if "." not in key or re.fullmatch(r"model\.estimator\.\w+", key):
        return None  # a group choice (`+experiment=x`, from any search path), or a parameter
    return key


_MISSING = object()


def check_overrides(args: list[str]) -> None:
    """Compose the config for every value the command line names, and check each, so that a
    typo or an out-of-range value fails in one line before any job (of a sweep) starts.

    Each swept value is checked with the fixed overrides, not every combination: composition
    errors come from one key at a time. Continuous sweeps (interval(), for optimising
    sweepers) cannot be listed and are left to each job; so are Hydra's own settings (hydra.*).
    """
    from hydra._internal.utils import get_args_parser
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from src.config.validate import check

    args = get_args_parser().parse_intermixed_args(args)
    overrides = list(args.overrides)
    if args.config_dir:  # --config-dir: one more place for config files, as Hydra does
        overrides.append(f"hydra.searchpath=[file://{Path(args.config_dir).resolve()}]")
    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except HydraException as err:
        raise ConfigError(f"bad override: {' '.join(str(err).split())}") from None
    fixed, swept, hydra_settings, task = [], [], [], []
    base = functools.cache(lambda: load([]))  # composed only for a `+` override
    for override in parsed:
        if override.key_or_group == "hydra/launcher":
            _check_launcher(override.value())
        if override.is_hydra_override():
            hydra_settings.append(override.input_line)
            continue
        added = _added_key(override, base)
        if added:
            raise ConfigError(f"{override.input_line}: nothing in the harness reads {added}"
                              f"{did_you_mean(added, base=base())} (only "
                              "model.estimator.<parameter> may be added with +)")
        task.append(override.input_line)
        if not override.is_sweep_override():
            fixed.append(override.input_line)
        elif override.is_discrete_sweep():
            key = override.get_key_element()
            swept.extend(f"{key}={value}" for value in override.sweep_string_iterator())
    for extra in [[], *([value] for value in swept)]:
        check(load(hydra_settings + fixed + extra))
    composed = load(hydra_settings + fixed, hydra_config=True)
    with_hydra = composed.hydra
    if str(with_hydra.sweeper.get("_target_")) == OPTUNA_SWEEPER:
        if not composed.data.holdout and not composed.data.folds:
            raise ConfigError("a search maximises holdout accuracy, and data.holdout=0 has "
                              "none: keep a holdout (data.holdout=0.1) or use data.folds=K")
        from src.sweeps import study_settings  # optuna loads only for a search

        study_settings.check(with_hydra.sweeper, Path(str(with_hydra.sweep.dir)), Path.cwd(),
                             task)
    if args.multirun or str(with_hydra.mode) == "RunMode.MULTIRUN":
        from src.tracking import mlflow_store  # a sweep's parent run starts before any job

        mlflow_store.check(composed.tracking, Path.cwd())
        try:
            sweep_dir = Path(str(with_hydra.sweep.dir))
        except OmegaConfBaseException as err:
            raise ConfigError(f"bad hydra.sweep.dir: {' '.join(str(err).split())}") from None
        sweep_record.check(sweep_dir, sweep_record.identity(with_hydra, task))


def _check_launcher(name: str) -> None:
    """A launcher that is not installed, or Slurm without its client, in one line."""
    load([f"hydra/launcher={name}"])  # an unknown launcher fails composition, listing the known
    if "slurm" in str(name) and shutil.which("sbatch") is None:
        raise ConfigError(f"hydra/launcher={name} needs Slurm's sbatch, which is not on PATH: "
                          "run on a Slurm submit host (`make test-slurm` starts a local cluster)")
