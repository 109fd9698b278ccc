"""The GPU code paths, run without a GPU. DIGITS_SIMULATED_GPUS=N (src/models/compute.py)
makes training count N logical CPU devices as GPUs, so the production path itself runs: one
"GPU" trains in mixed precision (float16 compute, float32 weights and softmax, loss scaling),
two through a MirroredStrategy, through the real command line on tiny data; the saved models
predict the classes a float32 run of the same seed predicts, record where they trained, and
reload in a plain process as `make predict` does. TensorFlow splits the CPU only before it
initialises, so each run is a fresh process."""

import json

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from src.models.compute import (
    MIXED,
    SIMULATED_GPUS,
    accelerators,
    compute_plan,
    drop_remainder,
)
from src.utils.errors import ConfigError
from tests import helpers
from tests.helpers import make_data_dir, run_module

pytestmark = pytest.mark.integration  # simulated GPUs

# The default CNN's layers (convolutions, batch norm, pooling, dense, float32 softmax), made
# small: float16 convolution gradients have no fast CPU kernel (about 200x float32's), so the
# full-size net takes minutes a step here. No augmentation, dropout or label smoothing: the
# comparison is then between runs that differ only where the device path makes them differ.
# (With augmentation, a MirroredStrategy run draws other transforms and, below, other
# shuffles: another training run, 80% agreement after 4 epochs, nothing to do with rounding.)
SMALL_CNN = ("model=cnn", "model.estimator.net.filters=[8]", "model.estimator.net.dense=64",
             "model.estimator.net.dropout=0", "model.estimator.net.dense_dropout=0",
             "trainer.label_smoothing=0", "trainer.augment.rotation=0",
             "trainer.augment.shift=0", "trainer.augment.zoom=0", "trainer.batch_size=16",
             "trainer.epochs=1", "figures=false", "trainer.tensorboard=false", "seed=3")
# How often the float16 / mirrored models' test classes must match the float32 model's. A row
# changes class only if its two best probabilities move by half their float32 margin or more,
# so flips are near ties. Measured with the settings above (seeds 1-3, 1 and 2 epochs, five
# runs of 1000 test rows each way, 2026-12-03):
# - one GPU: float16 rounding moved no probability by more than 0.003 and changed no class in
#   the 5000 rows. (With augmentation, 4 epochs: at most 0.02, and 2 rows of 1000 flipped,
#   both with margins under 0.005.) 0.98 lets 2 of tiny_data's 120 test rows be such near ties;
#   a broken mixed-precision path (unscaled gradients, a float16 softmax, NaN) costs far more.
# - two GPUs: besides the other reduction order, each replica's batch norm sees half of each
#   batch, and Keras draws one batch from the training data before the first epoch when a
#   model has a strategy (to build it), so every epoch trains on the next epoch's shuffle:
#   another training run. Probabilities moved by up to 0.086, yet no class changed in the
#   5000 rows; 0.95 lets 6 of 120 flip.
# On tiny_data (seed 3, 1 epoch): both agree on 120 of 120 rows; the largest probability
# changes are 0.0016 and 0.042, against a smallest float32 margin of 0.075.
ONE_GPU_AGREEMENT, TWO_GPU_AGREEMENT = 0.98, 0.95
ONE_GPU_PROBA = 0.01  # float16's largest probability change above (0.003), with room


def test_the_compute_plan_follows_the_devices_and_trainer_mixed_precision():
    for setting in ("auto", False):  # a CPU computes in float32
        plan = compute_plan([], setting)
        assert (plan.policy, plan.mirrored) == ("float32", False)
    with pytest.raises(ConfigError, match="mixed_precision=true needs a GPU"):
        compute_plan([], True)  # insisting on float16 where auto would not use it
    one = compute_plan(["/device:GPU:0"], "auto")
    assert (one.policy, one.mirrored, one.accelerators) == (MIXED, False, ("/device:GPU:0",))
    assert compute_plan(["/device:GPU:0"], True).policy == MIXED
    assert compute_plan(["/device:GPU:0"], False).policy == "float32"
    two = compute_plan(["/device:GPU:0", "/device:GPU:1"], "auto")
    assert (two.policy, two.mirrored) == (MIXED, True)
    assert compute_plan(["/device:GPU:0", "/device:GPU:1"], False).policy == "float32"


def test_the_simulation_hook_refuses_what_it_cannot_do(monkeypatch):
    monkeypatch.setenv(SIMULATED_GPUS, "two")
    with pytest.raises(ConfigError, match="not an integer"):
        accelerators()
    tf.config.list_logical_devices("CPU")  # TensorFlow initialised: the CPU can split no more
    monkeypatch.setenv(SIMULATED_GPUS, "2")
    with pytest.raises(ConfigError, match="before the process starts"):
        accelerators()
    monkeypatch.setenv(SIMULATED_GPUS, "1")  # one device needs no split
    assert accelerators() == ([tf.config.list_logical_devices("CPU")[0].name], True)
    monkeypatch.delenv(SIMULATED_GPUS)
    assert accelerators() == ([], False)  # this machine has no GPU


def test_no_replica_is_left_without_rows_of_a_batch():
    assert not drop_remainder(270, 16, replicas=1)
    assert not drop_remainder(273, 16, replicas=1)
    assert not drop_remainder(270, 16, replicas=2)  # a last batch of 14: 7 each
    assert drop_remainder(273, 16, replicas=2)  # a last batch of 1: one replica gets none
    # 37767 = 295 * 128 + 7: 8 GPUs, one without a row; 37768 leaves one row for each
    assert drop_remainder(37767, 128, replicas=8) and not drop_remainder(37768, 128, 8)
    with pytest.raises(ConfigError, match="batch_size=4 is smaller than the 8 replicas"):
        drop_remainder(1000, 4, replicas=8)


