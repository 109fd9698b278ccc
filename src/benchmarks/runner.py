"""The bench's runs and timed steps: train or find each in the results archive (keyed by
its recipe), time what it measures, keep a record of each timing with its load."""

from __future__ import annotations

import csv
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import OmegaConf

from src import predict, score
from src.benchmarks import train_speed
from src.benchmarks.cells import machine, same_machine
from src.config import command_config
from src.data import dataset
from src.models import persist
from src.models.svm import linear_svc
from src.runs import archive
from src.runs.recipe import recipe_hash
from src.runs.run_dir import RunDir
from src.utils import machine as this_machine
from src.utils.atomic_io import write_text
from src.utils.machine import LoadMeter

# Overrides that say where a bench run writes or how much it prints, not what it trains.
WHERE_AND_HOW_LOUD = ("hydra.run.dir=", "submission.dir=", "trainer.verbose=")


SEED_EPOCHS = 50


SPEED_BASELINE = {"model": "cnn"}  # the default CNN's train step


# Settings that leave the model's math unchanged, then batch sizes (they change the
# optimisation, so they are timed but never the bench's pick).
SPEED_VARIANTS = {
    "the default again (A/A control)": {"control": True},
    "inter-op pool of 1 thread": {"overrides": ["trainer.pipeline.inter_op_threads=1"]},
    "tf.data maps 1 call at a time": {"overrides": ["trainer.pipeline.parallel_calls=1"]},
    "augmentation inside the model": {"overrides": ["trainer.pipeline.augment_in=model"]},
    "float32 input": {"overrides": ["trainer.pipeline.input_dtype=float32"]},
    "oneDNN off": {"env": {"TF_ENABLE_ONEDNN_OPTS": "0"}},
    "op determinism off": {"overrides": ["trainer.deterministic=false"]},
    "batch 64": {"overrides": ["trainer.batch_size=64"], "same_math": False},
    "batch 256": {"overrides": ["trainer.batch_size=256"], "same_math": False},
}


PUBLIC = "cnn_public"  # the public recipe the default is compared with


def reshapes(override: str) -> bool:
    """Whether a command-line override changes the net itself (`model.estimator.net.padding=valid`,
    `+model...`), not how it trains."""
    return override.lstrip("+~").startswith("model.")


def net_name(setting: dict) -> str:
    """A net's key in the speed record: `model=X` and its `model.` overrides, sorted."""
    return " ".join([f"model={setting['model']}", *sorted(setting.get("overrides", ()))])


def member_nets(members: dict[str, list[str]]) -> list[dict]:
    """The nets ensemble members train, in order, each once: a member's `model=X` with its
    `model.` overrides, since a reshaped net trains at its own speed."""
    nets = {}
    for overrides in members.values():
        models = [o.split("=", 1)[1] for o in overrides if o.startswith("model=")]
        if models:
            net = {"model": models[-1], "overrides": sorted(filter(reshapes, overrides))}
            nets.setdefault(net_name(net), net)
    return list(nets.values())


def stamped(record: dict) -> str:
    """A bench record as JSON, with when and where it was measured."""
    return json.dumps(this_machine.stamp(record), indent=2) + "\n"


def timed_later(compared: dict) -> dict:
    """The nets of a later `train_speed.compare`, each with when it ran and the default's
    images/s of its rounds: its ratios are to that run's default, not the record's."""
    when, base = this_machine.stamp({})["measured_at"], compared["baseline"]
    return {name: {**r, "timed_later": {"measured_at": when, "baseline_images_per_s":
                                        base["images_per_s"], "baseline_loads": base["loads"]}}
            for name, r in compared.items() if name != "baseline"}


