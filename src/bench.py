"""`make bench`: the seed analysis's recipes and ours, side by side, in one run on one machine,
written to docs/benchmarks.md with a plot.

    python -m src.bench                     # full: hours; never in CI
    python -m src.bench --quick             # a few minutes (make bench BENCH=quick)
    python -m src.bench --sections speed,public   # redo these, replace them in the doc

Rows: every model on the 10% holdout and on all rows (the latter scored on the replica's
answer key); time to the seed's 0.984 (ours vs the seed LeNet); accuracy within the seed
LeNet's fit time; the SVM search; data loading; predicting from a saved run vs retraining;
peak memory; the train step against the machine's matmul peak and CPU settings against the
default (src/benchmarks/train_speed.py); the public CNN recipe against ours; single CNNs, a seed
ensemble and k-fold models on the key; a 4-job sweep with two launchers. Seed recipes too long
to run whole are timed for a few epochs or one fit and extrapolated, and the table says so.
Every conclusion printed is worked out from this run's numbers.

Resumable across machines: a training step is skipped when the results archive (results/,
committed) holds a run of the same recipe (src/runs/recipe.py) on the same images, and every
finished step is archived there; the timed steps keep a .json record in results/bench/. Delete a
record, or change the recipe, to redo a step. --quick keeps both under its own --out instead.
Every timing carries the load of other processes it was measured under
(src/utils/machine.py): one measured busy is shown as such and no conclusion is drawn from it.
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import shutil
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import OmegaConf

from src import predict, score
from src.benchmarks import train_speed
from src.config import command_config
from src.data import dataset
from src.models import persist
from src.models.svm import linear_svc
from src.runs import archive
from src.runs.recipe import recipe_hash
from src.runs.run_dir import METRICS, RunDir
from src.utils import machine as this_machine
from src.utils.atomic_io import write_bytes, write_text
from src.utils.errors import ConfigError, exit_on_error
from src.utils.machine import LoadMeter

SEED_TARGET = 0.984  # the seed LeNet's holdout accuracy after its 50 epochs
SEED_EPOCHS = 50
# Holdout accuracies the seed analysis published for its versions of these models.
SEED_HOLDOUT = {"svm": 0.938, "nn": 0.976, "lenet": 0.984}
SWEEP_LAUNCHERS = {"basic": [], "joblib": ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]}
PLAN = {
    "quick": {"models": ["logreg", "svm", "nn", "lenet"], "splits": ["holdout"],
              "cnn": ["trainer.epochs=2"], "seed_epochs": 1, "members": 0, "folds": None,
              "sweeps": False, "equal_time": 60, "speed": {"rounds": 1, "pairs": 1,
                                                           "images": 1024, "epochs": 1}},
    "full": {"models": ["logreg", "svm", "nn", "lenet", "cnn"], "splits": ["holdout", "full"],
             "cnn": [], "seed_epochs": 3, "members": None, "folds": 5, "sweeps": True,
             "equal_time": 1200, "speed": {"rounds": 3, "pairs": 3, "images": 3072,
                                           "epochs": 2}},
}
# Sections `--sections` can redo alone; the others come with the models table.
PARTIAL = ("speed", "public", "ensembles", "sweeps")
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
# The headings these sections had before they were marked, so --sections replaces them.
LEGACY_HEADINGS = {"speed": "## XLA (`trainer.jit_compile`) on this CPU",
                   "ensembles": "## An ensemble of default CNNs",
                   "sweeps": "## A 4-job sweep"}
PUBLIC = "cnn_public"  # the public recipe the default is compared with
# Overrides that say where a bench run writes or how much it prints, not what it trains.
WHERE_AND_HOW_LOUD = ("hydra.run.dir=", "submission.dir=", "trainer.verbose=")


@exit_on_error
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few-minute version")
    parser.add_argument("--out", default=None, help="results (default bench/ or bench-quick/)")
    parser.add_argument("--doc", default=None, help="default docs/benchmarks.md (quick: "
                        "<out>/benchmarks.md)")
    parser.add_argument("--members", type=int, default=None,
                        help="the first N of conf/bench.yaml's ensemble members (default all)")
    parser.add_argument("--folds", type=int, default=None,
                        help="K of the data.folds=K row beside the ensemble (0: leave it out)")
    parser.add_argument("--sections", default=None,
                        help=f"write only these ({','.join(PARTIAL)}), measuring what they miss, "
                        "into the doc in place of their old text")
    args = parser.parse_args()
    mode = "quick" if args.quick else "full"
    plan = dict(PLAN[mode])
    listed = dict(command_config.load([], name="bench").ensemble.members)
    if args.members is not None:
        if not 0 <= args.members <= len(listed):
            raise ConfigError(f"--members {args.members}: conf/bench.yaml lists {len(listed)} "
                              "ensemble members; give 0 to that many")
        plan["members"] = args.members
    if plan["members"] is None:
        plan["members"] = len(listed)
    plan["ensemble"] = {name: list(o) for name, o in list(listed.items())[:plan["members"]]}
    if args.folds is not None:
        plan["folds"] = args.folds or None
    out = Path(args.out or ("bench-quick" if args.quick else "bench"))
    doc = Path(args.doc or (out / "benchmarks.md" if args.quick else "docs/benchmarks.md"))
    results = command_config.load([], name="archive").results
    bench = Bench(out, Path(command_config.load([]).data.dir),
                  out / "results" if args.quick else Path(results.dir), int(results.max_bytes))
    if args.sections:
        names = args.sections.split(",")
        unknown = sorted(set(names) - set(PARTIAL))
        if unknown:
            raise SystemExit(f"error: --sections {','.join(unknown)}: not one of "
                             f"{','.join(PARTIAL)}")
        text = doc.read_text() if doc.is_file() else render_header(mode, "")
        if "ensembles" in names and plan["members"] < 2:
            raise SystemExit("error: --sections ensembles needs --members 2 or more")
        for name in names:
            text = splice(text, name, SECTION[name](bench, plan))
        write_text(doc, text)
        print(f"bench: replaced {', '.join(names)} in {doc}")
        return

    rows = []
    for model in plan["models"]:
        for split in plan["splits"]:
            rows.append(bench.model_row(model, split))
    cnn = bench.run("cnn-holdout", ["model=cnn", *plan["cnn"]])
    lenet = bench.run("lenet-holdout", ["model=lenet"])
    seed = bench.seed_lenet(plan["seed_epochs"])
    sections = [
        render_models(rows),
        render_time_to_accuracy(lenet, cnn, seed),
        render_svm(bench.model_row("svm", "holdout"), bench.seed_svc_fit()),
        render_loading(time_loading(bench.data_dir)),
        render_predict(bench.predict_vs_retrain(["model=cnn", *plan["cnn"]]), cnn),
        render_memory(cnn, bench.run("cnn-full", ["model=cnn", "data.holdout=0"])
                      if mode == "full" else None, seed),
    ]
    wanted = {"speed": True, "public": True, "ensembles": plan["members"] >= 2,
              "sweeps": plan["sweeps"]}
    sections += [mark(name, SECTION[name](bench, plan)) for name in PARTIAL if wanted[name]]
    plot = doc.parent / ("bench_time_to_accuracy.png" if mode == "full"
                         else "time_to_accuracy.png")
    plot_time_to_accuracy({"ours: model=lenet": lenet["history"],
                           "ours: model=cnn": cnn["history"]}, seed, plot)
    header = render_header(mode, plot.name)
    write_text(doc, "\n".join([header, *sections]))
    print(f"bench: wrote {doc} and {plot}")


def mark(name: str, body: str) -> str:
    """A section between markers, so that `--sections` can find and replace it."""
    return f"<!-- bench:{name} -->\n{body.rstrip()}\n<!-- /bench:{name} -->\n"


def splice(text: str, name: str, body: str) -> str:
    """`text` with section `name` replaced by `body` (found by its markers, or by the heading
    it had before it was marked, up to the next heading), or `body` added at the end."""
    start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        return head + mark(name, body) + rest.split(end, 1)[1].lstrip("\n")
    legacy = LEGACY_HEADINGS.get(name)
    if legacy and legacy in text:
        head, rest = text.split(legacy, 1)
        after = rest.find("\n## ")
        tail = rest[after + 1:] if after >= 0 else ""
        return head + mark(name, body) + ("\n" + tail if tail else "")
    return text.rstrip("\n") + "\n\n" + mark(name, body)


def measured_on(path: Path) -> str:
    """When a bench record was measured (its own stamp: a clone's files all carry the date
    of the clone)."""
    record = json.loads(path.read_text())
    if "measured_at" in record:
        return record["measured_at"][:10]
    return datetime.fromtimestamp(path.stat().st_mtime, UTC).strftime("%Y-%m-%d")


def finished_on(run: Path) -> str:
    """The date a run finished: an archived run's archive date (the bench archives a run as it
    finishes), else its metrics' file date."""
    archived = (RunDir(run).metrics() or {}).get("archive")
    if archived:
        return archived["archived_at"][:10]
    return datetime.fromtimestamp(RunDir(run).finished_at(), UTC).strftime("%Y-%m-%d")


