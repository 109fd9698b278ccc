"""A 4-job sweep under two launchers."""

from __future__ import annotations

from src.benchmarks.cells import any_busy, timed_cell
from src.benchmarks.runner import Bench

SWEEP_LAUNCHERS = {"basic": [], "joblib": ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]}


def render_sweeps(sweeps: dict) -> str:
    basic, joblib = sweeps["basic"], sweeps["joblib"]
    lines = [
        "## A 4-job sweep: the seed table, basic launcher vs joblib", "",
        "`experiment=seed_table` (svm, logreg, nn, lenet on the 10% holdout), whole command "
        "wall time, including each job's start-up:", "",
        "| launcher | wall s | command |", "|---|---|---|",
        f"| basic (one job at a time, 2 threads each) "
        f"| {timed_cell(basic['seconds'], basic.get('load'))} "
        f"| `{basic['command']}` |",
        f"| joblib, 2 jobs at once (1 thread each) "
        f"| {timed_cell(joblib['seconds'], joblib.get('load'))} "
        f"| `{joblib['command']}` |", "",
        ("A launcher measured busy: no ratio drawn." if any_busy(basic.get("load"),
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


def section_sweeps(bench: Bench, scope: dict) -> str:
    return render_sweeps({name: bench.sweep(name, extra)
                          for name, extra in SWEEP_LAUNCHERS.items()})