class Bench:
    def __init__(self, out: Path, data_dir: Path, results: Path, max_bytes: int = 1_000_000):
        self.out, self.data_dir, self.results, self.max_bytes = out, data_dir, results, max_bytes
        self.records = results / "bench"  # the timed steps' .json records
        self._images = None

    def record(self, name: str) -> Path:
        return self.records / name

    def images(self) -> dict:
        """Fingerprints of the train and test images: archived runs count only on these."""
        if self._images is None:
            self._images = {"train": dataset.load_train(self.data_dir).fingerprint(),
                            "test": dataset.load_test(self.data_dir).fingerprint()}
        return self._images

    def run(self, name: str, overrides: list[str], need_model: bool = False) -> dict:
        """`python -m src.run` with `overrides`, unless the archive holds a run of its recipe
        on these images; a run trained here is archived. Its metrics (and history, if any)."""
        config = OmegaConf.to_container(command_config.load(overrides))
        recipe = recipe_hash(config)
        # a run cut by a time budget depends on its machine's speed too
        on = this_machine.describe() if config["trainer"].get("time_budget") else None
        run = None if need_model else archive.find(self.results, recipe, self.images(), on)
        if run is None:
            run = self._train(name, overrides, recipe)
        metrics = run.metrics()
        # the command the run recorded (a resumed dir may have been trained by hand)
        recorded = [o for o in metrics.get("overrides", overrides)
                    if not o.startswith(WHERE_AND_HOW_LOUD)]
        metrics["command"] = " ".join(["python", "-m", "src.run", *recorded])
        metrics["dir"] = str(run)
        history = run.record("history")
        if history is not None:
            metrics["history"] = history
        if metrics["holdout_accuracy"] is None:  # fit on every row: score on the key
            metrics["test_accuracy"] = key_accuracy(self.data_dir, run)
        return metrics

    def _train(self, name: str, overrides: list[str], recipe: str) -> RunDir:
        """Train into out/<name> (a finished run there of this recipe is kept) and archive
        it; the archived run."""
        run_dir = RunDir(self.out / name)
        if run_dir.is_training_run():
            old = recipe_hash(run_dir.config())
            if old != recipe:  # kept, under its own recipe's name, before it makes way
                print(f"bench: {run_dir} holds another recipe's run: training again",
                      flush=True)
                self._archive(run_dir, name, old)
                shutil.rmtree(run_dir.path)
        if not run_dir.is_finished():
            command = ["python", "-m", "src.run", *overrides]
            print(f"bench: {' '.join(command)}", flush=True)
            subprocess.run([sys.executable, *command[1:], f"hydra.run.dir={run_dir}",
                            f"submission.dir={self.out / 'submissions'}", "trainer.verbose=2"],
                           check=True)
        return self._archive(run_dir, name, recipe)

    def _archive(self, run_dir: RunDir, name: str, recipe: str) -> RunDir:
        kept = self.results / f"bench-{name}-{recipe[:8]}-{self.images()['train'][:8]}"
        if kept.exists():
            return RunDir(kept)
        return archive.archive(run_dir, self.results, kept.name, self.max_bytes, self.images())

    def model_row(self, model: str, split: str) -> dict:
        overrides = [f"model={model}"] + (["data.holdout=0"] if split == "full" else [])
        return {"split": split, **self.run(f"{model}-{split}", overrides)}

    def seed_lenet(self, epochs: int) -> dict:
        record = self.record(f"seed-lenet-{epochs}ep.json")
        if not record.is_file():
            print(f"bench: the seed's LeNet pipeline, {epochs} epoch(s)", flush=True)
            subprocess.run([sys.executable, "-m", "src.benchmarks.seed_pipeline",
                            str(self.data_dir), str(epochs), str(record)], check=True)
        result = json.loads(record.read_text())
        result["fit_seconds_50"] = result["seconds_per_epoch"] * SEED_EPOCHS
        return result

    def seed_svc_fit(self) -> dict:
        """One `SVC(kernel="linear")` fit on a 5-fold training share of the 37,800 rows: the
        unit of the seed's search (5 folds x 10 draws, then a refit on all 37,800)."""
        record = self.record("seed-svc-fit.json")
        if not record.is_file():
            fit, _ = dataset.holdout_split(dataset.load_train(self.data_dir), 0.1, seed=42)
            rows = len(fit) * 4 // 5
            print(f"bench: one SVC(kernel='linear') fit on {rows} rows", flush=True)
            with LoadMeter() as meter:
                linear_svc(C=1.0, solver="svc", features="unit").fit(fit.pixels[:rows],
                                                                     fit.labels[:rows])
            write_text(record, stamped({"rows": rows, "seconds": meter.seconds,
                                        "load": meter.record()}))
        return json.loads(record.read_text())

    def predict_vs_retrain(self, overrides: list[str]) -> dict:
        """`make predict` on a saved CNN run (its model: trained here when the archive, which
        keeps no weights, is all there is)."""
        record = self.record("predict.json")
        if not record.is_file():
            run = RunDir(self.out / "cnn-holdout")
            if not run.model_files(persist.SUFFIXES):  # the archive keeps no weights
                self.run("cnn-holdout", overrides, need_model=True)
            with LoadMeter() as meter:
                predict.predict(run)
            write_text(record, stamped({"seconds": meter.seconds, "load": meter.record()}))
        return json.loads(record.read_text())

    def ensemble(self, members: dict[str, list[str]]) -> dict:
        """The members (name: overrides) trained, or found in the archive, each scored on the
        key, and their average through `python -m src.ensemble` (the command a user types)."""
        results = [self.run(name, overrides) for name, overrides in members.items()]
        record = self.out / f"ensemble-{len(members)}"
        if RunDir(record).is_finished() and RunDir(record).metrics()["members"] != [
                r["dir"] for r in results]:
            shutil.rmtree(record)  # made of other members
        if not RunDir(record).is_finished():
            subprocess.run([sys.executable, "-m", "src.ensemble",
                            "runs=" + ",".join(r["dir"] for r in results),
                            f"data.dir={self.data_dir}", f"out_dir={record}",
                            f"submission.dir={self.out / 'submissions'}"], check=True)
        return {"members": results, "record": str(record),
                "command": "python -m src.ensemble runs=" + ",".join(r["dir"] for r in results),
                "test_accuracy": key_accuracy(self.data_dir, RunDir(record)),
                "test_rows": results[0]["rows"]["test"]}

    def speed(self, settings: dict) -> dict:
        """The matmul peak, the default CNN's train step against SPEED_VARIANTS, the public
        recipe and the other nets in `settings["nets"]` (the ensemble's, so that each
        member's quiet minutes can be told; in turn, `rounds` times), and XLA in alternating
        off/on pairs. A net that joins later, on the same kind of machine, is timed alone
        against the default's train step and added to the record."""
        record = self.record("speed.json")
        nets = {net_name(n): n for n in [{"model": PUBLIC}, *settings.get("nets", ())]
                if net_name(n) != net_name(SPEED_BASELINE)}
        variants = {name: {"model": n["model"]} | ({"overrides": n["overrides"]}
                                                   if n.get("overrides") else {})
                    for name, n in nets.items()}
        saved = json.loads(record.read_text()) if record.is_file() else None
        untimed = [m for m in nets if saved is None or m not in saved["compared"]]
        if saved is not None and untimed:
            here = {"machine": this_machine.describe(), "platform": machine()}
            if same_machine(saved, here) and saved.get("platform") == here["platform"]:
                saved = self._add_nets(record, saved, {m: variants[m] for m in untimed})
            else:  # its figures and this machine's cannot be mixed
                print(f"bench: {record} has no timing of {', '.join(untimed)} and was "
                      "measured on another or an unrecorded machine: timing the train step "
                      "again", flush=True)
                saved = None
        if saved is None:
            n = {"images": settings["images"], "epochs": settings["epochs"]}
            peak_before = train_speed.matmul_gflops()
            compared = train_speed.compare(
                SPEED_BASELINE, {name: {"model": "cnn", **v} for name, v in
                                 SPEED_VARIANTS.items()} | variants, settings["rounds"], **n)
            xla = train_speed.alternate_pairs(
                SPEED_BASELINE, {"model": "cnn", "overrides": ["trainer.jit_compile=true"]},
                settings["pairs"], **n)
            text = stamped({
                "peak_gflops": [peak_before, train_speed.matmul_gflops()], **n,
                "rounds": settings["rounds"], "compared": compared, "xla_ratios": xla,
                "platform": machine()})
            write_text(record, text)
            saved = json.loads(text)
        return saved

    @staticmethod
    def _add_nets(record: Path, saved: dict, variants: dict[str, dict]) -> dict | None:
        """`saved` with these nets timed in turn with the default's train step, each as
        `timed_later`; None when the record has no quiet round of the default to set them
        against, or when the default's speed now is beyond the record's noise of its speed then
        (another machine under the same name). A net timed busy in every round is left out, to
        be timed next time."""
        then = train_speed.quiet(saved["compared"]["baseline"])
        if not then:
            print("bench: the record has no quiet timing of the default to set new nets "
                  "against: timing the whole section again", flush=True)
            return None
        print(f"bench: {record} has no timing of {', '.join(variants)}: timing "
              f"{'it' if len(variants) == 1 else 'them'} in turn with the default's train "
              "step; the rest of the record stands", flush=True)
        added = train_speed.compare(SPEED_BASELINE, variants, saved["rounds"],
                                    images=saved["images"], epochs=saved["epochs"])
        now = train_speed.quiet(added["baseline"])
        if now:  # (with none quiet, every net is busy too and is left out below)
            drift = statistics.median(now) / statistics.median(then)
            noise = train_speed.noise_of(saved["compared"])
            if noise is None or abs(drift - 1) > noise:
                said = "unmeasured" if noise is None else f"{noise:.0%}"
                print(f"bench: the default's train step ran at {drift:.2f}x the record's "
                      f"speed, beyond its noise ({said}): timing the whole section again",
                      flush=True)
                return None
        for name, r in timed_later(added).items():
            if all(r["busy"]):
                print(f"bench: {name} was timed on a busy machine in every round: left out "
                      "of the record, to be timed again", flush=True)
            else:
                saved["compared"][name] = r
        write_text(record, json.dumps(saved, indent=2) + "\n")
        return saved

    def sweep(self, launcher: str, extra: list[str]) -> dict:
        """Wall time of `experiment=seed_table` (4 jobs) with one launcher, and its summary."""
        record = self.record(f"sweep-{launcher}.json")
        if not record.is_file():
            sweep_dir = self.out / f"sweep-{launcher}"
            command = ["python", "-m", "src.run", "experiment=seed_table", *extra]
            print(f"bench: {' '.join(command)}", flush=True)
            with LoadMeter() as meter:  # the jobs are its children: their CPU is its own
                subprocess.run([sys.executable, *command[1:], f"hydra.sweep.dir={sweep_dir}",
                                f"submission.dir={self.out / 'submissions'}"], check=True)
            with open(sweep_dir / "summary.csv", newline="") as fh:
                jobs = list(csv.DictReader(fh))
            write_text(record, stamped({"command": " ".join(command), "seconds":
                                        meter.seconds, "load": meter.record(), "jobs": jobs}))
        return json.loads(record.read_text())


def key_accuracy(data_dir: Path, run: RunDir) -> float:
    """A run's (or an ensemble's, or an archived run's) test predictions scored on the key."""
    return float(np.mean(run.test_proba().argmax(axis=1) == score.answer_key(data_dir)))


def time_loading(data_dir: Path, repeats: int = 5) -> dict:
    def median_seconds(fn):
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    path = data_dir / "train.csv"
    dataset.load_train(data_dir)  # make sure the cache exists
    with LoadMeter() as meter:
        timed = {"read_csv": median_seconds(lambda: pd.read_csv(path)),
                 "cached": median_seconds(lambda: dataset.load_train(data_dir))}
    return {**timed, "mb": path.stat().st_size / 1e6, "load": meter.record()}
