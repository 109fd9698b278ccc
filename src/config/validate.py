"""Refuse a run's configuration before any data is read or any model is trained.

Hydra already refuses unknown keys and unknown config options; this checks what it cannot:
ranges and choices. Each problem is one ConfigError line naming the key and what it accepts.
"""

from __future__ import annotations

from numbers import Integral, Real

from omegaconf import DictConfig, OmegaConf

from src.models.conv_geometry import check_blocks_fit
from src.training import threads
from src.utils.errors import ConfigError

SCHEDULES = ("constant", "cosine", "exponential")
AUGMENT_IN = ("data", "model")
INPUT_DTYPES = ("uint8", "float32")
PADDINGS = ("same", "valid")
IMAGE_SIDE = 28  # Kaggle's digits
MAX_SEED = 2**32 - 1  # numpy's legacy seeding accepts no more
VERBOSITY = ("auto", 0, 1, 2)


def _pseudo_labels(p) -> None:
    runs = p.runs
    if runs is None:
        return
    if isinstance(runs, str):
        runs = [runs]
    if not (OmegaConf.is_list(runs) or isinstance(runs, list)) or not all(
            isinstance(r, str) and r for r in runs):
        raise ConfigError(f"data.pseudo_labels.runs={p.runs} is not a list of run dirs: give "
                          "e.g. data.pseudo_labels.runs=[results/a,results/b], or null: off")
    # below 1: archived predictions are float16, in which 0.99976 and up round to 1
    _number("data.pseudo_labels.min_confidence", p.min_confidence, lambda v: 0 < v < 1,
            "a probability in (0, 1), e.g. 0.99")


def _deskew(cfg: DictConfig) -> None:
    if not isinstance(cfg.deskew, bool):
        raise ConfigError(f"deskew={cfg.deskew} is not true or false")
    estimator = cfg.model.get("estimator") or {}
    if cfg.deskew and "deskew" not in estimator:
        raise ConfigError(f"deskew=true, but model={cfg.model.get('name')} takes no deskew: add "
                          "`deskew: ${deskew}` to its estimator in conf/model/, or drop deskew")


def check(cfg: DictConfig) -> None:
    d, t = cfg.data, cfg.trainer
    _number("data.holdout", d.holdout, lambda v: 0 <= v < 1, "a fraction in [0, 1), e.g. 0.1")
    if d.folds is not None:
        _integer("data.folds", d.folds, lambda v: v >= 2, "an integer >= 2 (or null: no CV)")
        if d.holdout:
            raise ConfigError(f"data.folds={d.folds} and data.holdout={d.holdout} together: "
                              "cross-validation holds out each fold in turn; add data.holdout=0")
    _integer("data.split_seed", d.split_seed, lambda v: 0 <= v <= MAX_SEED,
             f"an integer in [0, {MAX_SEED}]")
    _pseudo_labels(d.pseudo_labels)
    _integer("seed", cfg.seed, lambda v: 0 <= v <= MAX_SEED, f"an integer in [0, {MAX_SEED}]")
    _deskew(cfg)
    _integer("trainer.epochs", t.epochs, lambda v: v >= 1, "an integer >= 1")
    _integer("trainer.batch_size", t.batch_size, lambda v: v >= 1, "an integer >= 1")
    _number("trainer.lr", t.lr, lambda v: v > 0, "a number > 0, e.g. 1e-3")
    _integer("trainer.warmup_epochs", t.warmup_epochs, lambda v: 0 <= v <= t.epochs,
             f"an integer in [0, trainer.epochs={t.epochs}]")
    _number("trainer.label_smoothing", t.label_smoothing, lambda v: 0 <= v < 1,
            "a number in [0, 1)")
    for name, limit in (("rotation", 180), ("shift", 0.5), ("zoom", 0.5)):
        _number(f"trainer.augment.{name}", t.augment[name], lambda v, lim=limit: 0 <= v <= lim,
                f"a number in [0, {limit}] (0: off)")
    _integer("trainer.bn_recalibration", t.bn_recalibration, lambda v: v >= 0,
             "an integer >= 0 (images; 0: off)")
    _number("trainer.augment.elastic", t.augment.elastic, lambda v: 0 <= v <= 100,
            "alpha in pixels, a number in [0, 100] (0: off)")
    _number("trainer.augment.elastic_sigma", t.augment.elastic_sigma, lambda v: 0.5 <= v <= 14,
            "pixels, a number in [0.5, 14]")
    _number("trainer.augment.elastic_share", t.augment.elastic_share, lambda v: 0 < v <= 1,
            "a number in (0, 1] (1: every training image)")
    _number("trainer.decay", t.decay, lambda v: 0 < v <= 1, "a number in (0, 1]")
    if t.ema is not None:
        _number("trainer.ema", t.ema, lambda v: 0 < v < 1,
                "a momentum in (0, 1), e.g. 0.999, or null: off")
        if t.early_stopping is not None:
            raise ConfigError(f"trainer.ema={t.ema} with trainer.early_stopping="
                              f"{t.early_stopping}: early stopping would put back plain weights "
                              "over the average; drop one of them")
    _check_pipeline(t.pipeline)
    if t.early_stopping is not None:
        _integer("trainer.early_stopping", t.early_stopping, lambda v: v >= 1,
                 "an integer >= 1 (epochs of patience), or null: off")
    if t.time_budget is not None:
        _number("trainer.time_budget", t.time_budget, lambda v: v > 0,
                "seconds > 0, or null: no limit")
    for name in ("tta", "jit_compile", "deterministic", "tensorboard"):
        if not isinstance(t[name], bool):
            raise ConfigError(f"trainer.{name}={t[name]} is not true or false")
    if t.mixed_precision not in ("auto", True, False):
        raise ConfigError(f"trainer.mixed_precision={t.mixed_precision} is not auto, true "
                          "or false")
    threads.check(cfg.threads)
    if t.schedule not in SCHEDULES:
        raise ConfigError(f"trainer.schedule={t.schedule} is not one of {', '.join(SCHEDULES)}")
    if t.verbose not in VERBOSITY:
        raise ConfigError(f"trainer.verbose={t.verbose} is not one of auto, 0, 1, 2")
    if "estimator" not in cfg.model or "_target_" not in cfg.model.estimator:
        raise ConfigError(f"model={cfg.model.get('name')} has no estimator._target_ to build")
    _check_conv_net(cfg.model.estimator.get("net"))
    _check_dropout(cfg.model.estimator.get("net"))


