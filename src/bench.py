"""`make bench`: train each model on the 10% holdout and on all rows, score the full-data
submission against the replica key, time data loading and one fit of the seed's SVM, and
write docs/benchmarks.md.

    python -m src.bench [MODEL ...] [--out bench] [--doc docs/benchmarks.md]

Resumable: a model whose run dir already holds metrics.json is not trained again (delete the
run dir to redo it). Runs go to bench/<model>-<split>/, submissions to bench/submissions/.
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

import pandas as pd

from . import cli_config, dataset, score
from .atomic_io import write_text
from .models.svm import linear_svc

SPLITS = {"holdout": [], "full": ["data.holdout=0"]}
SWEEP_LAUNCHERS = {"basic": [], "joblib": ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]}
# Holdout accuracies the seed analysis published for its versions of these models.
SEED_HOLDOUT = {"svm": 0.938, "nn": 0.976, "lenet": 0.984}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", default=["logreg", "svm", "nn", "lenet", "cnn"])
    parser.add_argument("--out", default="bench")
    parser.add_argument("--doc", default="docs/benchmarks.md")
    args = parser.parse_args()
    out = Path(args.out)
    cfg = cli_config.load([])

    rows = []
    for model in args.models:
        for split, overrides in SPLITS.items():
            run_dir = out / f"{model}-{split}"
            command = ["python", "-m", "src.run", f"model={model}", *overrides]
            if not (run_dir / "metrics.json").is_file():
                print(f"bench: {' '.join(command)}", flush=True)
                subprocess.run([sys.executable, *command[1:], f"hydra.run.dir={run_dir}",
                                f"submission.dir={out / 'submissions'}"], check=True)
            metrics = json.loads((run_dir / "metrics.json").read_text())
            if split == "full":
                metrics["test_accuracy"] = score.main([metrics["submission"]])
            rows.append({"split": split, "command": " ".join(command), **metrics})

    load = time_loading(Path(cfg.data.dir))
    seed_svm = time_seed_svm_fit(Path(cfg.data.dir), out / "svm-seed-fit.json")
    sweeps = {launcher: time_sweep(out, launcher, extra)
              for launcher, extra in SWEEP_LAUNCHERS.items()}
    write_text(args.doc, render(rows, load, seed_svm) + render_sweeps(sweeps))
    print(f"bench: wrote {args.doc}")


def time_loading(data_dir: Path, repeats: int = 5) -> dict:
    def median_seconds(fn):
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    csv = data_dir / "train.csv"
    dataset.load_train(data_dir)  # make sure the cache exists
    read_csv = median_seconds(lambda: pd.read_csv(csv))
    cached = median_seconds(lambda: dataset.load_train(data_dir))
    return {"read_csv": read_csv, "cached": cached, "mb": csv.stat().st_size / 1e6}


def time_seed_svm_fit(data_dir: Path, record: Path) -> dict:
    """One `SVC(kernel="linear")` fit on a 5-fold training share of the seed's 37,800 rows:
    the unit of the seed's search, which ran 5 folds x n_iter draws (10 by default) of it."""
    if record.is_file():
        return json.loads(record.read_text())
    fit, _ = dataset.holdout_split(dataset.load_train(data_dir), 0.1, seed=42)
    rows = len(fit) * 4 // 5
    print(f"bench: one SVC(kernel='linear') fit on {rows} rows", flush=True)
    start = time.perf_counter()
    linear_svc(C=1.0).fit(fit.pixels[:rows], fit.labels[:rows])
    result = {"rows": rows, "seconds": time.perf_counter() - start}
    write_text(record, json.dumps(result) + "\n")
    return result


def time_sweep(out: Path, launcher: str, extra: list[str]) -> dict:
    """Wall time of `experiment=seed_table` (4 jobs) with one launcher, and its summary."""
    record = out / f"sweep-{launcher}.json"
    if record.is_file():
        return json.loads(record.read_text())
    sweep_dir = out / f"sweep-{launcher}"
    command = ["python", "-m", "src.run", "-m", "experiment=seed_table", *extra]
    print(f"bench: {' '.join(command)}", flush=True)
    start = time.perf_counter()
    subprocess.run([sys.executable, *command[1:], f"hydra.sweep.dir={sweep_dir}",
                    f"submission.dir={out / 'submissions'}"], check=True)
    seconds = time.perf_counter() - start
    with open(sweep_dir / "summary.csv", newline="") as fh:
        jobs = list(csv.DictReader(fh))
    result = {"command": " ".join(command), "seconds": seconds, "jobs": jobs}
    write_text(record, json.dumps(result, indent=2) + "\n")
    return result


