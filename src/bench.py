"""`make bench`: the seed analysis's recipes and ours, side by side, in one run on one machine,
written to docs/benchmarks.md with a plot.

    python -m src.bench                     # full: an hour or more; never in CI
    python -m src.bench --quick             # a few minutes (make bench BENCH=quick)

Rows: every model on the 10% holdout and on all rows (the latter scored on the replica's
answer key); time to the seed's 0.984 (ours vs the seed LeNet); accuracy within the seed
LeNet's fit time; the SVM search; data loading; predicting from a saved run vs retraining;
peak memory; an ensemble of CNNs; a 4-job sweep with two launchers. Seed recipes too long to
run whole are timed for a few epochs or one fit and extrapolated, and the table says so.

Resumable: each step keeps its result under --out (a run dir with metrics.json, or a .json
record) and is skipped when run again; delete it to redo that step.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd

from . import cli_config, dataset, predict, score
from .atomic_io import write_bytes, write_text
from .models.svm import linear_svc

SEED_TARGET = 0.984  # the seed LeNet's holdout accuracy after its 50 epochs
SEED_EPOCHS = 50
# Holdout accuracies the seed analysis published for its versions of these models.
SEED_HOLDOUT = {"svm": 0.938, "nn": 0.976, "lenet": 0.984}
SWEEP_LAUNCHERS = {"basic": [], "joblib": ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]}
PLAN = {
    "quick": {"models": ["logreg", "svm", "nn", "lenet"], "splits": ["holdout"],
              "cnn": ["trainer.epochs=2"], "seed_epochs": 1, "members": 0, "sweeps": False},
    "full": {"models": ["logreg", "svm", "nn", "lenet", "cnn"], "splits": ["holdout", "full"],
             "cnn": [], "seed_epochs": 3, "members": 3, "sweeps": True},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few-minute version")
    parser.add_argument("--out", default=None, help="results (default bench/ or bench-quick/)")
    parser.add_argument("--doc", default=None, help="default docs/benchmarks.md (quick: "
                        "<out>/benchmarks.md)")
    parser.add_argument("--members", type=int, default=None, help="CNNs in the ensemble")
    args = parser.parse_args()
    mode = "quick" if args.quick else "full"
    plan = PLAN[mode]
    out = Path(args.out or ("bench-quick" if args.quick else "bench"))
    doc = Path(args.doc or (out / "benchmarks.md" if args.quick else "docs/benchmarks.md"))
    members = plan["members"] if args.members is None else args.members
    data_dir = Path(cli_config.load([]).data.dir)
    bench = Bench(out, data_dir)

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
        render_loading(time_loading(data_dir)),
        render_predict(bench.predict_vs_retrain(out / "cnn-holdout"), cnn),
        render_memory(cnn, bench.run("cnn-full", ["model=cnn", "data.holdout=0"])
                      if mode == "full" else None, seed),
    ]
    if mode == "full":
        sections.append(render_jit({jit: bench.run(f"cnn-jit-{jit}", [
            "model=cnn", "trainer.epochs=3", f"trainer.jit_compile={jit}", "figures=false"])
            for jit in ("false", "true")}))
    if members >= 2:
        sections.append(render_ensemble(bench.ensemble(members)))
    if plan["sweeps"]:
        sections.append(render_sweeps({name: bench.sweep(name, extra)
                                       for name, extra in SWEEP_LAUNCHERS.items()}))
    plot = doc.parent / ("bench_time_to_accuracy.png" if mode == "full"
                         else "time_to_accuracy.png")
    plot_time_to_accuracy({"ours: model=lenet": lenet["history"],
                           "ours: model=cnn": cnn["history"]}, seed, plot)
    header = render_header(mode, plot.name)
    write_text(doc, "\n".join([header, *sections]))
    print(f"bench: wrote {doc} and {plot}")


class Bench:
    def __init__(self, out: Path, data_dir: Path):
        self.out, self.data_dir = out, data_dir

    def run(self, name: str, overrides: list[str]) -> dict:
        """`python -m src.run` into out/<name>, once; its metrics (and history, if any)."""
        run_dir = self.out / name
        command = ["python", "-m", "src.run", *overrides]
        if not (run_dir / "metrics.json").is_file():
            print(f"bench: {' '.join(command)}", flush=True)
            subprocess.run([sys.executable, *command[1:], f"hydra.run.dir={run_dir}",
                            f"submission.dir={self.out / 'submissions'}", "trainer.verbose=2"],
                           check=True)
        metrics = json.loads((run_dir / "metrics.json").read_text())
        metrics["command"] = " ".join(command)
        if (run_dir / "history.json").is_file():
            metrics["history"] = json.loads((run_dir / "history.json").read_text())
        if metrics["holdout_accuracy"] is None:  # fit on every row: score on the key
            metrics["test_accuracy"] = key_accuracy(self.data_dir, metrics["submission"])
        return metrics

    def model_row(self, model: str, split: str) -> dict:
        overrides = [f"model={model}"] + (["data.holdout=0"] if split == "full" else [])
        return {"split": split, **self.run(f"{model}-{split}", overrides)}

    def seed_lenet(self, epochs: int) -> dict:
        record = self.out / f"seed-lenet-{epochs}ep.json"
        if not record.is_file():
            print(f"bench: the seed's LeNet pipeline, {epochs} epoch(s)", flush=True)
            subprocess.run([sys.executable, "-m", "src.seed_pipeline", str(self.data_dir),
                            str(epochs), str(record)], check=True)
        result = json.loads(record.read_text())
        result["fit_seconds_50"] = result["seconds_per_epoch"] * SEED_EPOCHS
        return result

    def seed_svc_fit(self) -> dict:
        """One `SVC(kernel="linear")` fit on a 5-fold training share of the 37,800 rows: the
        unit of the seed's search (5 folds x 10 draws, then a refit on all 37,800)."""
        record = self.out / "seed-svc-fit.json"
        if not record.is_file():
            fit, _ = dataset.holdout_split(dataset.load_train(self.data_dir), 0.1, seed=42)
            rows = len(fit) * 4 // 5
            print(f"bench: one SVC(kernel='linear') fit on {rows} rows", flush=True)
            start = time.perf_counter()
            linear_svc(C=1.0, solver="svc", features="unit").fit(fit.pixels[:rows],
                                                                 fit.labels[:rows])
            write_text(record, json.dumps({"rows": rows,
                                           "seconds": time.perf_counter() - start}) + "\n")
        return json.loads(record.read_text())

    def predict_vs_retrain(self, run_dir: Path) -> dict:
        record = self.out / "predict.json"
        if not record.is_file():
            start = time.perf_counter()
            predict.predict(run_dir)
            write_text(record, json.dumps({"seconds": time.perf_counter() - start}) + "\n")
        return json.loads(record.read_text())

    def ensemble(self, members: int) -> dict:
        """`members` default CNNs on all rows (seeds 42, 1, 2, ...), each scored on the key,
        and their average through `python -m src.ensemble`."""
        runs = [("cnn-full", ["model=cnn", "data.holdout=0"])]
        runs += [(f"cnn-full-seed{s}", ["model=cnn", "data.holdout=0", f"seed={s}"])
                 for s in range(1, members)]
        results = [self.run(name, overrides) for name, overrides in runs]
        record = self.out / f"ensemble-{members}"
        if not (record / "metrics.json").is_file():
            subprocess.run([sys.executable, "-m", "src.ensemble",
                            "runs=" + ",".join(str(self.out / n) for n, _ in runs),
                            f"out_dir={record}", f"submission.dir={self.out / 'submissions'}"],
                           check=True)
        ensemble = json.loads((record / "metrics.json").read_text())
        return {"members": results,
                "command": "python -m src.ensemble runs=" + ",".join(
                    f"<{n}>" for n, _ in runs),
                "test_accuracy": key_accuracy(self.data_dir, ensemble["submission"])}

    def sweep(self, launcher: str, extra: list[str]) -> dict:
        """Wall time of `experiment=seed_table` (4 jobs) with one launcher, and its summary."""
        record = self.out / f"sweep-{launcher}.json"
        if not record.is_file():
            sweep_dir = self.out / f"sweep-{launcher}"
            command = ["python", "-m", "src.run", "experiment=seed_table", *extra]
            print(f"bench: {' '.join(command)}", flush=True)
            start = time.perf_counter()
            subprocess.run([sys.executable, *command[1:], f"hydra.sweep.dir={sweep_dir}",
                            f"submission.dir={self.out / 'submissions'}"], check=True)
            seconds = time.perf_counter() - start
            with open(sweep_dir / "summary.csv", newline="") as fh:
                jobs = list(csv.DictReader(fh))
            write_text(record, json.dumps({"command": " ".join(command), "seconds": seconds,
                                           "jobs": jobs}, indent=2) + "\n")
        return json.loads(record.read_text())


