"""A Keras network behind scikit-learn's fit/predict_proba API.

Takes uint8 pixel rows (N, 784), as every model here does; feeds them to the network as
(28, 28, 1) images through `tf.data`. TensorFlow places the work on a GPU when one is visible,
with no change here.
"""

from __future__ import annotations

import logging
import math
import sys
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

log = logging.getLogger(__name__)
IMAGE_SHAPE = (28, 28, 1)
N_CLASSES = 10


class KerasClassifier:
    def __init__(self, net: Callable[..., keras.Model], trainer: dict, seed: int = 0,
                 threads: int | None = None):
        self.net = net
        self.trainer = dict(trainer)
        self.seed = seed
        self.threads = threads  # TensorFlow intra-op threads; None: TensorFlow decides
        self.classes_ = np.arange(N_CLASSES)

    def __repr__(self):
        t = self.trainer
        return (f"KerasClassifier({getattr(self.net, 'func', self.net).__name__}, "
                f"epochs={t['epochs']}, batch_size={t['batch_size']}, lr={t['lr']:g}, "
                f"schedule={t['schedule']}, seed={self.seed})")

    def fit(self, X, y, validation_data=None):
        t = self.trainer
        _configure_tensorflow(self.threads, t["deterministic"])
        keras.utils.set_random_seed(self.seed)
        self.model_ = self.net(IMAGE_SHAPE, N_CLASSES)
        log.info("%s: %s parameters", self.model_.name, f"{self.model_.count_params():,}")
        steps_per_epoch = math.ceil(len(X) / t["batch_size"])
        self.model_.compile(
            optimizer=keras.optimizers.Adam(_learning_rate(t, steps_per_epoch)),
            loss=keras.losses.CategoricalCrossentropy(label_smoothing=t["label_smoothing"]),
            metrics=["accuracy"],
        )
        validation = None
        if validation_data is not None:
            validation = self._dataset(*validation_data, shuffle=False)
        history = self.model_.fit(
            self._dataset(X, y, shuffle=True),
            epochs=t["epochs"],
            shuffle=False,  # the tf.data pipeline shuffles, seeded
            validation_data=validation,
            verbose=_verbosity(t["verbose"]),
        )
        self.history_ = {k: [float(v) for v in vs] for k, vs in history.history.items()}
        return self

    def predict_proba(self, X):
        return self.model_.predict(_images(X), batch_size=1024, verbose=0)

    def predict(self, X):
        return self.predict_proba(X).argmax(axis=1)

    def save(self, path: Path) -> Path:
        """Keras' native archive; `path` must end in .keras."""
        self.model_.save(path)
        return path

    def _dataset(self, X, y, shuffle):
        data = tf.data.Dataset.from_tensor_slices((_images(X), y.astype(np.int32)))
        if shuffle:
            data = data.shuffle(len(X), seed=self.seed, reshuffle_each_iteration=True)
        data = data.batch(self.trainer["batch_size"])
        data = data.map(lambda x, y: (x, tf.one_hot(y, N_CLASSES)),
                        num_parallel_calls=tf.data.AUTOTUNE)
        return data.prefetch(tf.data.AUTOTUNE)


def _verbosity(setting):
    # A live progress bar on a terminal; one line per epoch in a log file or a pipe.
    if setting == "auto":
        return 1 if sys.stdout.isatty() else 2
    return setting


def _images(X) -> np.ndarray:
    return np.asarray(X, dtype=np.uint8).reshape((-1, *IMAGE_SHAPE))


def _learning_rate(t: dict, steps_per_epoch: int):
    if t["schedule"] == "constant":
        return t["lr"]
    total = t["epochs"] * steps_per_epoch
    warmup = min(t["warmup_epochs"] * steps_per_epoch, total - 1)
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=t["lr"] / 10 if warmup else t["lr"],
        decay_steps=total - warmup,
        warmup_target=t["lr"] if warmup else None,
        warmup_steps=warmup,
    )


def _configure_tensorflow(threads: int | None, deterministic: bool) -> None:
    try:
        if threads:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
    except RuntimeError:  # the runtime already started in this process; keep its setting
        log.warning("threads=%s ignored: TensorFlow was already initialised", threads)
    if deterministic:
        tf.config.experimental.enable_op_determinism()