def stamped(record: dict) -> str:
    """A bench record as JSON, with when and where it was measured."""
    return json.dumps(this_machine.stamp(record), indent=2) + "\n"


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
        """The matmul peak, the default CNN's train step against SPEED_VARIANTS and the public
        recipe (in turn, `rounds` times), and XLA in alternating off/on pairs."""
        record = self.record("speed.json")
        if not record.is_file():
            n = {"images": settings["images"], "epochs": settings["epochs"]}
            peak_before = train_speed.matmul_gflops()
            variants = {name: {"model": "cnn", **v} for name, v in SPEED_VARIANTS.items()}
            variants[f"model={PUBLIC}"] = {"model": PUBLIC}
            compared = train_speed.compare(SPEED_BASELINE, variants, settings["rounds"], **n)
            xla = train_speed.alternate_pairs(
                SPEED_BASELINE, {"model": "cnn", "overrides": ["trainer.jit_compile=true"]},
                settings["pairs"], **n)
            write_text(record, stamped({
                "peak_gflops": [peak_before, train_speed.matmul_gflops()], **n,
                "rounds": settings["rounds"], "compared": compared, "xla_ratios": xla,
                "platform": machine()}))
        return json.loads(record.read_text())

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


def time_to(history: dict, target: float) -> float | None:
    """Training seconds at the end of the first epoch whose holdout accuracy reached target."""
    for accuracy, seconds in zip(history["val_accuracy"], history["seconds"], strict=True):
        if accuracy >= target:
            return seconds
    return None