def key_accuracy(data_dir: Path, submission_path: str) -> float:
    return score.key_accuracy(submission_path, score.answer_key(data_dir))


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
    return {"read_csv": median_seconds(lambda: pd.read_csv(path)),
            "cached": median_seconds(lambda: dataset.load_train(data_dir)),
            "mb": path.stat().st_size / 1e6}


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    libs = ", ".join(f"{name} {version(name)}" for name in
                     ("tensorflow", "keras", "scikit-learn", "numpy", "pandas", "hydra-core"))
    return f"{os.cpu_count()} cores, {cpu}; Python {platform.python_version()}; {libs}"


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
        f"Measured by `{command}` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, one run.",
        f"Machine: {machine()}.", "",
        "The machines are shared and noisy: the same step's time can vary by up to 2x from "
        "one minute to the next, so ratios below come from steps of this one run, and "
        "small ratios should be read as rough.", "",
        f"![holdout accuracy against training time]({plot})", ""])


def render_models(rows: list[dict]) -> str:
    lines = [
        "## Every model, default settings", "",
        "*holdout*: fit on 90% of train.csv (stratified, split seed 42), scored on the other "
        "10%. *full*: fit on all 42,000 rows; *test acc* is that submission scored against "
        "the offline replica's answer key. Seconds are wall time; peak memory is the run's "
        "peak resident set.", "",
        "| model | split | holdout acc | seed's holdout | train acc | test acc (key) | epochs "
        "| fit s | predict s | peak MB | command |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['split']} | {_acc(r['holdout_accuracy'])} "
            f"| {_acc(SEED_HOLDOUT.get(r['model']) if r['split'] == 'holdout' else None)} "
            f"| {_acc(r['train_accuracy'])} | {_acc(r.get('test_accuracy'))} | {_epochs(r)} "
            f"| {r['fit_seconds']:.1f} | {r['predict_seconds']:.1f} "
            f"| {r['peak_memory_mb']:.0f} | `{r['command']}` |")
    return "\n".join(lines) + "\n"


