"""A Keras network behind scikit-learn's fit/predict_proba API.

Takes uint8 pixel rows (N, 784), as every model here does; feeds them to the network as
(28, 28, 1) images through `tf.data`, augmented on the fly (training batches only) when the
trainer asks. TensorFlow places the work on a GPU when one is visible, with no change here:
one GPU trains in mixed precision, several through a MirroredStrategy (src/models/compute.py).
Tests run those paths on a CPU through compute's SIMULATED_GPUS hook. The input pipeline is
src/models/input_pipeline.py.

A scikit-learn estimator: `clone`, `cross_val_score`, `GridSearchCV` and `Pipeline` take it.
Its parameters are stored as given (scikit-learn's rule), so `trainer` is never changed in
place; `set_params(trainer=...)` replaces it.
"""

from __future__ import annotations

import logging
import math
import os
import sys
from collections.abc import Callable
from numbers import Integral
from pathlib import Path

import keras
import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils._param_validation import Interval

from src.models import batch_norm, compute, contract, input_pipeline
from src.models.contract import RunnerModel
from src.models.deskew import deskew
from src.models.progress import EpochProgress
from src.models.training_schedule import TrainingSchedule

log = logging.getLogger(__name__)
# Test-time augmentation's views: the image itself and its 1-pixel shifts (a digit's blank
# border makes a roll a shift).
TTA_SHIFTS = [(0, 0), (1, 0), (-1, 0), (0, 1), (0, -1)]


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
        "deskew": ["boolean"],
    }

    def __init__(self, net: Callable[..., keras.Model] | None = None, trainer: dict | None = None,
                 seed: int = 0, threads: int | None = None, log_dir: str | None = None,
                 deskew: bool = False):
        self.net = net  # (input shape, classes) -> an uncompiled keras.Model
        self.trainer = trainer  # the trainer config group, as a dict (conf/trainer/)
        self.seed = seed
        self.threads = threads  # TensorFlow intra-op threads; None: TensorFlow decides
        self.log_dir = log_dir  # TensorBoard logs go here when trainer.tensorboard is on
        self.deskew = deskew  # every image sheared upright first, in fit and predict

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
        compute.configure_threads(self.threads, t["pipeline"]["inter_op_threads"])
        accelerators, simulated = compute.accelerators()
        plan = compute.compute_plan(accelerators, t["mixed_precision"], simulated)
        with compute.process_settings(t["deterministic"], plan.policy):
            strategy = plan.strategy()
            self.compute_ = plan.record(strategy)
            log.info("compute: %s, %s over %d replica(s)%s", plan.policy,
                     "MirroredStrategy" if plan.mirrored else "the default strategy",
                     strategy.num_replicas_in_sync,
                     f" ({compute.SIMULATED_GPUS}: logical CPUs as GPUs)" if simulated else "")
            return self._fit(X, y, validation_data, strategy)

    def _fit(self, X, y, validation_data, strategy):
        t = self.trainer
        X = self._preprocess(X)
        if validation_data is not None:
            validation_data = (self._preprocess(validation_data[0]), *validation_data[1:])
        self.classes_ = np.arange(input_pipeline.N_CLASSES)
        pipeline = t["pipeline"]
        keras.utils.set_random_seed(self.seed)
        drop_remainder = compute.drop_remainder(len(X), t["batch_size"],
                                                strategy.num_replicas_in_sync)
        steps_per_epoch = (len(X) // t["batch_size"] if drop_remainder
                           else math.ceil(len(X) / t["batch_size"]))
        in_model = (input_pipeline.augmenter(t["augment"], self.seed)
                    if pipeline["augment_in"] == "model" else None)
        with strategy.scope():
            self.model_ = self.net(input_pipeline.IMAGE_SHAPE, input_pipeline.N_CLASSES)
            trained = self.model_
            if in_model is not None:
                # the same random layers, run inside the training graph (they pass images
                # through unchanged outside training); the saved model stays the bare net
                inputs = keras.Input(input_pipeline.IMAGE_SHAPE)
                trained = keras.Model(inputs, self.model_(in_model(inputs)), name="augmented")
            trained.compile(
                optimizer=keras.optimizers.Adam(  # TrainingSchedule sets the rate each batch
                    t["lr"], use_ema=t["ema"] is not None, ema_momentum=t["ema"] or 0.99),
                loss=keras.losses.CategoricalCrossentropy(label_smoothing=t["label_smoothing"]),
                metrics=["accuracy"],
                jit_compile=t["jit_compile"],
            )
        log.info("%s: %s parameters", self.model_.name, f"{self.model_.count_params():,}")
        validation = None
        if validation_data is not None:
            validation = input_pipeline.dataset(*validation_data, t, self.seed, training=False)
        schedule = TrainingSchedule(t, steps_per_epoch)
        callbacks = [schedule, EpochProgress(schedule)]  # the schedule first: the line reads it
        clean = self._recalibration_images(X)
        if t["ema"] is not None and clean is None and batch_norm.norm_layers(self.model_):
            log.warning("trainer.ema=%s with trainer.bn_recalibration=0: batch norm keeps the "
                        "statistics of the last weights, not of their average; set "
                        "trainer.bn_recalibration=2048 to measure them again", t["ema"])
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
            input_pipeline.dataset(X, y, t, self.seed, training=True,
                                   drop_remainder=drop_remainder),
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
        self.history_["seconds"] = schedule.elapsed  # wall time at the end of each epoch
        self.stopped_early_ = schedule.out_of_time or len(schedule.elapsed) < t["epochs"]
        self.schedule_ = schedule
        return self

    def _recalibration_images(self, X) -> np.ndarray | None:
        """trainer.bn_recalibration's clean training images (src/models/batch_norm.py), drawn
        by the seed; None when it is off."""
        wanted = self.trainer.get("bn_recalibration") or 0
        if not wanted:
            return None
        rows = np.random.default_rng(self.seed).choice(len(X), min(wanted, len(X)),
                                                       replace=False)
        return input_pipeline.as_images(np.asarray(X)[np.sort(rows)])

    def predict_proba(self, X):
        # the fitted model keeps the devices and dtype policy it was built with
        with compute.process_settings(self.trainer.get("deterministic", False)):
            return self._predict_proba(X)

    def _preprocess(self, X):
        # before augmentation, so training distorts upright digits, as inference sees them
        return deskew(X) if self.deskew else X

    def _predict_proba(self, X):
        images = input_pipeline.as_images(self._preprocess(X))
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
    def from_saved(cls, path: Path, trainer: dict, deskew: bool = False) -> KerasClassifier:
        """A fitted classifier from the archive `save` wrote (no retraining), with the run's
        trainer settings and its deskew."""
        classifier = cls(net=None, trainer=trainer, deskew=deskew)
        # uncompiled: predicting needs no optimizer, and a mixed-precision model's (a loss
        # scale wrapped around Adam) is not rebuilt with the variables it saved, which Keras
        # would warn about on every `make predict`
        classifier.model_ = keras.models.load_model(path, compile=False)
        classifier.classes_ = np.arange(input_pipeline.N_CLASSES)
        return classifier

    def save(self, path: Path) -> None:
        """Keras' native archive; `path` must end in .keras."""
        self.model_.save(path)


def _verbosity(setting):
    # Keras' live bar on a terminal; elsewhere EpochProgress's line per epoch says it all.
    if setting == "auto":
        return 1 if sys.stdout.isatty() else 0
    return setting