def accuracy_within(history: dict, seconds: float) -> float | None:
    reached = [a for a, s in zip(history["val_accuracy"], history["seconds"], strict=True)
               if s <= seconds]
    return reached[-1] if reached else None


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


def machine() -> str:
    libs = ", ".join(f"{name} {version(name)}" for name in
                     ("tensorflow", "keras", "scikit-learn", "numpy", "pandas", "hydra-core"))
    here = this_machine.describe()
    return f"{here['cores']} cores, {here['cpu']}; Python {platform.python_version()}; {libs}"


def _busy(*loads) -> bool:
    """Whether any of these timings was measured busy, or under an unknown load: such a
    figure is shown, marked, and no conclusion is drawn from it."""
    return any(map(this_machine.is_busy, loads))


def _same_machine(*records: dict) -> bool:
    """Whether these records were measured on one kind of machine (a ratio across machines
    measures the machines)."""
    kinds = {json.dumps(r.get("machine"), sort_keys=True) for r in records}
    return len(kinds) == 1 and "null" not in kinds


def _timed(seconds: float, load: dict | None, digits: int = 0) -> str:
    """A timing with its load when that load was not quiet: '812 (busy: 1.02 cores)'."""
    if not _busy(load):
        return f"{seconds:.{digits}f}"
    said = this_machine.label(load)  # 'busy (0.90 cores of other load)' or 'load unknown'
    return f"{seconds:.{digits}f} ({said.replace(' (', ': ', 1).rstrip(')')})"


def _acc(value) -> str:
    return "—" if value is None else f"{value:.4f}"


def _epochs(run: dict) -> str:
    """Epochs a Keras run trained (a time budget may cut them); — for scikit-learn."""
    history = run.get("history")
    return str(len(history["seconds"])) if history else "—"


def render_header(mode: str, plot: str) -> str:
    command = "make bench" + (" BENCH=quick" if mode == "quick" else "")
    return "\n".join([
        "# Benchmarks", "",
        f"Written by `{command}` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC. Each figure comes "
        f"from a record in the results archive (a run: `results/<name>/{METRICS}`; a timing: "
        "`results/bench/*.json`), made on the day and machine its section names; "
        "`make bench SECTIONS=...` measures a section again and replaces it here.",
        f"Machine of this writing: {machine()}.", "",
        "The machines are shared and noisy: a step's time can double beside other work. Every "
        "timing carries the load of other processes it was measured under; one measured busy "
        f"(more than {this_machine.BUSY_CORES} cores of other load) is marked, and no ratio or "
        "verdict is drawn from it.", "",
        f"![holdout accuracy against training time]({plot})", ""])


def _provenance(runs: list[dict]) -> str:
    """When and where these runs were made: 'finished 2026-12-06 on 2 cores, Intel Xeon'."""
    dates = sorted({finished_on(Path(r["dir"])) for r in runs})
    machines = sorted({f"{r['machine']['cores']} cores, {r['machine']['cpu']}"
                       if r.get("machine") else "an unrecorded machine" for r in runs})
    span = dates[0] if len(dates) == 1 else f"{dates[0]}..{dates[-1]}"
    return f"finished {span} on {'; '.join(machines)}"


