"""The Keras trainer's options: trainer.epochs is exactly the epochs trained, with a line per
epoch saying the time left; an opt-in time budget stops on time (and a cosine schedule anneals
to fit it); test-time augmentation is off by default and, when on, is exactly the mean over the
shifted views; early stopping keeps the best epoch; augmentation touches only training
batches."""

import json
import re
import time

import keras
import numpy as np
import pytest
from hydra.utils import instantiate

from src.models import input_pipeline
from src.models.input_pipeline import augmenter
from src.models.keras_classifier import TTA_SHIFTS, KerasClassifier
from src.models.progress import duration, seconds_left
from src.models.training_schedule import TrainingSchedule, cosine_with_warmup
from tests.helpers import KERAS, compose_with, digit_images, train


def classifier(model="nn", *overrides, **trainer):
    cfg = compose_with(f"model={model}", "trainer.verbose=0", "threads=2", *overrides,
                       *(f"trainer.{k}={v}" for k, v in trainer.items()))
    return instantiate(cfg.model.estimator, _convert_="all")


@pytest.fixture(scope="module")
def digits():
    return digit_images(200, seed=5)


@pytest.fixture
def fake_clock(monkeypatch):
    """TrainingSchedule's wall clock, one second further at every reading: a real fit, timed by
    its batches and epochs rather than by the machine."""
    ticks = iter(range(10**9))
    monkeypatch.setattr(TrainingSchedule, "clock", staticmethod(lambda: float(next(ticks))))


