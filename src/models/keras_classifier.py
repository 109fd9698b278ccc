"""A Keras network behind scikit-learn's fit/predict_proba API.

Takes uint8 pixel rows (N, 784), as every model here does; feeds them to the network as
(28, 28, 1) images through `tf.data`, augmented on the fly (training batches only) when the
trainer asks. TensorFlow places the work on a GPU when one is visible, with no change here:
one GPU trains in mixed precision, several through a MirroredStrategy (`compute_plan`). Tests
run those paths on a CPU through the SIMULATED_GPUS hook.

A scikit-learn estimator: `clone`, `cross_val_score`, `GridSearchCV` and `Pipeline` take it.
Its parameters are stored as given (scikit-learn's rule), so `trainer` is never changed in
place; `set_params(trainer=...)` replaces it.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from numbers import Integral
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from keras import layers
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils._param_validation import Interval
from tensorflow.python.framework import config as tf_config

from src.models import batch_norm, contract, elastic
from src.models.contract import RunnerModel
from src.models.progress import EpochProgress
from src.models.training_clock import TrainingClock
from src.utils.errors import ConfigError

log = logging.getLogger(__name__)
IMAGE_SHAPE = (28, 28, 1)
N_CLASSES = 10
# Test-time augmentation's views: the image itself and its 1-pixel shifts (a digit's blank
# border makes a roll a shift).
TTA_SHIFTS = [(0, 0), (1, 0), (-1, 0), (0, 1), (0, -1)]
# A test hook, not a setting: DIGITS_SIMULATED_GPUS=N makes training treat N logical CPU
# devices as N GPUs, so that the one-GPU (N=1) and several-GPU (N>1) paths, mixed precision and
# MirroredStrategy included, run on a machine without one (tests/test_gpu_paths.py). An
# environment variable rather than a trainer key because it describes the machine, not the
# recipe: it stays out of the config, sweeps and MLflow params, and a run's metrics say
# it was simulated (`models[i].compute`). Read in `_accelerators` only. TensorFlow can split
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
    """The decision alone, from the accelerators' device names and trainer.mixed_precision
    (auto | true | false): any accelerator computes in float16 unless mixed_precision=false
    (the nets keep their softmax in float32); several mirror the model; a CPU runs as it is
    (true asks for float16 on an accelerator, as auto does: float16 on a CPU is slower)."""
    on_accelerator = bool(accelerators)
    policy = MIXED if on_accelerator and mixed_precision in ("auto", True) else "float32"
    return ComputePlan(policy, tuple(accelerators), simulated)


class KerasClassifier(RunnerModel, ClassifierMixin, BaseEstimator):
    file_suffix = contract.KERAS
    takes_validation_data = True
    has_test_time_augmentation = True
    # scikit-learn checks these before any data is read (src/models/factory.py)
    _parameter_constraints = {
        "net": [callable, None],
        "trainer": [dict, None],
        "seed": [Interval(Integral, 0, None, closed="left")],
        "threads": [Interval(Integral, 1, None, closed="left"), None],
        "log_dir": [str, os.PathLike, None],
    }

    def __init__(self, net: Callable[..., keras.Model] | None = None, trainer: dict | None = None,
                 seed: int = 0, threads: int | None = None, log_dir: str | None = None):
        self.net = net  # (input shape, classes) -> an uncompiled keras.Model
        self.trainer = trainer  # the trainer config group, as a dict (conf/trainer/)
        self.seed = seed
        self.threads = threads  # TensorFlow intra-op threads; None: TensorFlow decides
        self.log_dir = log_dir  # TensorBoard logs go here when trainer.tensorboard is on

    def __repr__(self, N_CHAR_MAX=700):
        # one readable line for logs; scikit-learn's would print the whole trainer dict
        t = self.trainer
        if t is None or not {"epochs", "batch_size", "lr", "schedule"} <= t.keys():
            return super().__repr__(N_CHAR_MAX)
        net = getattr(self, "model_", None) if self.net is None else self.net
        name = net.name if isinstance(net, keras.Model) else getattr(net, "func", net).__name__
        return (f"KerasClassifier({name}, "
                f"epochs={t['epochs']}, batch_size={t['batch_size']}, lr={t['lr']:g}, "
                f"schedule={t['schedule']}, seed={self.seed})")

    def fit(self, X, y, validation_data=None):
        t = self.trainer
        _configure_threads(self.threads, t["pipeline"]["inter_op_threads"])
        accelerators, simulated = _accelerators()
        plan = compute_plan(accelerators, t["mixed_precision"], simulated)
        with _process_settings(t["deterministic"], plan.policy):
            strategy = plan.strategy()
            self.compute_ = plan.record(strategy)
            log.info("compute: %s, %s over %d replica(s)%s", plan.policy,
                     "MirroredStrategy" if plan.mirrored else "the default strategy",
                     strategy.num_replicas_in_sync,
                     f" ({SIMULATED_GPUS}: logical CPUs as GPUs)" if simulated else "")
            return self._fit(X, y, validation_data, strategy)

    def _fit(self, X, y, validation_data, strategy):
        t = self.trainer
        self.classes_ = np.arange(N_CLASSES)
        pipeline = t["pipeline"]
        keras.utils.set_random_seed(self.seed)
        drop_remainder = _drop_remainder(len(X), t["batch_size"], strategy.num_replicas_in_sync)
        steps_per_epoch = (len(X) // t["batch_size"] if drop_remainder
                           else math.ceil(len(X) / t["batch_size"]))
        in_model = _augmenter(t["augment"], self.seed) if pipeline["augment_in"] == "model" \
            else None
        with strategy.scope():
            self.model_ = self.net(IMAGE_SHAPE, N_CLASSES)
            trained = self.model_
            if in_model is not None:
                # the same random layers, run inside the training graph (they pass images
                # through unchanged outside training); the saved model stays the bare net
                inputs = keras.Input(IMAGE_SHAPE)
                trained = keras.Model(inputs, self.model_(in_model(inputs)), name="augmented")
            trained.compile(
                optimizer=keras.optimizers.Adam(  # TrainingClock sets the rate each batch
                    t["lr"], use_ema=t["ema"] is not None, ema_momentum=t["ema"] or 0.99),
                loss=keras.losses.CategoricalCrossentropy(label_smoothing=t["label_smoothing"]),
                metrics=["accuracy"],
                jit_compile=t["jit_compile"],
            )
        log.info("%s: %s parameters", self.model_.name, f"{self.model_.count_params():,}")
        validation = None
        if validation_data is not None:
            validation = self._dataset(*validation_data, training=False)
        clock = TrainingClock(t, steps_per_epoch)
        callbacks = [clock, EpochProgress(clock)]  # the clock first: the line reads it
        clean = self._recalibration_images(X)
        if clean is not None and validation is not None:
            callbacks.append(batch_norm.BeforeEachScore(self.model_, clean))
        callbacks += [keras.callbacks.LambdaCallback(on_epoch_end=listener)
                      for listener in getattr(self, "_epoch_listeners", [])]
        if t.get("tensorboard") and self.log_dir:
            callbacks.append(keras.callbacks.TensorBoard(log_dir=str(self.log_dir)))
        if t["early_stopping"]:
            if validation is None:
                log.warning("trainer.early_stopping needs a holdout (data.holdout > 0): off")
            else:
                callbacks.append(keras.callbacks.EarlyStopping(
                    monitor="val_accuracy", patience=t["early_stopping"],
                    restore_best_weights=True, verbose=1))
        # with trainer.ema, Keras swaps the weights' moving average in at the end of fit
        history = trained.fit(
            self._dataset(X, y, training=True, drop_remainder=drop_remainder),
            epochs=t["epochs"],
            shuffle=False,  # the tf.data pipeline shuffles, seeded
            validation_data=validation,
            callbacks=callbacks,
            verbose=_verbosity(t["verbose"]),
        )
        if clean is not None:  # after the weights' moving average is swapped in (trainer.ema)
            done = batch_norm.recalibrate(self.model_, clean)
            if done:
                log.info("batch norm: %d layers' statistics measured again on %d clean "
                         "training images (trainer.bn_recalibration)", done, len(clean))
        self.history_ = {k: [float(v) for v in vs] for k, vs in history.history.items()}
        self.history_["seconds"] = clock.elapsed  # wall time at the end of each epoch
        self.stopped_early_ = clock.out_of_time or len(clock.elapsed) < t["epochs"]
        self.clock_ = clock
        return self

    def _recalibration_images(self, X) -> np.ndarray | None:
        """trainer.bn_recalibration's clean training images (src/models/batch_norm.py), drawn
        by the seed; None when it is off."""
        wanted = self.trainer.get("bn_recalibration") or 0
        if not wanted:
            return None
        rows = np.random.default_rng(self.seed).choice(len(X), min(wanted, len(X)),
                                                       replace=False)
        return _images(np.asarray(X)[np.sort(rows)])

    def predict_proba(self, X):
        # the fitted model keeps the devices and dtype policy it was built with
        with _process_settings(self.trainer.get("deterministic", False)):
            return self._predict_proba(X)

    def _predict_proba(self, X):
        images = _images(X)
        if not self.trainer.get("tta"):
            return self.model_.predict(images, batch_size=1024, verbose=0)
        # test-time augmentation: the mean over the image and its 1-pixel shifts
        return np.mean([self.model_.predict(np.roll(images, shift, axis=(1, 2)),
                                            batch_size=1024, verbose=0)
                        for shift in TTA_SHIFTS], axis=0)

    def predict(self, X):
        return self.predict_proba(X).argmax(axis=1)

    # what the runner needs beyond scikit-learn's API (src/models/contract.py)
    def training_records(self) -> dict[str, dict]:
        return {"history": self.history_}

    def compute_record(self) -> dict | None:
        return getattr(self, "compute_", None)  # None: loaded, not fitted here

    def log_to(self, directory: Path) -> None:
        self.set_params(log_dir=str(directory))

    def listen_to_epochs(self, listener) -> None:
        # wiring for one fit, not a setting: outside get_params, so clone() leaves it behind
        self._epoch_listeners = [*getattr(self, "_epoch_listeners", []), listener]

    def set_test_time_augmentation(self, on: bool) -> None:
        self.set_params(trainer={**self.trainer, "tta": on})

    @classmethod
    def from_saved(cls, path: Path, trainer: dict) -> KerasClassifier:
        """A fitted classifier from the archive `save` wrote (no retraining)."""
        classifier = cls(net=None, trainer=trainer)
        # uncompiled: predicting needs no optimizer, and a mixed-precision model's (a loss
        # scale wrapped around Adam) is not rebuilt with the variables it saved, which Keras
        # would warn about on every `make predict`
        classifier.model_ = keras.models.load_model(path, compile=False)
        classifier.classes_ = np.arange(N_CLASSES)
        return classifier

    def save(self, path: Path) -> None:
        """Keras' native archive; `path` must end in .keras."""
        self.model_.save(path)

    def _dataset(self, X, y, training, drop_remainder=False):
        """Batches of (image, one-hot label); training batches are shuffled, and augmented
        here unless trainer.pipeline.augment_in=model."""
        pipeline = self.trainer["pipeline"]
        images = _images(X)
        if pipeline["input_dtype"] == "float32":
            images = images.astype(np.float32)  # the same values; the net rescales either way
        data = tf.data.Dataset.from_tensor_slices((images, y.astype(np.int32)))
        if training:
            data = data.shuffle(len(X), seed=self.seed, reshuffle_each_iteration=True)
        data = data.batch(self.trainer["batch_size"], drop_remainder=drop_remainder)
        calls = pipeline["parallel_calls"]
        calls = tf.data.AUTOTUNE if calls == "auto" else calls
        augment = None
        if training and pipeline["augment_in"] == "data":
            augment = _augmenter(self.trainer["augment"], self.seed)
        if augment is not None:  # whole batches at a time: one transform op per batch
            data = data.map(lambda x, y: (augment(x, training=True), y), num_parallel_calls=calls)
        alpha = self.trainer["augment"].get("elastic", 0.0)
        if training and alpha:
            # a seed per batch, other each epoch and the same for the same trainer seed
            seeds = tf.data.Dataset.random(seed=self.seed + 3, rerandomize_each_iteration=True)
            sigma = self.trainer["augment"]["elastic_sigma"]
            data = tf.data.Dataset.zip(data, seeds).map(
                lambda xy, s: (elastic.distort(xy[0], alpha, sigma,
                                               tf.stack([s, tf.constant(self.seed, tf.int64)])),
                               xy[1]), num_parallel_calls=calls)
        data = data.map(lambda x, y: (x, tf.one_hot(y, N_CLASSES)), num_parallel_calls=calls)
        return data.prefetch(tf.data.AUTOTUNE)