def render_models(rows: list[dict]) -> str:
    lines = [
        "## Every model, default settings", "",
        f"Runs {_provenance(rows)}.", "",
        "*holdout*: fit on 90% of train.csv (stratified, split seed 42), scored on the other "
        "10%. *full*: fit on all 42,000 rows; *test acc* is that submission scored against "
        "the offline replica's answer key. Seconds are wall time, marked where other processes "
        f"used more than {this_machine.BUSY_CORES} cores meanwhile (busy: a slower figure "
        "than the machine gives alone); peak memory is the run's peak resident set.", "",
        "| model | split | holdout acc | seed's holdout | train acc | test acc (key) | epochs "
        "| fit s | predict s | peak MB | command |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['split']} | {_acc(r['holdout_accuracy'])} "
            f"| {_acc(SEED_HOLDOUT.get(r['model']) if r['split'] == 'holdout' else None)} "
            f"| {_acc(r['train_accuracy'])} | {_acc(r.get('test_accuracy'))} | {_epochs(r)} "
            f"| {_timed(r['fit_seconds'], r.get('fit_load'), 1)} | {r['predict_seconds']:.1f} "
            f"| {r['peak_memory_mb']:.0f} | `{r['command']}` |")
    return "\n".join(lines) + "\n"


def render_time_to_accuracy(lenet: dict, cnn: dict, seed: dict) -> str:
    seed_fit = seed["fit_seconds_50"]
    seed_busy = _busy(seed.get("load"))
    lines = [
        f"## Time to the seed's {SEED_TARGET} holdout accuracy", "",
        f"The seed's LeNet (batch 32, constant Adam 1e-3, {SEED_EPOCHS} epochs) reached "
        f"{SEED_TARGET} at the end of its {SEED_EPOCHS} epochs. Here its pipeline (`python -m "
        f"src.benchmarks.seed_pipeline`: pandas, float64 pixels, the same holdout) ran "
        f"{seed['epochs']} epoch(s) at a median "
        f"{_timed(seed['seconds_per_epoch'], seed.get('load'), 1)} s each (holdout "
        f"accuracy after them: {', '.join(f'{a:.4f}' for a in seed['holdout_accuracy'])}); "
        f"its {SEED_EPOCHS} epochs are extrapolated to {seed_fit:.0f} s. Ours: seconds of "
        f"training at the end of the first epoch whose holdout accuracy reached {SEED_TARGET} "
        "(from each run's training history).",
        "", "| | seconds of training | ratio seed / ours |", "|---|---|---|",
        f"| seed LeNet, {SEED_EPOCHS} epochs (extrapolated) | {seed_fit:.0f} | 1 |"]
    for run in (lenet, cnn):
        reached = time_to(run["history"], SEED_TARGET)
        if reached is None:
            lines.append(f"| `{run['command']}`: never reached {SEED_TARGET} (best "
                         f"{max(run['history']['val_accuracy']):.4f}) | — | — |")
        elif seed_busy or _busy(run.get("fit_load")):
            lines.append(f"| `{run['command']}` | {_timed(reached, run.get('fit_load'), 1)} "
                         "| — (a busy timing) |")
        elif not _same_machine(seed, run):
            lines.append(f"| `{run['command']}` | {reached:.1f} | — (another machine) |")
        else:
            lines.append(f"| `{run['command']}` | {reached:.1f} | {seed_fit / reached:.0f}x |")
    within = accuracy_within(cnn["history"], seed_fit)
    lines += [
        "", "`model=lenet` is the seed's architecture with our training recipe (batch 128, "
        "Adam 3e-3 decayed by a cosine, 4 epochs).", "",
        f"**Accuracy within the seed LeNet's {seed_fit:.0f} s:** `{cnn['command']}` reached "
        f"holdout accuracy {_acc(within)} by then (final {cnn['holdout_accuracy']:.4f} after "
        f"{cnn['history']['seconds'][-1]:.0f} s of training, {_epochs(cnn)} "
        f"epochs); the seed LeNet, {SEED_TARGET}.", ""]
    return "\n".join(lines)


def render_svm(ours: dict, seed_fit: dict) -> str:
    seed_search = seed_fit["seconds"] * (5 * 10 + 1.25)  # 50 fits, and a refit on 5/4 rows
    ratio = ("— (a busy timing)" if _busy(seed_fit.get("load"), ours.get("fit_load"))
             else "— (another machine)" if not _same_machine(seed_fit, ours)
             else f"{seed_search / ours['fit_seconds']:.0f}x")
    return "\n".join([
        "## The linear SVM's C search", "",
        "| | holdout acc | seconds | ratio seed / ours |", "|---|---|---|---|",
        f"| seed: `SVC(kernel=\"linear\")`, 5-fold randomized search, 10 draws of C in "
        f"2^-7..2^6 on 37,800 rows, refit (extrapolated from one {seed_fit['rows']:,}-row fit "
        f"of {_timed(seed_fit['seconds'], seed_fit.get('load'))} s) | 0.938 (published) "
        f"| {seed_search:.0f} | 1 |",
        f"| ours: `{ours['command']}` (liblinear one-vs-one, same C range and 5-fold search "
        f"on 10,000 rows, refit on all) | {ours['holdout_accuracy']:.4f} "
        f"| {_timed(ours['fit_seconds'], ours.get('fit_load'))} | {ratio} |", ""])


