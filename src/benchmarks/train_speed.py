"""How fast a Keras model's train step runs against this machine's limit, and which CPU settings
change it. `make bench` calls `compare`; each measurement runs in a fresh process, because
TensorFlow's thread pools and oneDNN are fixed once it starts.

    python -m src.benchmarks.train_speed                      # the default CNN's settings, printed

The limit is numpy's float32 matrix product on all cores: the most multiply-adds a second these
cores give any program here. The train step's work is counted from the layers' shapes: a
convolution or dense layer costs 2 x (multiply-adds) per image forward, and training costs about
3x forward (the forward pass, the gradient with respect to the inputs and to the weights; the
first layer's input gradient, which nobody computes, is a rounding error here); batch norm,
activations, pooling and the optimizer are left out.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

from src.utils.machine import LoadMeter, is_busy, label

TRAIN_TO_FORWARD = 3  # forward + input gradients + weight gradients


def matmul_gflops(size: int = 2048, repeats: int = 7, clock=time.perf_counter) -> dict:
    """The best of `repeats` float32 (size x size) @ (size x size) products, in GFLOP/s, and
    the load of other processes meanwhile."""
    rng = np.random.default_rng(0)
    a = rng.random((size, size), dtype=np.float32)
    b = rng.random((size, size), dtype=np.float32)
    a @ b  # warm up the BLAS threads
    best = float("inf")
    with LoadMeter() as meter:
        for _ in range(repeats):
            start = clock()
            a @ b
            best = min(best, clock() - start)
    return {"gflops": 2 * size**3 / best / 1e9, "load": meter.record()}


def train_flops_per_image(model) -> float:
    """FLOPs one training image costs in the convolutions and dense layers (see the module's
    docstring)."""
    forward = 0
    from src.models.nets import leaf_layers  # Keras only once a model exists

    for layer in leaf_layers(model):
        kind = type(layer).__name__
        if kind == "Conv2D":
            _, height, width, out_channels = layer.output.shape
            kh, kw, in_channels, _ = layer.kernel.shape
            forward += 2 * height * width * out_channels * kh * kw * in_channels
        elif kind == "Dense":
            in_units, out_units = layer.kernel.shape
            forward += 2 * in_units * out_units
    return TRAIN_TO_FORWARD * forward


def measure(model: str, overrides: list[str], env: dict[str, str], images: int,
            epochs: int) -> dict:
    """Images a second of `model`'s train step (epochs after a warm-up epoch) in a new
    process with `overrides` and environment `env`."""
    spec = {"model": model, "overrides": overrides, "images": images, "epochs": epochs}
    result = subprocess.run(
        [sys.executable, "-m", "src.benchmarks.train_speed", "--worker", json.dumps(spec)],
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **env},
        capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"train-speed worker failed ({model} {overrides} {env}): "
                           f"{result.stderr.strip().splitlines()[-1:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def _worker(spec: dict) -> dict:
    from hydra.utils import instantiate

    from src.config import command_config
    from src.data import dataset
    from src.training import threads

    cfg = command_config.load([f"model={spec['model']}", f"threads={threads.budget('auto', {})}",
                           *spec["overrides"], "trainer.verbose=0", "trainer.tensorboard=false",
                           "trainer.time_budget=null", f"trainer.epochs={1 + spec['epochs']}"])
    threads.limit_math_libraries(cfg.threads)
    train = dataset.load_train(cfg.data.dir, cfg.data.cache)
    rows = np.random.default_rng(0).permutation(len(train))[:spec["images"]]
    estimator = instantiate(cfg.model.estimator, _convert_="all")
    with LoadMeter() as meter:
        estimator.fit(train.pixels[rows], train.labels[rows])
    seconds = np.diff(estimator.history_["seconds"])  # epochs after the first (tracing)
    return {"images_per_s": len(rows) / float(np.median(seconds)),
            "flops_per_image": train_flops_per_image(estimator.model_),
            "threads": cfg.threads, "load": meter.record()}


def compare(baseline: dict, variants: dict[str, dict], rounds: int, images: int,
            epochs: int, log=print) -> dict:
    """Each variant (model, overrides, env) against `baseline`, all measured once per round,
    in turn, so that a slow minute of a shared machine falls on both sides of a ratio. Ratios
    are the variant's images a second over the baseline's of the same round."""
    runs: dict[str, list[dict]] = {"baseline": [], **{name: [] for name in variants}}
    order = [("baseline", baseline), *variants.items()]
    for k in range(rounds):
        # each round starts one later, so no setting always follows the same neighbour
        for name, setting in order[k % len(order):] + order[:k % len(order)]:
            log(f"train speed, round {k + 1}/{rounds}: {name}")
            runs[name].append(measure(setting["model"], setting.get("overrides", []),
                                      setting.get("env", {}), images, epochs))
    base = [r["images_per_s"] for r in runs["baseline"]]
    base_busy = [is_busy(r["load"]) for r in runs["baseline"]]
    return {name: {"setting": baseline if name == "baseline" else variants[name],
                   "images_per_s": [r["images_per_s"] for r in measured],
                   "ratios": [r["images_per_s"] / b for r, b in zip(measured, base, strict=True)],
                   # a ratio is busy when either side of it was measured on a busy machine
                   "busy": [is_busy(r["load"]) or b for r, b in zip(measured, base_busy,
                                                                    strict=True)],
                   "loads": [r["load"] for r in measured],
                   "flops_per_image": measured[0]["flops_per_image"],
                   "threads": measured[0]["threads"]}
            for name, measured in runs.items()}


def alternate_pairs(baseline: dict, variant: dict, pairs: int, images: int, epochs: int,
                    log=print) -> dict:
    """Variant over baseline images a second, one ratio per (off, on) pair run back to back,
    and whether each pair was measured on a busy machine."""
    ratios, busy = [], []
    for k in range(pairs):
        log(f"train speed, pair {k + 1}/{pairs}")
        off = measure(baseline["model"], baseline.get("overrides", []), {}, images, epochs)
        on = measure(variant["model"], variant.get("overrides", []), {}, images, epochs)
        ratios.append(on["images_per_s"] / off["images_per_s"])
        busy.append(is_busy(off["load"]) or is_busy(on["load"]))
    return {"ratios": ratios, "busy": busy}


def quiet(entry: dict, key: str = "images_per_s") -> list[float]:
    """An entry of `compare`'s record, its `key` ("images_per_s" or "ratios") in the rounds
    not measured busy."""
    return [v for v, busy in zip(entry[key], entry["busy"], strict=True) if not busy]


def verdict(ratios: list[float], noise: float | None, busy: list[bool] = ()) -> str:
    """'faster' or 'slower' when every ratio is beyond the baseline's own spread, else
    'within noise'; with no spread measured (one round), or any ratio measured on a busy
    machine, 'not judged'."""
    if any(busy):
        return "not judged (busy machine)"
    if noise is None:
        return "not judged (one round)"
    if min(ratios) > 1 + noise:
        return "faster"
    if max(ratios) < 1 - noise:
        return "slower"
    return "within noise"


def noise_of(compared: dict) -> float | None:
    """How much this run's timings wander, as a fraction: the larger of the baseline's own
    round-to-round spread and the largest disagreement between two rounds' ratios of any one
    setting (its true ratio is one number, so what separates its rounds is noise). None with
    one round: nothing to compare."""
    base = compared["baseline"]["images_per_s"]
    if len(base) < 2:
        return None
    # the default's rounds in a later run, beside a net that joined then, are noise as well
    later = [r["timed_later"]["baseline_images_per_s"] for r in compared.values()
             if "timed_later" in r]
    spread = max((max(b) - min(b)) / statistics.median(b) for b in [base, *later])
    disagreement = max((max(r["ratios"]) - min(r["ratios"]) for name, r in compared.items()
                        if name != "baseline"), default=0.0)
    return max(spread, disagreement)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--model", default="cnn")
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(_worker(json.loads(args.worker))))
        return
    peak = matmul_gflops()
    result = measure(args.model, [], {}, images=3072, epochs=2)
    gflops = result["images_per_s"] * result["flops_per_image"] / 1e9
    print(f"model={args.model}: {result['images_per_s']:.0f} images/s, "
          f"{result['flops_per_image'] / 1e6:.0f} MFLOP an image, {gflops:.1f} GFLOP/s "
          f"({label(result['load'])}); float32 matmul peak {peak['gflops']:.1f} GFLOP/s "
          f"({label(peak['load'])}): {gflops / peak['gflops']:.0%} of it")


if __name__ == "__main__":
    main()