def _augmenter(settings: dict, seed: int) -> keras.Sequential | None:
    """Small random rotations (degrees), shifts and zooms (fractions of the image side),
    filling with the background's 0; None when all are 0."""
    rotation, shift, zoom = settings["rotation"], settings["shift"], settings["zoom"]
    steps = []
    if rotation:
        steps.append(layers.RandomRotation(rotation / 360, fill_mode="constant", seed=seed))
    if shift:
        steps.append(layers.RandomTranslation(shift, shift, fill_mode="constant", seed=seed + 1))
    if zoom:
        steps.append(layers.RandomZoom(zoom, zoom, fill_mode="constant", seed=seed + 2))
    return keras.Sequential(steps, name="augment") if steps else None


@contextlib.contextmanager
def _process_settings(deterministic: bool, policy: str | None = None):
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


def _accelerators() -> tuple[list[str], bool]:
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


def _drop_remainder(rows: int, batch_size: int, replicas: int) -> bool:
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


def _verbosity(setting):
    # Keras' live bar on a terminal; elsewhere EpochProgress's line per epoch says it all.
    if setting == "auto":
        return 1 if sys.stdout.isatty() else 0
    return setting


def _images(X) -> np.ndarray:
    return np.asarray(X, dtype=np.uint8).reshape((-1, *IMAGE_SHAPE))


def _configure_threads(threads: int | None, inter_op_threads: int | None) -> None:
    try:
        if threads:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
        if inter_op_threads:
            tf.config.threading.set_inter_op_parallelism_threads(inter_op_threads)
    except RuntimeError:  # the runtime already started in this process; keep its setting
        log.warning("threads=%s, trainer.pipeline.inter_op_threads=%s ignored: TensorFlow was "
                    "already initialised", threads, inter_op_threads)