def test_a_time_budget_stops_training_within_a_batch_of_it(digits, fake_clock):
    X, y = digits  # 200 rows in batches of 8: 25 batches an epoch, 27 clock readings
    budget = 40.0
    model = classifier(epochs=100000, batch_size=8, time_budget=budget,
                       schedule="constant").fit(X, y)
    clock = model.schedule_
    assert model.stopped_early_ and clock.out_of_time
    # at the first batch end past the budget, mid-epoch, not at the end of the epoch
    assert budget <= clock.stopped_at <= budget + max(clock.batch_seconds)
    assert clock.step % 25 != 0 and len(clock.elapsed) == int(budget // 27) + 1
    assert len(model.history_["loss"]) == len(clock.elapsed)


def test_a_cosine_run_shortened_by_its_time_budget_still_anneals(digits, fake_clock):
    X, y = digits
    budget, peak = 6 * 27 + 10, 3e-3  # 6 whole epochs of fake time, and part of a 7th
    model = classifier(epochs=100000, batch_size=8, time_budget=budget, lr=peak,
                       schedule="cosine").fit(X, y)
    clock = model.schedule_
    # the plan shrank to the 6 epochs that fit, and training ended there, annealed, before
    # the budget: not at the peak it would still be at for a 100000-epoch plan
    assert clock.planned_epochs == 6 and len(clock.elapsed) == 6 and not clock.out_of_time
    assert model.history_["learning_rate"][-1] < 0.05 * peak
    assert max(model.history_["learning_rate"]) > 0.5 * peak


class _FakeModel:
    stop_training = False

    class optimizer:  # noqa: N801  the attribute TrainingSchedule sets
        learning_rate = None


def _run_clock(monkeypatch, epoch_seconds, epochs=10, budget=100.0):
    """Drive a TrainingSchedule through epochs of 2 batches taking the given wall times."""
    now = [0.0]
    monkeypatch.setattr(TrainingSchedule, "clock", staticmethod(lambda: now[0]))
    trainer = {"lr": 1.0, "schedule": "cosine", "warmup_epochs": 0, "decay": 1.0,
               "time_budget": budget, "epochs": epochs}
    clock = TrainingSchedule(trainer, steps_per_epoch=2)
    clock.set_model(_FakeModel())
    clock.on_train_begin()
    plans = []
    for epoch, seconds in enumerate(epoch_seconds):
        clock.on_epoch_begin(epoch)
        for batch in range(2):
            clock.on_train_batch_begin(batch)
            now[0] += seconds / 2
            clock.on_train_batch_end(batch)
        clock.on_epoch_end(epoch, {})
        plans.append(clock.planned_epochs)
        if clock.model.stop_training:
            break
    return clock, plans


def test_the_budget_plan_shrinks_to_fit_grows_back_and_never_passes_epochs(monkeypatch):
    # 9 s epochs in a 100 s budget: all 10 fit, the plan never moves
    _, plans = _run_clock(monkeypatch, [9] * 10)
    assert plans == [10] * 10
    # 19 s epochs: 5 fit; training ends after the 5th, annealed, before the budget
    clock, plans = _run_clock(monkeypatch, [19] * 10)
    assert plans[-1] == 5 and len(plans) == 5 and not clock.out_of_time
    assert clock.learning_rates[-1] < 0.05 < clock.learning_rates[0]
    # one slow epoch early on shrinks the plan; the pace recovers and the plan grows back
    _, plans = _run_clock(monkeypatch, [10, 40] + [5] * 20)
    assert min(plans) < max(plans[plans.index(min(plans)):]) <= 10
    # a budget overrun mid-epoch stops training there, whatever the plan
    clock, plans = _run_clock(monkeypatch, [10, 95])
    assert clock.out_of_time and clock.stopped_at == pytest.approx(105) and len(plans) == 2


def test_the_learning_rate_warms_up_then_follows_a_cosine_to_zero():
    peak, warmup, total = 1.0, 10, 110
    rates = [cosine_with_warmup(s, peak, warmup, total) for s in range(total + 1)]
    assert rates[0] == pytest.approx(peak / 10) and rates[warmup] == pytest.approx(peak)
    assert all(a < b for a, b in zip(rates[:warmup], rates[1:warmup + 1], strict=True))
    assert all(a >= b for a, b in zip(rates[warmup:], rates[warmup + 1:], strict=False))
    assert rates[warmup + 50] == pytest.approx(peak / 2) and rates[total] == pytest.approx(0)


def test_no_time_budget_runs_every_epoch(digits):
    X, y = digits
    model = classifier(epochs=3).fit(X, y)
    assert len(model.history_["seconds"]) == 3 and not model.stopped_early_


def test_the_keras_classifier_is_a_scikit_learn_estimator(digits):
    from sklearn.base import clone, is_classifier
    from sklearn.model_selection import cross_val_score

    X, y = digits
    model = classifier(epochs=2)
    assert is_classifier(model)
    twin = clone(model)
    assert twin is not model and twin.get_params()["trainer"] == model.get_params()["trainer"]
    twin.set_params(seed=7)
    assert (twin.seed, model.seed) == (7, 42)
    scores = cross_val_score(model, X, y, cv=2)  # clones, fits and scores each fold
    assert scores.shape == (2,) and (scores > 0.5).all()  # learnable digits, 10 classes
    assert not hasattr(model, "model_")  # cross_val_score fit clones, never the original
    fitted = clone(model).fit(X, y)
    unseen, truth = digit_images(100, seed=6)
    assert fitted.score(unseen, truth) > 0.9  # images it never saw, of the same classes
    assert set(fitted.classes_) == set(range(10))
    from src.models import persist

    assert KerasClassifier.file_suffix == ".keras"  # Keras' own archive format
    assert KerasClassifier.file_suffix in persist.SUFFIXES  # what loading looks for


def test_a_fit_leaves_the_process_wide_tensorflow_settings_as_it_found_them(digits):
    import keras
    from tensorflow.python.framework import config as tf_config

    def settings():
        return keras.mixed_precision.global_policy().name, tf_config.is_op_determinism_enabled()

    X, y = digits
    before = settings()
    model = classifier(epochs=1, deterministic=True).fit(X, y)
    model.predict_proba(X)
    assert settings() == before == ("float32", False)


def test_tta_is_off_by_default_and_is_the_mean_over_shifted_views(digits):
    X, y = digits
    model = classifier(epochs=2).fit(X, y)
    # off by default, for every model: 5x the predict time for no gain on the holdout
    for name in sorted(KERAS):
        assert compose_with(f"model={name}").trainer.tta is False
    # predict_proba's batch size: another one may round the last digit differently
    plain = model.model_.predict(X.reshape(-1, 28, 28, 1), batch_size=1024, verbose=0)
    assert np.array_equal(model.predict_proba(X), plain)
    model.set_test_time_augmentation(True)
    views = [model.model_.predict(np.roll(X.reshape(-1, 28, 28, 1), s, axis=(1, 2)),
                                  batch_size=1024, verbose=0)
             for s in TTA_SHIFTS]
    with_tta = model.predict_proba(X)
    np.testing.assert_allclose(with_tta, np.mean(views, axis=0), rtol=1e-6)
    assert not np.allclose(with_tta, plain)


def test_early_stopping_keeps_the_best_holdout_epoch(digits):
    X, y = digits
    model = classifier(epochs=40, early_stopping=2, lr=0.05).fit(
        X[:150], y[:150], validation_data=(X[150:], y[150:]))
    accuracy = model.history_["val_accuracy"]
    assert len(accuracy) < 40  # it stopped
    held = model.predict_proba(X[150:]).argmax(axis=1)
    assert np.mean(held == y[150:]) == pytest.approx(max(accuracy), abs=1e-6)


def test_the_input_pipeline_augments_training_batches_only(digits):
    X, y = digits
    originals = {image.tobytes() for image in X.reshape(-1, 28, 28, 1).astype(np.float32)}

    def images(model, training):
        return [x.astype(np.float32).tobytes()
                for batch, _ in input_pipeline.dataset(X, y, model.trainer, model.seed,
                                                       training=training)
                for x in batch.numpy()]

    cnn, nn = classifier(model="cnn", epochs=1), classifier(model="nn", epochs=1)
    assert all(i in originals for i in images(cnn, training=False))  # holdout/test: untouched
    assert sum(i in originals for i in images(cnn, training=True)) < len(X) // 10
    assert all(i in originals for i in images(nn, training=True))  # no augmentation asked


def test_augmentation_changes_training_images_only():
    augment = augmenter({"rotation": 10.0, "shift": 0.1, "zoom": 0.1}, seed=0)
    images = digit_images(8, seed=3)[0].reshape(-1, 28, 28, 1).astype("float32")
    changed = np.asarray(augment(images, training=True))
    assert changed.shape == images.shape and not np.allclose(changed, images)
    assert np.array_equal(np.asarray(augment(images, training=False)), images)
    assert augmenter({"rotation": 0.0, "shift": 0.0, "zoom": 0.0}, seed=0) is None


def test_a_saved_keras_model_predicts_as_before(digits, tmp_path):
    X, y = digits
    model = classifier(epochs=1).fit(X, y)
    model.save(tmp_path / "m.keras")
    again = KerasClassifier.from_saved(tmp_path / "m.keras", model.trainer)
    np.testing.assert_allclose(again.predict_proba(X), model.predict_proba(X), rtol=1e-6)


def test_the_command_line_trains_exactly_the_epochs_asked_and_logs_the_time_left(
        tiny_data, tmp_path):
    result = train(tiny_data, tmp_path, "model=cnn", "model.estimator.net.filters=[8]",
                   "trainer.epochs=3", "figures=false", in_process=True)
    assert result.returncode == 0, result.stderr[-3000:]
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert len(history["loss"]) == len(history["seconds"]) == 3
    # one line per epoch, with the time so far and what remains, also when not a terminal
    lines = re.findall(r"epoch (\d)/3 .*\|\s+(\S+) elapsed, about (\S+) left", result.stdout)
    assert [n for n, _, _ in lines] == ["1", "2", "3"] and lines[-1][2] == "0s"


def test_an_explicit_time_budget_still_cuts_a_command_line_run(tiny_data, tmp_path):
    started = time.perf_counter()
    # a constant rate: with nn's cosine the run plans the whole epochs that fit and, on a fast
    # machine, may end on the last of them a little before the budget, which is no cut
    result = train(tiny_data, tmp_path, "model=nn", "trainer.epochs=100000",
                   "trainer.schedule=constant", "trainer.batch_size=8", "trainer.time_budget=1",
                   "figures=false", in_process=True)
    wall = time.perf_counter() - started
    assert result.returncode == 0, result.stderr[-3000:]
    # the real clock, in seconds: the stop came past the budget, within the command's life
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert 1 <= history["seconds"][-1] < wall
    # the budget, not the epochs, ended it (when, to the batch, is the fake-clock tests' job)
    assert "trainer.time_budget=1s reached: training stops here" in \
        (tmp_path / "run" / "run.log").read_text()
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["models"][0]["epochs"] < 100000


def test_the_time_left_is_the_planned_epochs_at_the_pace_after_the_first():
    assert seconds_left([30.0], planned_epochs=4) == pytest.approx(90)
    # the first epoch (tracing) took 30 s, the others 10 s each: 5 more at 10 s
    assert seconds_left([30.0, 40.0, 50.0], planned_epochs=8) == pytest.approx(50)
    assert seconds_left([30.0, 40.0], planned_epochs=2) == 0
    # a time budget ends the run first: 100 s in all, 50 s gone
    assert seconds_left([30.0, 40.0, 50.0], planned_epochs=80, budget=100) == pytest.approx(50)
    assert [duration(s) for s in (4.4, 65, 3725)] == ["4s", "1m05s", "1h02m"]


def test_the_exponential_schedule_decays_once_an_epoch():
    trainer = {"lr": 1e-3, "schedule": "exponential", "decay": 0.95, "warmup_epochs": 0,
               "time_budget": None, "epochs": 45}
    clock = TrainingSchedule(trainer, steps_per_epoch=10)
    assert clock.learning_rate(0) == clock.learning_rate(9) == pytest.approx(1e-3)
    assert clock.learning_rate(10) == pytest.approx(0.95e-3)
    assert clock.learning_rate(445) == pytest.approx(1e-3 * 0.95 ** 44)
    # a warm-up epoch first rises from lr/10, then the decay goes on from epoch 1
    clock = TrainingSchedule({**trainer, "warmup_epochs": 1}, steps_per_epoch=10)
    assert clock.learning_rate(0) == pytest.approx(1e-4) and clock.learning_rate(5) < 1e-3
    assert clock.learning_rate(10) == pytest.approx(0.95e-3)


def test_ema_predicts_with_the_moving_average_of_the_weights(digits):
    X, y = digits
    plain = classifier(epochs=2).fit(X, y)
    averaged = classifier(epochs=2, ema=0.9).fit(X, y)
    # the same seed and batches: only the swap of the average at the end differs
    assert plain.history_["loss"] == averaged.history_["loss"]
    moving = averaged.model_.optimizer._model_variables_moving_average
    for weight, average in zip(averaged.model_.trainable_variables, moving, strict=True):
        np.testing.assert_array_equal(weight.numpy(), average.numpy())
    assert not np.array_equal(plain.predict_proba(X), averaged.predict_proba(X))


def test_ema_without_batch_norm_recalibration_is_warned_about_where_there_is_batch_norm(
        digits, caplog):
    X, y = digits
    warning = "trainer.ema=0.9 with trainer.bn_recalibration=0"
    classifier(model="nn", epochs=1, ema=0.9, bn_recalibration=0).fit(X, y)
    assert warning not in caplog.text  # no batch norm: nothing to measure again
    small = ("model.estimator.net.filters=[4]", "model.estimator.net.dense=8")
    classifier("cnn", *small, epochs=1, ema=0.9, bn_recalibration=2048).fit(X, y)
    assert warning not in caplog.text
    classifier("cnn", *small, epochs=1, ema=0.9, bn_recalibration=0).fit(X, y)
    assert warning in caplog.text


@pytest.mark.heavy
def test_augmentation_inside_the_model_trains_and_saves_the_bare_net(digits, tmp_path):
    X, y = digits
    inside = classifier(model="cnn", epochs=1, **{"pipeline.augment_in": "model",
                                                   "pipeline.input_dtype": "float32",
                                                   "pipeline.parallel_calls": 1}).fit(X, y)
    unaugmented = classifier(model="cnn", epochs=1, **{
        "augment.rotation": 0, "augment.shift": 0, "augment.zoom": 0,
        "pipeline.input_dtype": "float32", "pipeline.parallel_calls": 1}).fit(X, y)
    # the pipeline feeds the model unaugmented batches ...
    originals = {image.tobytes() for image in X.reshape(-1, 28, 28, 1).astype(np.float32)}
    fed = [x.astype(np.float32).tobytes()
           for batch, _ in input_pipeline.dataset(X, y, inside.trainer, inside.seed, training=True)
           for x in batch.numpy()]
    assert all(i in originals for i in fed)
    # ... and the model augments them: the same seed and batches, another training run
    assert inside.history_["loss"] != unaugmented.history_["loss"]
    net = classifier(model="cnn").net((28, 28, 1), 10)
    assert [type(lay) for lay in inside.model_.layers] == [type(lay) for lay in net.layers]
    inside.save(tmp_path / "m.keras")
    again = KerasClassifier.from_saved(tmp_path / "m.keras", inside.trainer)
    np.testing.assert_allclose(again.predict_proba(X), inside.predict_proba(X), rtol=1e-5)


def test_the_default_cnn_predicts_after_one_epoch_as_well_as_it_trained():
    # One fast epoch (the warm-up rises to the peak rate at its end) moves the weights faster
    # than batch norm's moving statistics follow at Keras' momentum of 0.99: such a model
    # trained at 0.74 and predicted at chance. The default measures them again on clean images
    # after training, and its momentum of 0.9 keeps up on its own.
    # 40 batches of 16: enough steps for the lag to show (measured: trained 0.58, predicted
    # 0.08 at momentum 0.99 without the recalibration; 30 batches left it at 0.46)
    X, y = digit_images(800, seed=5)
    fit, held = slice(0, 640), slice(640, None)

    def one_epoch(*overrides, validation=None):
        cfg = compose_with("model=cnn", "trainer.epochs=1", "trainer.batch_size=16",
                           "trainer.verbose=0", "trainer.tensorboard=false", "threads=1",
                           *overrides)
        model = instantiate(cfg.model.estimator, _convert_="all").fit(X[fit], y[fit],
                                                                      validation)
        return model, np.mean(model.predict(X[held]) == y[held])

    # each of the default's two guards on its own (three fits where four would repeat one)
    default = compose_with()  # what `python -m src.run` trains
    assert default.model.estimator.net.bn_momentum == 0.9
    assert default.trainer.bn_recalibration > 0
    model, predicted = one_epoch("trainer.bn_recalibration=0")  # the momentum alone
    trained = model.history_["accuracy"][-1]
    assert trained > 0.5 and predicted >= trained - 0.05
    model, lagging = one_epoch("trainer.bn_recalibration=0",
                               "model.estimator.net.bn_momentum=0.99")
    assert lagging < model.history_["accuracy"][-1] - 0.3  # what both guard against
    # the recalibration alone, and before the epoch's holdout score: that score is the
    # final model's (the same clean images set the same statistics)
    model, predicted = one_epoch("model.estimator.net.bn_momentum=0.99",
                                 validation=(X[held], y[held]))
    assert predicted >= model.history_["accuracy"][-1] - 0.05
    assert model.history_["val_accuracy"][-1] == pytest.approx(predicted, abs=1e-6)


def test_recalibration_gives_batch_norm_the_statistics_of_clean_inputs():
    from src.models.batch_norm import recalibrate

    inputs = keras.Input((28, 28, 1))
    x = keras.layers.Dropout(0.5)(inputs)
    x = keras.layers.Conv2D(3, 3, use_bias=False)(x)
    norm = keras.layers.BatchNormalization(momentum=0.9)
    outputs = norm(x)
    net = keras.Model(inputs, outputs)
    images = np.random.default_rng(0).integers(0, 255, (512, 28, 28, 1)).astype(np.uint8)
    assert recalibrate(net, images) == 1
    # the statistics of what reaches the layer at inference (dropout off), over two chunks:
    # the mean exact, the variance short only by the spread of the chunks' means
    features = keras.Model(inputs, x)(images.astype(np.float32), training=False).numpy()
    np.testing.assert_allclose(norm.moving_mean.numpy(), features.mean(axis=(0, 1, 2)),
                               rtol=1e-4)
    np.testing.assert_allclose(norm.moving_variance.numpy(), features.var(axis=(0, 1, 2)),
                               rtol=1e-2)
    assert norm.momentum == 0.9 and net.layers[1].rate == 0.5  # settings put back
    assert recalibrate(keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]),
                       images) == 0  # nothing to do without batch norm


