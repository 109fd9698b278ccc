"""The public CNN recipe against ours, at equal epochs and within equal time."""

from __future__ import annotations

import statistics
from pathlib import Path

from src.benchmarks.cells import (
    any_busy,
    epochs_cell,
    finished_on,
    loads_label,
    measured_on,
    timed_cell,
)
from src.benchmarks.runner import PUBLIC, Bench


def section_public(bench: Bench, scope: dict) -> str:
    speed = bench.speed(scope["speed"])["compared"]
    public = speed[f"model={PUBLIC}"]
    budget = scope["equal_time"]
    runs = {name: bench.run(f"equal-time-{name}", [f"model={name}",
                                                   f"trainer.time_budget={budget}"])
            for name in ("cnn", PUBLIC)}
    epoch_ratio = 1 / statistics.median(public["ratios"])  # within one run, even a later one
    if any(public["busy"]):
        epoch_said = ("its epoch's time against the default's was measured on a busy machine "
                      f"({loads_label(public['loads'])}): no ratio drawn** (each round: ")
    else:
        epoch_said = f"its epoch takes {epoch_ratio:.2f}x the default's** (each round: "
    busy_runs = [name for name, run in runs.items() if any_busy(run.get("fit_load"))]
    timed_on = measured_on(bench.record("speed.json"))
    lines = [
        "## The public single-CNN recipe beside ours", "",
        f"Epoch times measured {timed_on}, the runs "
        f"{finished_on(Path(runs[PUBLIC]['dir']))} (see the train "
        "step section for the machine).", "",
        f"`model={PUBLIC}` is the best-known public Digit Recognizer CNN as published "
        "(32C3-32C3-32C5S2, 64C3-64C3-64C5S2, 128C4, batch norm, dropout 0.4, batch 64, Adam "
        "1e-3 x 0.95 an epoch, 45 epochs). Its train step costs "
        f"{public['flops_per_image'] / 1e6:.0f} MFLOP an image against the default's "
        f"{speed['baseline']['flops_per_image'] / 1e6:.0f}; measured in the train step "
        f"section's rounds of {timed_on}, "
        f"**{epoch_said}"
        f"{', '.join(f'{1 / x:.2f}' for x in public['ratios'])}).", "",
        f"At equal wall time: each recipe trained on the 90% split with "
        f"`trainer.time_budget={budget}` ({budget / 60:.0f} minutes; ours anneals its cosine "
        "over the epochs that fit, the public recipe keeps its per-epoch decay and stops), "
        "holdout accuracy at the end:", "",
        "| recipe | epochs in the budget | holdout acc | fit s | command |",
        "|---|---|---|---|---|"]
    for name, run in runs.items():
        lines.append(f"| {name} | {epochs_cell(run)} | {run['holdout_accuracy']:.5f} "
                     f"| {timed_cell(run['fit_seconds'], run.get('fit_load'))} "
                     f"| `{run['command']}` |")
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