def render_loading(load: dict) -> str:
    return "\n".join([
        "## Loading train.csv", "",
        f"Median of 5 loads of the {load['mb']:.1f} MB `train.csv`: `pandas.read_csv` "
        f"{load['read_csv']:.3f} s; the validated binary cache {load['cached']:.4f} s "
        + (f"({load['read_csv'] / load['cached']:.0f}x faster)." if not _busy(load.get("load"))
           else f"(measured {this_machine.label(load.get('load'))}: no ratio drawn)."), ""])


def render_predict(timed: dict, cnn: dict) -> str:
    return "\n".join([
        "## Predicting from a saved run vs retraining", "",
        f"`python -m src.predict run=<cnn-holdout run>` (load the model and the test set, "
        f"predict 28,000 rows): {_timed(timed['seconds'], timed.get('load'), 1)} s; retraining "
        f"that run: {_timed(cnn['fit_seconds'], cnn.get('fit_load'))} s "
        + ("(a busy timing: no ratio drawn)." if _busy(timed.get("load"), cnn.get("fit_load"))
           else "(measured on other machines: no ratio drawn)." if not _same_machine(timed, cnn)
           else f"({cnn['fit_seconds'] / timed['seconds']:.0f}x longer)."),
        ""])


def render_memory(cnn: dict, full: dict | None, seed: dict) -> str:
    ours = full or cnn
    what = "all rows" if full else "the holdout split"
    return "\n".join([
        "## Peak memory", "",
        f"Our `{ours['command']}` (on {what}, uint8 pixels end to end): "
        f"{ours['peak_memory_mb']:.0f} MB. The seed's pipeline (pandas frames, float64 "
        f"pixels, LeNet): {seed['peak_memory_mb']:.0f} MB "
        f"(ratio seed / ours {seed['peak_memory_mb'] / ours['peak_memory_mb']:.2f}).", ""])


def section_speed(bench: Bench, plan: dict) -> str:
    speed = bench.speed(plan["speed"])
    compared, peaks = speed["compared"], speed["peak_gflops"]
    peak = max(p["gflops"] for p in peaks)
    base = compared["baseline"]
    noise = train_speed.noise_of(compared)
    ips = statistics.median(base["images_per_s"])
    gflops = ips * base["flops_per_image"] / 1e9
    base_busy = _busy(*base["loads"])
    headline = (f"**{gflops:.0f} GFLOP/s, {gflops / peak:.0%} of the matmul peak**"
                if not (base_busy or _busy(*(p["load"] for p in peaks))) else
                f"{gflops:.0f} GFLOP/s (a busy timing: not set against the peak)")
    lines = [
        "## The train step against this machine's limit", "",
        f"Measured {measured_on(bench.record('speed.json'))} on {speed['platform']}. Each timing "
        "below is quiet unless marked: busy means other processes used more than "
        f"{this_machine.BUSY_CORES} cores meanwhile, and no verdict is drawn from it.", "",
        f"float32 matrix product (numpy, {speed['machine']['cores']} cores, 2048x2048, "
        "best of 7), before and after the rest: "
        f"{' and '.join(_timed(p['gflops'], p['load']) for p in peaks)} "
        f"GFLOP/s. The default CNN's train step: {base['flops_per_image'] / 1e6:.0f} MFLOP a "
        f"training image (convolutions and dense layers, 3x their forward cost; "
        f"`src/benchmarks/train_speed.py`), {ips:.0f} images/s at {base['threads']} threads "
        f"({_loads_label(base['loads'])}), so {headline}.", "",
        f"Each setting below ran in a fresh process on {speed['images']:,} training images "
        f"({speed['epochs']} timed epoch(s) after a warm-up epoch), all in turn, "
        f"{speed['rounds']} round(s); a ratio is the setting's images/s over the default's "
        "of the same round (above 1: faster). "
        + (f"This run's noise was {noise:.0%} (the larger of the default's own spread between "
           "rounds and the widest gap between one setting's ratios in two rounds"
           + ("; the A/A row is the default against itself" if any(
               r["setting"].get("control") for r in compared.values()) else "")
           + "): a setting is called faster or slower only when every round's ratio is beyond "
           "that." if noise is not None else
           "One round measures no spread, so nothing below is judged."), "",
        "| setting | images/s | ratio to the default (each round) | load | verdict |",
        "|---|---|---|---|---|",
        f"| default (`model=cnn`) | {ips:.0f} | 1 | {_loads_label(base['loads'])} | |"]
    ranked = sorted(((name, r) for name, r in compared.items() if name != "baseline"),
                    key=lambda item: -statistics.median(item[1]["ratios"]))
    for name, r in ranked:
        what = " ".join([*r["setting"].get("overrides", []),
                         *(f"{k}={v}" for k, v in r["setting"].get("env", {}).items())])
        lines.append(f"| {name}{f' (`{what}`)' if what else ''} "
                     f"| {statistics.median(r['images_per_s']):.0f} "
                     f"| {', '.join(f'{x:.2f}' for x in r['ratios'])} "
                     f"| {_loads_label(r['loads'])} "
                     f"| {train_speed.verdict(r['ratios'], noise, r['busy'])} |")
    same_math = [(n, r) for n, r in ranked if not n.startswith("model=")
                 and r["setting"].get("same_math", True) and not r["setting"].get("control")]
    judged = [(n, r) for n, r in same_math if not any(r["busy"])]
    faster = [(n, r) for n, r in judged
              if train_speed.verdict(r["ratios"], noise, r["busy"]) == "faster"]
    best, r = (faster or judged or same_math)[0]
    if noise is None:
        conclusion = (f"One round: no verdict (the best median was {best} at "
                      f"{statistics.median(r['ratios']):.2f}x).")
    elif not judged:
        conclusion = "Every setting had a busy round: no verdict."
    elif faster:
        conclusion = (f"Faster than the default beyond this run's noise, with the same math: "
                      f"{best} ({statistics.median(r['ratios']):.2f}x).")
    else:
        conclusion = (f"No setting with the same math beat the default beyond this run's "
                      f"noise in its quiet rounds; the best median was {best} at "
                      f"{statistics.median(r['ratios']):.2f}x.")
    if judged and len(judged) < len(same_math):
        conclusion += (f" Not judged, measured busy: "
                       f"{', '.join(n for n, r in same_math if any(r['busy']))}.")
    xla = speed["xla_ratios"]
    lines += ["", conclusion, "",
              f"XLA (`trainer.jit_compile=true`), {len(xla['ratios'])} off/on pair(s) run back "
              f"to back, on/off images/s: {', '.join(f'{x:.2f}' for x in xla['ratios'])}: "
              f"**{_xla_verdict(xla, noise)}** on this machine.", ""]
    return "\n".join(lines)