def test_elastic_distortion_gives_each_image_its_own_field_in_both_directions():
    import tensorflow as tf

    from src.models import elastic

    image = np.zeros((28, 28, 1), np.uint8)
    image[6:22, 12:16] = 255  # a vertical stroke
    batch = tf.constant(np.stack([image, image]))
    seed = tf.constant([3, 4], tf.int64)
    out = elastic.distort(batch, alpha=20.0, sigma=4.0, seed=seed).numpy()
    assert out.shape == (2, 28, 28, 1) and out.dtype == np.float32
    assert out.min() >= 0 and out.max() <= 255 + 1e-3
    assert not np.allclose(out[0], out[1])  # the same image, two fields
    assert np.array_equal(out, elastic.distort(batch, 20.0, 4.0, seed).numpy())  # seeded
    field = elastic.displacement((2, 28, 28), 20.0, 4.0, seed).numpy()
    assert not np.allclose(field[..., 0], field[..., 1])  # dy and dx drawn apart
    # smoothed uniform noise times alpha: no pixel moves further than alpha
    assert 0 < np.abs(field).max() <= 20.0
    assert np.array_equal(elastic.distort(batch, 0.0, 4.0, seed).numpy(), batch.numpy())


def test_elastic_distortion_of_a_share_of_the_batch_leaves_the_rest_as_they_came():
    import tensorflow as tf

    from src.models import elastic

    image = np.zeros((28, 28, 1), np.uint8)
    image[6:22, 12:16] = 255
    batch = tf.constant(np.repeat(image[None], 400, axis=0))
    seed = tf.constant([3, 4], tf.int64)
    out = elastic.distort(batch, alpha=20.0, sigma=4.0, seed=seed, share=0.25).numpy()
    kept = np.all(out == image.astype(np.float32), axis=(1, 2, 3))
    assert 0.65 < kept.mean() < 0.85  # about 3 in 4 untouched (binomial: 0.75 +/- 0.022)
    everything = elastic.distort(batch, 20.0, 4.0, seed).numpy()
    # the others are the very distortions a share of 1 makes, so the share only chooses
    np.testing.assert_array_equal(out[~kept], everything[~kept])
    assert not np.all(everything == image.astype(np.float32), axis=(1, 2, 3)).any()
    np.testing.assert_array_equal(out, elastic.distort(batch, 20.0, 4.0, seed, 0.25).numpy())