def _check_pipeline(p) -> None:
    key = "trainer.pipeline"
    if p.augment_in not in AUGMENT_IN:
        raise ConfigError(f"{key}.augment_in={p.augment_in} is not one of {', '.join(AUGMENT_IN)}")
    if p.input_dtype not in INPUT_DTYPES:
        raise ConfigError(f"{key}.input_dtype={p.input_dtype} is not one of "
                          f"{', '.join(INPUT_DTYPES)}")
    if p.parallel_calls != "auto":
        _integer(f"{key}.parallel_calls", p.parallel_calls, lambda v: v >= 1,
                 "auto or an integer >= 1")
    if p.inter_op_threads is not None:
        _integer(f"{key}.inter_op_threads", p.inter_op_threads, lambda v: v >= 1,
                 "an integer >= 1, or null: TensorFlow decides")


def _check_dropout(net) -> None:
    if not isinstance(net, DictConfig):
        return
    for name in ("dropout", "dense_dropout"):
        if name in net:
            _number(f"model.estimator.net.{name}", net[name], lambda v: 0 <= v < 1,
                    "a fraction in [0, 1)")


def _check_conv_net(net) -> None:
    """A Keras conv net's padding, and that its blocks leave pixels of a 28x28 image."""
    if not isinstance(net, DictConfig) or "padding" not in net:
        return
    key = "model.estimator.net"
    if net.padding not in PADDINGS:
        raise ConfigError(f"{key}.padding={net.padding} is not one of {', '.join(PADDINGS)}")
    check_blocks_fit(IMAGE_SIDE, list(net.get("filters", [])), net.padding)
    if "bn_momentum" in net:
        _number(f"{key}.bn_momentum", net.bn_momentum, lambda v: 0 <= v < 1,
                "a number in [0, 1), e.g. 0.9")


def _number(key, value, ok, accepted):
    if isinstance(value, bool) or not isinstance(value, Real) or not ok(value):
        raise ConfigError(f"{key}={value} is out of range: expected {accepted}")


def _integer(key, value, ok, accepted):
    if isinstance(value, bool) or not isinstance(value, Integral) or not ok(value):
        raise ConfigError(f"{key}={value} is out of range: expected {accepted}")
