"""Where and how a Keras fit computes: the devices it finds (or the SIMULATED_GPUS test hook
makes up), mixed precision and mirroring over them, and the process-wide TensorFlow state a
fit sets (dtype policy, op determinism, thread pools) and puts back."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass

import keras
import tensorflow as tf
from tensorflow.python.framework import config as tf_config

from src.utils.errors import ConfigError

log = logging.getLogger(__name__)

# A test hook, not a setting: DIGITS_SIMULATED_GPUS=N makes training treat N logical CPU
# devices as N GPUs, so that the one-GPU (N=1) and several-GPU (N>1) paths, mixed precision and
# MirroredStrategy included, run on a machine without one (tests/test_gpu_paths.py). An
# environment variable rather than a trainer key because it describes the machine, not the
# recipe: it stays out of the config, sweeps and MLflow params, and a run's metrics say
# it was simulated (`models[i].compute`). Read in `accelerators` only. TensorFlow can split
# the CPU only before it initialises, so it takes effect in a fresh process (`python -m
# src.run`), and the CPU stays split for the rest of that process.
SIMULATED_GPUS = "DIGITS_SIMULATED_GPUS"


MIXED = "mixed_float16"


@dataclass(frozen=True)
class ComputePlan:
    """How a fit computes: Keras' dtype policy and the devices it mirrors the model on."""

    policy: str  # "float32" | "mixed_float16"
    accelerators: tuple[str, ...]  # the logical devices counted as GPUs; () on a plain CPU
    simulated: bool = False

    @property
    def mirrored(self) -> bool:
        return len(self.accelerators) > 1

    def strategy(self) -> tf.distribute.Strategy:
        if self.mirrored:  # a copy of the model on each device, gradients summed over them
            return tf.distribute.MirroredStrategy(devices=list(self.accelerators))
        return tf.distribute.get_strategy()  # the default: TensorFlow places ops itself

    def record(self, strategy: tf.distribute.Strategy) -> dict:
        """For the run's metrics: where this model trained."""
        return {"policy": self.policy,
                "strategy": "MirroredStrategy" if self.mirrored else "default",
                "replicas": strategy.num_replicas_in_sync,
                "accelerators": list(self.accelerators), "simulated_gpus": self.simulated}


def compute_plan(accelerators: Sequence[str], mixed_precision, simulated: bool = False
                 ) -> ComputePlan:
    """The decision alone, from the accelerators' device names and trainer.mixed_precision:
    auto computes in float16 on any accelerator and in float32 on a CPU (where float16 is
    slower); true insists on float16, so it refuses a machine without an accelerator; false
    keeps float32 everywhere. The nets keep their softmax in float32; several accelerators
    mirror the model."""
    on_accelerator = bool(accelerators)
    if mixed_precision is True and not on_accelerator:
        raise ConfigError("trainer.mixed_precision=true needs a GPU, and TensorFlow sees none "
                          "here: float16 on a CPU is slower than float32; use auto (float16 "
                          "where there is a GPU) or false")
    policy = MIXED if on_accelerator and mixed_precision in ("auto", True) else "float32"
    return ComputePlan(policy, tuple(accelerators), simulated)


def accelerators() -> tuple[list[str], bool]:
    """The logical GPUs' device names, and False; with the SIMULATED_GPUS hook, that many
    logical CPUs' names, and True."""
    simulated = os.environ.get(SIMULATED_GPUS, "").strip()
    if not simulated:
        if not tf.config.list_physical_devices("GPU"):  # without initialising TensorFlow
            return [], False
        return [d.name for d in tf.config.list_logical_devices("GPU")], False
    if not simulated.isdigit() or int(simulated) < 1:
        raise ConfigError(f"{SIMULATED_GPUS}={simulated} is not an integer >= 1 (or unset)")
    n = int(simulated)
    if n > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        # RuntimeError: initialised already (an earlier fit of this process split it)
        with contextlib.suppress(RuntimeError):
            tf.config.set_logical_device_configuration(
                cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(n)])
    cpus = tf.config.list_logical_devices("CPU")
    if len(cpus) < n:
        raise ConfigError(f"{SIMULATED_GPUS}={n}: TensorFlow was initialised with "
                           f"{len(cpus)} CPU device(s) before the first fit; set it before "
                           "the process starts")
    return [d.name for d in cpus[:n]], True


@contextlib.contextmanager
def process_settings(deterministic: bool, policy: str | None = None):
    """Keras' dtype policy and TensorFlow's op determinism are process-wide: they hold for
    this call only, so whatever runs next in the process (another sweep job, a test) starts
    from its own settings. `policy` None keeps the current one (predicting: a built model's
    layers carry their own)."""
    previous = keras.mixed_precision.global_policy()
    was_deterministic = tf_config.is_op_determinism_enabled()
    try:
        if deterministic and not was_deterministic:
            tf.config.experimental.enable_op_determinism()
        if policy is not None:
            keras.mixed_precision.set_global_policy(policy)
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)
        if deterministic and not was_deterministic:
            # TensorFlow's public API can turn determinism on only; its own switch turns it off
            tf_config.disable_op_determinism()


def drop_remainder(rows: int, batch_size: int, replicas: int) -> bool:
    """Whether training drops each epoch's last, partial batch: only when it has fewer rows
    than there are replicas. MirroredStrategy splits every batch over the replicas, and one
    left without rows computes its batch norm over nothing: NaN gradients, which the sum over
    replicas copies into every replica's weights (the model then predicts NaN; on CPU
    devices, oneDNN aborts the process instead). The rows dropped, fewer than the replicas,
    are other rows each epoch (the pipeline reshuffles)."""
    if replicas == 1:
        return False
    if batch_size < replicas:
        raise ConfigError(f"trainer.batch_size={batch_size} is smaller than the {replicas} "
                          f"replicas the model trains on: give each at least one row")
    if rows < replicas:
        raise ConfigError(f"{rows} training rows cannot be shared by {replicas} replicas")
    rest = rows % batch_size
    if 0 < rest < replicas:
        log.info("the last batch of each epoch (%d rows of %d) is dropped: fewer rows than "
                 "the %d replicas", rest, rows, replicas)
        return True
    return False


def configure_threads(threads: int | None, inter_op_threads: int | None) -> None:
    try:
        if threads:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
        if inter_op_threads:
            tf.config.threading.set_inter_op_parallelism_threads(inter_op_threads)
    except RuntimeError:  # the runtime already started in this process; keep its setting
        log.warning("threads=%s, trainer.pipeline.inter_op_threads=%s ignored: TensorFlow was "
                    "already initialised", threads, inter_op_threads)