def test_the_training_pipeline_distorts_the_share_of_images_its_trainer_asks():
    from omegaconf import OmegaConf

    from src.models.input_pipeline import dataset

    image = np.zeros((28 * 28,), np.uint8)
    image[200:500:28] = 255
    X, y = np.repeat(image[None], 256, axis=0), np.zeros(256, int)

    def untouched(share):
        cfg = compose_with("model=cnn", "trainer.augment.rotation=0", "trainer.augment.shift=0",
                           "trainer.augment.zoom=0", "trainer.augment.elastic=20",
                           f"trainer.augment.elastic_share={share}")
        trainer = OmegaConf.to_container(cfg.trainer)
        images = np.concatenate([x for x, _ in dataset(X, y, trainer, seed=0, training=True)])
        return np.mean(np.all(images.reshape(256, -1) == image, axis=1))

    assert untouched(1.0) == 0
    assert 0.35 < untouched(0.5) < 0.65  # binomial: 0.5 +/- 0.031


def test_a_cnn_trains_with_elastic_distortion_in_its_pipeline(digits):
    X, y = digits
    model = classifier("cnn", epochs=2, batch_size=32, **{"augment.elastic": 20.0}).fit(X, y)
    assert len(model.history_["loss"]) == 2
    assert model.history_["loss"][1] < model.history_["loss"][0]
