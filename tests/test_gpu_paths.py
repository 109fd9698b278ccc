"""The GPU code paths, run on a CPU: DIGITS_SIMULATED_GPUS=N (src/models/keras_classifier.py)
makes the production training path treat N logical CPU devices as N GPUs, so one "GPU" trains
in mixed float16 and two train through MirroredStrategy, exactly as on a GPU machine. Each run
is a real `python -m src.run` in a fresh process (TensorFlow splits the CPU only before it
starts), compared with a float32 run of the same seed on the same tiny data."""

import json
import re
import zipfile

import numpy as np
import pytest

from src.models.keras_classifier import MIXED, compute_plan
from tests.helpers import make_data_dir, run_module

# The shallow net, 5 epochs: about 25 steps on the tiny data, enough for confident classes
# (float16 on a CPU is several times slower than float32: the runs stay short).
RECIPE = ["model=nn", "trainer.epochs=5", "trainer.verbose=0", "figures=false",
          "trainer.tensorboard=false"]
# Predicted classes that must agree with float32's. float16 keeps about 3 significant digits,
# and two replicas sum gradients in another order: only a test row whose two best classes are
# that close can flip. Measured here: 120 of 120 rows agree for one and for two "GPUs" (largest
# probability difference 8e-6 and 3e-3). 95% leaves room for a few near-tied rows on another
# seed or TensorFlow, while a broken path (the policy not applied, gradients not reduced over
# replicas, float16 overflow without loss scaling) trains a different model whose classes
# agree at chance-like rates (22% and 62% were seen from a barely trained CNN).
AGREEMENT = 0.95


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("gpu-paths")
    data_dir = make_data_dir(root)

    def train(name, simulated_gpus=None):
        out = root / name
        result = run_module("src.run", *RECIPE, f"data.dir={data_dir}",
                            f"submission.dir={out / 'subs'}", f"hydra.run.dir={out / 'run'}",
                            env={"DIGITS_SIMULATED_GPUS": simulated_gpus})
        assert result.returncode == 0, result.stderr[-2000:]
        return out / "run"

    return {"float32": train("float32"), "train": train, "root": root}


def compute_of(run):
    return json.loads((run / "metrics.json").read_text())["models"][0]["compute"]


def layer_policies(run) -> dict[str, str]:
    """Each saved layer's dtype policy, from the .keras file's config."""
    with zipfile.ZipFile(run / "model.keras") as saved:
        config = json.loads(saved.read("config.json"))
    return {layer["config"]["name"]: layer["config"]["dtype"]["config"]["name"]
            for layer in config["config"]["layers"] if isinstance(
                layer["config"].get("dtype"), dict)}


def test_a_cpu_trains_in_float32_on_the_default_strategy(runs):
    assert compute_of(runs["float32"]) == {
        "policy": "float32", "strategy": "_DefaultDistributionStrategy", "replicas": 1,
        "accelerators": [], "simulated_gpus": False}
    assert set(layer_policies(runs["float32"]).values()) == {"float32"}


@pytest.mark.parametrize("gpus, strategy", [("1", "_DefaultDistributionStrategy"),
                                            ("2", "MirroredStrategy")])
def test_the_gpu_paths_train_a_model_that_predicts_as_float32_does(runs, gpus, strategy):
    run = runs["train"](f"gpus{gpus}", gpus)
    compute = compute_of(run)
    assert (compute["policy"], compute["strategy"]) == (MIXED, strategy)
    assert compute["replicas"] == int(gpus) and compute["simulated_gpus"] is True

    policies = layer_policies(run)
    assert MIXED in policies.values()  # the hidden layers compute in float16
    last = list(policies)[-1]
    assert policies[last] == "float32", policies  # the softmax stays in float32

    mixed = np.load(run / "test_proba.npy")
    plain = np.load(runs["float32"] / "test_proba.npy")
    assert mixed.dtype == np.float32 and np.allclose(mixed.sum(axis=1), 1, atol=1e-3)
    agreement = np.mean(mixed.argmax(axis=1) == plain.argmax(axis=1))
    assert agreement >= AGREEMENT, agreement

    # the saved model loads and predicts in a plain process (what make predict does)
    again = run_module("src.predict", f"run={run}",
                       f"submission.dir={runs['root'] / f'predict{gpus}'}")
    assert again.returncode == 0, again.stderr[-2000:]
    said = re.search(r"agrees with the run's own predictions on ([\d.]+)% of rows", again.stdout)
    assert said and float(said.group(1)) >= 100 * AGREEMENT, again.stdout


@pytest.mark.parametrize("devices, setting, policy, mirrored", [
    ([], "auto", "float32", False),
    ([], True, "float32", False),  # float16 on a CPU is slower: asked or not, none
    (["/device:GPU:0"], "auto", MIXED, False),
    (["/device:GPU:0"], False, "float32", False),
    (["/device:GPU:0", "/device:GPU:1"], "auto", MIXED, True),
    (["/device:GPU:0", "/device:GPU:1"], False, "float32", True),
])
def test_the_compute_plan_follows_the_devices_and_the_setting(devices, setting, policy,
                                                              mirrored):
    plan = compute_plan(devices, setting)
    assert (plan.policy, plan.mirrored) == (policy, mirrored)