def render_sweeps(sweeps: dict) -> str:
    basic, joblib = sweeps["basic"], sweeps["joblib"]
    lines = [
        "## A 4-job sweep: the seed table, basic launcher vs joblib",
        "",
        "`experiment=seed_table` (svm, logreg, nn, lenet on the 10% holdout), whole command "
        "wall time, including each job's start-up:",
        "",
        "| launcher | wall s | command |",
        "|---|---|---|",
        f"| basic (one job at a time, 2 threads each) | {basic['seconds']:.0f} "
        f"| `{basic['command']}` |",
        f"| joblib, 2 jobs at once (1 thread each) | {joblib['seconds']:.0f} "
        f"| `{joblib['command']}` |",
        "",
        f"Ratio basic / joblib: {basic['seconds'] / joblib['seconds']:.2f}.",
        "",
        "The seed table it prints (basic launcher run; the seed analysis's figures beside):",
        "",
        "| model | train acc | holdout acc | seed's train / holdout |",
        "|---|---|---|---|",
    ]
    seed = {"svm": ".954 / .938", "nn": ".997 / .976", "lenet": ".998 / .984 (its CNN)"}
    for job in basic["jobs"]:
        lines.append(f"| {job['model']} | {float(job['train_accuracy']):.4f} "
                     f"| {float(job['holdout_accuracy']):.4f} | {seed.get(job['model'], '—')} |")
    return "\n".join(lines) + "\n"


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


def render(rows: list[dict], load: dict, seed_svm: dict) -> str:
    def acc(value):
        return "—" if value is None else f"{value:.4f}"

    lines = [
        "# Benchmarks",
        "",
        f"Measured by `make bench` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC.",
        f"Machine: {machine()}.",
        "",
        "Every model with its default settings. *holdout*: fit on 90% of train.csv "
        "(stratified, split seed 42), scored on the other 10%. *full*: fit on all 42,000 rows; "
        "*test* is that submission's accuracy on the 28,000 test rows, scored by `make score` "
        "against the offline replica's answer key. Fit and predict seconds are wall time; "
        "peak memory is the run's peak resident set. The machines are shared: the same run's "
        "time can vary by up to 2x (compare the holdout and full rows of one model).",
        "",
        "| model | split | holdout acc | seed's holdout | train acc | test acc (key) | fit s "
        "| predict s | peak MB | command |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['split']} | {acc(r['holdout_accuracy'])} "
            f"| {acc(SEED_HOLDOUT.get(r['model']) if r['split'] == 'holdout' else None)} "
            f"| {acc(r['train_accuracy'])} | {acc(r.get('test_accuracy'))} "
            f"| {r['fit_seconds']:.1f} | {r['predict_seconds']:.1f} "
            f"| {r['peak_memory_mb']:.0f} | `{r['command']}` |"
        )
    lines += [
        "",
        "## Loading train.csv",
        "",
        f"Median of 5 loads of the {load['mb']:.1f} MB `train.csv`: `pandas.read_csv` "
        f"{load['read_csv']:.3f} s; the validated binary cache {load['cached']:.4f} s "
        f"({load['read_csv'] / load['cached']:.0f}x faster).",
        "",
        "## The seed's SVM search",
        "",
        f"One `SVC(kernel=\"linear\")` fit on {seed_svm['rows']:,} rows (a 5-fold training "
        f"share of the 37,800) took {seed_svm['seconds']:.0f} s. The seed's randomized search "
        f"runs 5 folds x 10 draws of it, about {seed_svm['seconds'] * 50 / 60:.0f} minutes "
        "before its final refit (extrapolated, not run). The `svm` "
        "config searches a 5,000-row sample and refits once on all rows (its fit time above).",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