def _loads_label(loads: list[dict]) -> str:
    """The load over several timings: 'quiet' when all were, else the busiest one's."""
    if not _busy(*loads):
        return "quiet"
    known = [load for load in loads if load and load.get("other_cores") is not None]
    worst = max(known, key=lambda load: load["other_cores"] + load["steal_cores"],
                default=None)
    return this_machine.label(worst)


def _xla_verdict(xla: dict, noise: float | None) -> str:
    said = train_speed.verdict(xla["ratios"], noise, xla["busy"])
    if said in ("faster", "slower"):
        return f"{said} in every pair ({statistics.median(xla['ratios']):.2f}x)"
    return "no difference beyond the noise" if said == "within noise" else said


def section_public(bench: Bench, plan: dict) -> str:
    speed = bench.speed(plan["speed"])["compared"]
    ours_ips = statistics.median(speed["baseline"]["images_per_s"])
    public = speed[f"model={PUBLIC}"]
    budget = plan["equal_time"]
    runs = {name: bench.run(f"equal-time-{name}", [f"model={name}",
                                                   f"trainer.time_budget={budget}"])
            for name in ("cnn", PUBLIC)}
    epoch_ratio = ours_ips / statistics.median(public["images_per_s"])
    if any(public["busy"]):
        epoch_said = ("its epoch's time against the default's was measured on a busy machine "
                      f"({_loads_label(public['loads'])}): no ratio drawn** (each round: ")
    else:
        epoch_said = f"its epoch takes {epoch_ratio:.2f}x the default's** (each round: "
    busy_runs = [name for name, run in runs.items() if _busy(run.get("fit_load"))]
    lines = [
        "## The public single-CNN recipe beside ours", "",
        f"Epoch times measured {measured_on(bench.record('speed.json'))}, the runs "
        f"{finished_on(Path(runs[PUBLIC]['dir']))} (see the train "
        "step section for the machine).", "",
        f"`model={PUBLIC}` is the best-known public Digit Recognizer CNN as published "
        "(32C3-32C3-32C5S2, 64C3-64C3-64C5S2, 128C4, batch norm, dropout 0.4, batch 64, Adam "
        "1e-3 x 0.95 an epoch, 45 epochs). Its train step costs "
        f"{public['flops_per_image'] / 1e6:.0f} MFLOP an image against the default's "
        f"{speed['baseline']['flops_per_image'] / 1e6:.0f}; measured in the rounds above, "
        f"**{epoch_said}"
        f"{', '.join(f'{1 / x:.2f}' for x in public['ratios'])}).", "",
        f"At equal wall time: each recipe trained on the 90% split with "
        f"`trainer.time_budget={budget}` ({budget / 60:.0f} minutes; ours anneals its cosine "
        "over the epochs that fit, the public recipe keeps its per-epoch decay and stops), "
        "holdout accuracy at the end:", "",
        "| recipe | epochs in the budget | holdout acc | fit s | command |",
        "|---|---|---|---|---|"]
    for name, run in runs.items():
        lines.append(f"| {name} | {_epochs(run)} | {run['holdout_accuracy']:.5f} "
                     f"| {_timed(run['fit_seconds'], run.get('fit_load'))} | `{run['command']}` |")
    ours, theirs = runs["cnn"]["holdout_accuracy"], runs[PUBLIC]["holdout_accuracy"]
    gap = round((ours - theirs) * runs["cnn"]["rows"]["holdout"])
    if gap == 0:
        said = "the same holdout accuracy"
    else:
        said = f"{'ours' if gap > 0 else 'the public recipe'} {abs(gap)} holdout image(s) ahead"
    early = [f"{name} trained all its epochs in {run['fit_seconds']:.0f} s"
             for name, run in runs.items() if run["fit_seconds"] < 0.9 * budget]
    lines += ["", f"Within {budget} s each: {said}"
              + (f" ({'; '.join(early)}, before the budget)" if early else "") + "."
              + (f" Measured busy ({', '.join(busy_runs)}): the epochs that fit a busy budget "
                 "say nothing of the recipes' speeds." if busy_runs else ""), ""]
    return "\n".join(lines)