def render_time_to_accuracy(lenet: dict, cnn: dict, seed: dict) -> str:
    seed_fit = seed["fit_seconds_50"]
    lines = [
        f"## Time to the seed's {SEED_TARGET} holdout accuracy", "",
        f"The seed's LeNet (batch 32, constant Adam 1e-3, {SEED_EPOCHS} epochs) reached "
        f"{SEED_TARGET} at the end of its {SEED_EPOCHS} epochs. Here its pipeline (`python -m "
        f"src.seed_pipeline`: pandas, float64 pixels, the same holdout) ran {seed['epochs']} "
        f"epoch(s) at a median {seed['seconds_per_epoch']:.1f} s each (holdout accuracy after "
        f"them: {', '.join(f'{a:.4f}' for a in seed['holdout_accuracy'])}); its {SEED_EPOCHS} "
        f"epochs are extrapolated to {seed_fit:.0f} s. Ours: seconds of training at the end of "
        f"the first epoch whose holdout accuracy reached {SEED_TARGET} (from `history.json`).",
        "", "| | seconds of training | ratio seed / ours |", "|---|---|---|",
        f"| seed LeNet, {SEED_EPOCHS} epochs (extrapolated) | {seed_fit:.0f} | 1 |"]
    for run in (lenet, cnn):
        reached = time_to(run["history"], SEED_TARGET)
        if reached is None:
            lines.append(f"| `{run['command']}`: never reached {SEED_TARGET} (best "
                         f"{max(run['history']['val_accuracy']):.4f}) | — | — |")
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
    return "\n".join([
        "## The linear SVM's C search", "",
        "| | holdout acc | seconds | ratio seed / ours |", "|---|---|---|---|",
        f"| seed: `SVC(kernel=\"linear\")`, 5-fold randomized search, 10 draws of C in "
        f"2^-7..2^6 on 37,800 rows, refit (extrapolated from one {seed_fit['rows']:,}-row fit "
        f"of {seed_fit['seconds']:.0f} s) | 0.938 (published) | {seed_search:.0f} | 1 |",
        f"| ours: `{ours['command']}` (liblinear one-vs-one, same C range and 5-fold search "
        f"on 10,000 rows, refit on all) | {ours['holdout_accuracy']:.4f} "
        f"| {ours['fit_seconds']:.0f} | {seed_search / ours['fit_seconds']:.0f}x |", ""])