def train(data_dir, out, *overrides, gpus: str | None):
    """tests.helpers.train with the hook set (None: unset, a plain CPU run)."""
    return run_module(
        "src.run", f"data.dir={data_dir}", f"submission.dir={out / 'subs'}",
        f"hydra.run.dir={out / 'run'}", "trainer.verbose=0", *overrides,
        env={SIMULATED_GPUS: gpus})


@pytest.fixture(scope="module")
def runs(tiny_data, tmp_path_factory):
    """The same seed and data three ways: float32 on the CPU, one and two simulated GPUs."""
    out = tmp_path_factory.mktemp("gpu_paths")
    made = {}
    for name, gpus in (("float32", None), ("one_gpu", "1"), ("two_gpus", "2")):
        # the CPU run needs no fresh process (TensorFlow splits no CPU for it): this one
        result = (helpers.train(tiny_data, out / name, *SMALL_CNN, in_process=True)
                  if gpus is None else train(tiny_data, out / name, *SMALL_CNN, gpus=gpus))
        assert result.returncode == 0, result.stderr[-3000:]
        made[name] = out / name / "run"
    return made


def _compute(run) -> dict:
    (model,) = json.loads((run / "metrics.json").read_text())["models"]
    return model["compute"]


def _labels(run) -> np.ndarray:
    return np.load(run / "test_proba.npy").argmax(axis=1)


@pytest.mark.heavy
def test_the_float32_baseline_is_a_trained_model_on_the_cpu(runs, tiny_data):
    assert _compute(runs["float32"]) == {"policy": "float32", "strategy": "default",
                                         "replicas": 1, "accelerators": [],
                                         "simulated_gpus": False}
    # agreement with an untrained model would mean nothing
    key = pd.read_csv(tiny_data.parent / "answer_key" / "key.csv")["Label"].to_numpy()
    assert np.mean(_labels(runs["float32"]) == key) >= 0.9


@pytest.mark.heavy
def test_one_gpu_trains_in_mixed_precision_and_predicts_the_float32_classes(runs):
    run = runs["one_gpu"]
    compute = _compute(run)
    assert (compute["policy"], compute["strategy"], compute["replicas"]) == (MIXED, "default", 1)
    assert compute["simulated_gpus"] and len(compute["accelerators"]) == 1
    model = keras.models.load_model(run / "model.keras", compile=False)
    policies = {layer.dtype_policy.name for layer in model.layers[1:]}  # past the Input
    assert policies == {MIXED, "float32"} and model.layers[-1].dtype_policy.name == "float32"
    assert all(w.dtype == "float32" for w in model.weights)  # float16 compute only
    # the same seed and batches in float16: the same function, to rounding
    assert np.mean(_labels(run) == _labels(runs["float32"])) >= ONE_GPU_AGREEMENT
    proba, baseline = (np.load(r / "test_proba.npy") for r in (run, runs["float32"]))
    assert np.isfinite(proba).all() and np.abs(proba - baseline).max() <= ONE_GPU_PROBA
    loss, float32_loss = (json.loads((r / "history.json").read_text())["loss"]
                          for r in (run, runs["float32"]))
    np.testing.assert_allclose(loss, float32_loss, rtol=0.01)  # measured: within 0.1%


@pytest.mark.heavy
def test_two_gpus_mirror_the_model_and_predict_the_float32_classes(runs):
    run = runs["two_gpus"]
    compute = _compute(run)
    assert (compute["policy"], compute["strategy"], compute["replicas"]) == \
        (MIXED, "MirroredStrategy", 2)
    assert len(set(compute["accelerators"])) == 2 and compute["simulated_gpus"]
    assert "mixed_float16, MirroredStrategy over 2 replica(s)" in (run / "run.log").read_text()
    model = keras.models.load_model(run / "model.keras", compile=False)
    assert model.layers[1].dtype_policy.name == MIXED
    assert np.isfinite(np.load(run / "test_proba.npy")).all()
    assert np.mean(_labels(run) == _labels(runs["float32"])) >= TWO_GPU_AGREEMENT


@pytest.mark.heavy
def test_a_mirrored_mixed_precision_model_predicts_again_in_a_plain_process(runs, tmp_path):
    run = runs["two_gpus"]
    result = run_module("src.predict", f"run={run}", f"submission.dir={tmp_path}",
                        env={SIMULATED_GPUS: None})  # one CPU device, as `make predict` runs
    assert result.returncode == 0, result.stderr[-3000:]
    assert "UserWarning" not in result.stderr, result.stderr  # e.g. on the loss scale
    (written,) = tmp_path.glob("*_predict.csv")
    # the same rows through the same float16 layers, in other batch splits: measured 100%
    assert np.mean(pd.read_csv(written)["Label"].to_numpy() == _labels(run)) >= 0.99


@pytest.mark.heavy
def test_a_last_batch_smaller_than_the_replicas_trains_without_nan(tmp_path):
    # 273 rows at batch 16 leave a last batch of 1 row: before the fix, the replica without
    # a row made the batch norms' scales NaN (with oneDNN, as here, the process aborted)
    data = make_data_dir(tmp_path / "data", n_train=273, n_test=40)
    result = train(data, tmp_path, *SMALL_CNN, "data.holdout=0",
                   "trainer.mixed_precision=false", gpus="2")
    assert result.returncode == 0, result.stderr[-3000:]
    run = tmp_path / "run"
    assert _compute(run)["replicas"] == 2
    assert "last batch of each epoch (1 rows of 273) is dropped" in (run / "run.log").read_text()
    assert np.isfinite(np.load(run / "test_proba.npy")).all()