def section_ensembles(bench: Bench, plan: dict) -> str:
    result = bench.ensemble(plan["ensemble"])
    record = Path(result["record"])
    folds = plan["folds"]
    lines = ["## Single CNNs and an ensemble of them", "",
             f"The ensemble was made {finished_on(record)}; its members "
             f"{_provenance(result['members'])}.", "",
             "Each member (`conf/bench.yaml`) trained on all 42,000 rows, was archived in "
             "`results/` (*archived as*), and joined the average of "
             f"`{result['command']}`; accuracy on the replica's answer key. Fit minutes are "
             "marked busy where other processes used the machine meanwhile: they say how long "
             "that run took there, not how fast the recipe is; *quiet min* is the same epochs at "
             "the quiet images/s the train step section measured for its model "
             f"(`{bench.record('speed.json')}`).",
             "", "| member | archived as | test acc (key) | epochs | fit min | quiet min |",
             "|---|---|---|---|---|---|"]
    quiet = _quiet_images_per_s(bench)
    for m in result["members"]:
        lines.append(f"| `{m['command']}` | `{m['dir']}` | {m['test_accuracy']:.5f} "
                     f"| {_epochs(m)} | {_timed(m['fit_seconds'] / 60, m.get('fit_load'))} "
                     f"| {_quiet_minutes(m, quiet)} |")
    singles = [m["test_accuracy"] for m in result["members"]]
    # the single recipe's figure: the members that differ from the first only in their seed
    recipe = _without_seed(result["members"][0])
    seeds = [m["test_accuracy"] for m in result["members"] if _without_seed(m) == recipe]
    ensemble = result["test_accuracy"]
    minutes = sum(m["fit_seconds"] for m in result["members"]) / 60
    quiet_total = [_quiet_minutes(m, quiet) for m in result["members"]]
    quiet_sum = (f"{sum(map(float, quiet_total)):.0f} in all" if "—" not in quiet_total
                 else "")
    lines += [f"| mean of the first member's recipe over its {len(seeds)} seed(s) | "
              f"| {statistics.mean(seeds):.5f} | | | |",
              f"| mean of all {len(singles)} single models | "
              f"| {statistics.mean(singles):.5f} | | | |",
              f"| **ensemble of {len(singles)}** | `{record}` | **{ensemble:.5f}** | "
              f"| {minutes:.0f} in all | {quiet_sum} |"]
    if folds:
        cv = bench.run(f"cnn-folds{folds}", ["model=cnn", "data.holdout=0",
                                             f"data.folds={folds}"])
        lines.append(f"| `{cv['command']}` ({folds} fold models averaged) | `{cv['dir']}` "
                     f"| {cv['test_accuracy']:.5f} | "
                     f"| {_timed(cv['fit_seconds'] / 60, cv.get('fit_load'))} |")
    lines += ["", f"The ensemble is {ensemble - statistics.mean(singles):+.5f} over the mean "
              f"single model and {ensemble - max(singles):+.5f} over the best one "
              f"({(ensemble - max(singles)) * result['test_rows']:+.0f} of "
              f"{result['test_rows']:,} test images). Members' fit minutes: "
              f"{_threads_note(result['members'])}."]
    if not folds:
        lines += ["", "The `data.folds=K` ensemble was not measured in this run (`--folds 0`)."]
    return "\n".join(lines) + "\n"