def render_loading(load: dict) -> str:
    return "\n".join([
        "## Loading train.csv", "",
        f"Median of 5 loads of the {load['mb']:.1f} MB `train.csv`: `pandas.read_csv` "
        f"{load['read_csv']:.3f} s; the validated binary cache {load['cached']:.4f} s "
        f"({load['read_csv'] / load['cached']:.0f}x faster).", ""])


def render_predict(timed: dict, cnn: dict) -> str:
    return "\n".join([
        "## Predicting from a saved run vs retraining", "",
        f"`python -m src.predict run=<cnn-holdout run>` (load the model and the test set, "
        f"predict 28,000 rows): {timed['seconds']:.1f} s; retraining that run: "
        f"{cnn['fit_seconds']:.0f} s ({cnn['fit_seconds'] / timed['seconds']:.0f}x longer).",
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


def render_jit(runs: dict) -> str:
    def epoch(run):  # epochs after the first, which also traces and compiles
        return statistics.median(np.diff(run["history"]["seconds"]))

    off, on = epoch(runs["false"]), epoch(runs["true"])
    return "\n".join([
        "## XLA (`trainer.jit_compile`) on this CPU", "",
        "The default CNN for 3 epochs on the holdout split, median seconds per epoch after the "
        "first:", "", "| jit_compile | s / epoch | holdout acc |", "|---|---|---|",
        f"| false (default) | {off:.1f} | {runs['false']['holdout_accuracy']:.4f} |",
        f"| true | {on:.1f} | {runs['true']['holdout_accuracy']:.4f} |", "",
        f"Ratio on / off: {on / off:.2f}, from one 3-epoch run each. Epoch times on this shared "
        "machine swing up to 2x between minutes (see the 20-45 s epochs in the cnn runs' "
        "logs), so a single pair decides little; repeated whole-process A/B timings of 2-epoch "
        "runs with it off vs Keras' default `auto` found no difference (ratio 1.00). "
        "XLA stays off; try "
        "`trainer.jit_compile=true` on a GPU.", ""])


def render_ensemble(result: dict) -> str:
    lines = ["## An ensemble of default CNNs", "",
             "Each trained on all 42,000 rows with another seed, then averaged by "
             f"`{result['command']}`; accuracy on the replica's answer key.", "",
             "| member | test acc (key) | epochs | fit s |", "|---|---|---|---|"]
    for m in result["members"]:
        lines.append(f"| `{m['command']}` | {m['test_accuracy']:.5f} | {_epochs(m)} "
                     f"| {m['fit_seconds']:.0f} |")
    lines += [f"| **ensemble of {len(result['members'])}** | "
              f"**{result['test_accuracy']:.5f}** | | |", ""]
    return "\n".join(lines)


def render_sweeps(sweeps: dict) -> str:
    basic, joblib = sweeps["basic"], sweeps["joblib"]
    lines = [
        "## A 4-job sweep: the seed table, basic launcher vs joblib", "",
        "`experiment=seed_table` (svm, logreg, nn, lenet on the 10% holdout), whole command "
        "wall time, including each job's start-up:", "",
        "| launcher | wall s | command |", "|---|---|---|",
        f"| basic (one job at a time, 2 threads each) | {basic['seconds']:.0f} "
        f"| `{basic['command']}` |",
        f"| joblib, 2 jobs at once (1 thread each) | {joblib['seconds']:.0f} "
        f"| `{joblib['command']}` |", "",
        f"Ratio basic / joblib: {basic['seconds'] / joblib['seconds']:.2f}.", "",
        "The seed table it prints (basic launcher run; the seed analysis's figures beside):",
        "", "| model | train acc | holdout acc | seed's train / holdout |",
        "|---|---|---|---|"]
    seed = {"svm": ".954 / .938", "nn": ".997 / .976", "lenet": ".998 / .984 (its CNN)"}
    for job in basic["jobs"]:
        lines.append(f"| {job['model']} | {float(job['train_accuracy']):.4f} "
                     f"| {float(job['holdout_accuracy']):.4f} | {seed.get(job['model'], '—')} |")
    return "\n".join(lines) + "\n"


def plot_time_to_accuracy(histories: dict, seed: dict, path: Path) -> None:
    from .figures import png_bytes, pyplot

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