def _without_seed(member: dict) -> list[str]:
    return [word for word in member["command"].split() if not word.startswith("seed=")]


def _quiet_images_per_s(bench: Bench) -> dict[str, float]:
    """Training images a second, by model, from the speed section's quiet rounds."""
    path = bench.record("speed.json")
    if not path.is_file():
        return {}
    speeds = {}
    for name, r in json.loads(path.read_text())["compared"].items():
        quiet = [ips for ips, busy in zip(r["images_per_s"], r["busy"], strict=True)
                 if not busy]
        model = r["setting"]["model"]
        if quiet and (name == "baseline" or name == f"model={model}"):
            speeds[model] = statistics.median(quiet)
    return speeds


def _quiet_minutes(run: dict, quiet: dict[str, float]) -> str:
    """The run's epochs at its model's quiet speed, in minutes; — when unmeasured."""
    epochs = len(run["history"]["seconds"]) if run.get("history") else None
    if run["model"] not in quiet or not epochs:
        return "—"
    return f"{epochs * run['rows']['fit'] / quiet[run['model']] / 60:.0f}"


def _threads_note(members: list[dict]) -> str:
    threads = sorted({m.get("threads") for m in members}, key=str)
    machines = sorted({f"{m['machine']['cores']} cores, {m['machine']['cpu']}"
                       if m.get("machine") else "an unrecorded machine" for m in members})
    return (f"each at threads={threads[0]}" if len(threads) == 1
            else "at threads=" + "/".join(map(str, threads))) + f" on {'; '.join(machines)}"


def render_sweeps(sweeps: dict) -> str:
    basic, joblib = sweeps["basic"], sweeps["joblib"]
    lines = [
        "## A 4-job sweep: the seed table, basic launcher vs joblib", "",
        "`experiment=seed_table` (svm, logreg, nn, lenet on the 10% holdout), whole command "
        "wall time, including each job's start-up:", "",
        "| launcher | wall s | command |", "|---|---|---|",
        f"| basic (one job at a time, 2 threads each) "
        f"| {_timed(basic['seconds'], basic.get('load'))} "
        f"| `{basic['command']}` |",
        f"| joblib, 2 jobs at once (1 thread each) "
        f"| {_timed(joblib['seconds'], joblib.get('load'))} "
        f"| `{joblib['command']}` |", "",
        ("A launcher measured busy: no ratio drawn." if _busy(basic.get("load"),
                                                              joblib.get("load"))
         else f"Ratio basic / joblib: {basic['seconds'] / joblib['seconds']:.2f}."), "",
        "The seed table it prints (basic launcher run; the seed analysis's figures beside):",
        "", "| model | train acc | holdout acc | seed's train / holdout |",
        "|---|---|---|---|"]
    seed = {"svm": ".954 / .938", "nn": ".997 / .976", "lenet": ".998 / .984 (its CNN)"}
    for job in basic["jobs"]:
        lines.append(f"| {job['model']} | {float(job['train_accuracy']):.4f} "
                     f"| {float(job['holdout_accuracy']):.4f} | {seed.get(job['model'], '—')} |")
    return "\n".join(lines) + "\n"


def section_sweeps(bench: Bench, plan: dict) -> str:
    return render_sweeps({name: bench.sweep(name, extra)
                          for name, extra in SWEEP_LAUNCHERS.items()})


SECTION = {"speed": section_speed, "public": section_public, "ensembles": section_ensembles,
           "sweeps": section_sweeps}


def plot_time_to_accuracy(histories: dict, seed: dict, path: Path) -> None:
    from src.views.figures import png_bytes, pyplot

    fig, ax = pyplot().subplots(figsize=(7, 4), dpi=110)
    for label, history in histories.items():
        ax.plot(history["seconds"], history["val_accuracy"], "o-", ms=4, label=label)
    seed_ends = np.cumsum(seed["epoch_seconds"])
    ax.plot(seed_ends, seed["holdout_accuracy"], "s-", label="seed LeNet (measured epochs)")
    ax.plot([seed["fit_seconds_50"]], [SEED_TARGET], "D", mfc="none", color="C2",
            label=f"seed LeNet after {SEED_EPOCHS} epochs (extrapolated)")
    ax.axhline(SEED_TARGET, color="grey", lw=0.8, ls="--")
    ax.set_xscale("log")
    ax.set_ylim(0.95, 1.0)
    ax.set_xlabel("seconds of training (log scale)")
    ax.set_ylabel("holdout accuracy")
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes(path, png_bytes(fig))


if __name__ == "__main__":
    main()
