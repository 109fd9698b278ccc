"""Single CNNs on all rows and their ensemble, scored on the replica's answer key."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from src.benchmarks.cells import epochs_cell, finished_on, provenance, timed_cell
from src.benchmarks.runner import Bench, net_name, reshapes
from src.benchmarks.train_speed import quiet


def section_ensembles(bench: Bench, scope: dict) -> str:
    result = bench.ensemble(scope["ensemble"])
    record = Path(result["record"])
    folds = scope["folds"]
    lines = ["## Single CNNs and an ensemble of them", "",
             f"The ensemble was made {finished_on(record)}; its members "
             f"{provenance(result['members'])}.", "",
             "Each member (`conf/bench.yaml`) trained on all 42,000 rows, was archived in "
             "`results/` (*archived as*), and joined the average of "
             f"`{result['command']}`; accuracy on the replica's answer key. Fit minutes are "
             "marked busy where other processes used the machine meanwhile: they say how long "
             "that run took there, not how fast the recipe is; *quiet min* is the same epochs at "
             "the quiet images/s the train step section measured for its net, its model with "
             "any `model.` overrides (for a net timed later: its quiet ratio to the default "
             "times the default's quiet images/s of the section's own rounds; "
             f"`{bench.record('speed.json')}`; — where that record has no quiet timing of the "
             "member's net).",
             "", "| member | archived as | test acc (key) | epochs | fit min | quiet min |",
             "|---|---|---|---|---|---|"]
    quiet = _quiet_images_per_s(bench)
    for m in result["members"]:
        lines.append(f"| `{m['command']}` | `{m['dir']}` | {m['test_accuracy']:.5f} "
                     f"| {epochs_cell(m)} | {timed_cell(m['fit_seconds'] / 60, m.get('fit_load'))} "
                     f"| {_quiet_minutes(m, quiet)} |")
    singles = [m["test_accuracy"] for m in result["members"]]
    ensemble = result["test_accuracy"]
    minutes = sum(m["fit_seconds"] for m in result["members"]) / 60
    quiet_total = [_quiet_minutes(m, quiet) for m in result["members"]]
    quiet_sum = (f"{sum(map(float, quiet_total)):.0f} in all" if "—" not in quiet_total
                 else "— (a member's net untimed)")
    lines += [f"| mean of `{recipe}` over its {len(seeds)} seeds | | {statistics.mean(seeds):.5f} "
              "| | | |" for recipe, seeds in seed_means(result["members"]).items()
              if len(seeds) > 1]
    lines += [f"| mean of all {len(singles)} single models | "
              f"| {statistics.mean(singles):.5f} | | | |",
              f"| **ensemble of {len(singles)}** | `{record}` | **{ensemble:.5f}** | "
              f"| {minutes:.0f} in all | {quiet_sum} |"]
    if folds:
        cv = bench.run(f"cnn-folds{folds}", ["model=cnn", "data.holdout=0",
                                             f"data.folds={folds}"])
        lines.append(f"| `{cv['command']}` ({folds} fold models averaged) | `{cv['dir']}` "
                     f"| {cv['test_accuracy']:.5f} | "
                     f"| {timed_cell(cv['fit_seconds'] / 60, cv.get('fit_load'))} |")
    lines += ["", f"The ensemble is {ensemble - statistics.mean(singles):+.5f} over the mean "
              f"single model and {ensemble - max(singles):+.5f} over the best one "
              f"({(ensemble - max(singles)) * result['test_rows']:+.0f} of "
              f"{result['test_rows']:,} test images). Members' fit minutes: "
              f"{_threads_note(result['members'])}."]
    if not folds:
        lines += ["", "The `data.folds=K` ensemble was not measured in this run (`--folds 0`)."]
    runs = ",".join(m["dir"] for m in result["members"])
    lines += ["", "On a fresh clone, with `make setup data` and no training, this reproduces the "
              f"ensemble's key accuracy ({ensemble:.5f}) from the archive:", "",
              f"    make ensemble RUNS={runs}"]
    return "\n".join(lines) + "\n"


def seed_means(members: list[dict]) -> dict[str, list[float]]:
    """Each recipe's key accuracies over its seeds, in the members' order (a single recipe's
    figure): members whose commands differ only in `seed=` share a recipe, and in `threads=`,
    which the recipe's hash leaves out too (how fast, not what is trained)."""
    recipes: dict[str, list[float]] = {}
    for m in members:
        recipe = " ".join(w for w in m["command"].split()
                          if not w.startswith(("seed=", "threads=")))
        recipes.setdefault(recipe, []).append(m["test_accuracy"])
    return recipes


def _quiet_images_per_s(bench: Bench) -> dict[str, float]:
    """Training images a second, by net (`net_name`), from the speed section's quiet rounds."""
    path = bench.record("speed.json")
    if not path.is_file():
        return {}
    compared = json.loads(path.read_text())["compared"]
    base = quiet(compared["baseline"])
    speeds = {net_name(compared["baseline"]["setting"]): statistics.median(base)} if base else {}
    for name, r in compared.items():
        net = net_name(r["setting"])  # a net timed for a member, or a setting of the default
        if name != net:
            continue
        if "timed_later" in r:
            # timed in a later run: its ratio to that run's default, at this record's default
            # speed (the machine's speed drifts between runs; a ratio within one run does not)
            ratios = quiet(r, "ratios")
            if ratios and base:
                speeds[net] = statistics.median(ratios) * statistics.median(base)
        elif ips := quiet(r):
            speeds[net] = statistics.median(ips)
    return speeds


def _quiet_minutes(run: dict, quiet: dict[str, float]) -> str:
    """The run's epochs at its net's quiet speed, in minutes; — when that net is unmeasured."""
    epochs = len(run["history"]["seconds"]) if run.get("history") else None
    net = net_name({"model": run["model"],
                    "overrides": filter(reshapes, run["command"].split())})
    if net not in quiet or not epochs:
        return "—"
    return f"{epochs * run['rows']['fit'] / quiet[net] / 60:.0f}"


def _threads_note(members: list[dict]) -> str:
    threads = sorted({m.get("threads") for m in members}, key=str)
    machines = sorted({f"{m['machine']['cores']} cores, {m['machine']['cpu']}"
                       if m.get("machine") else "an unrecorded machine" for m in members})
    return (f"each at threads={threads[0]}" if len(threads) == 1
            else "at threads=" + "/".join(map(str, threads))) + f" on {'; '.join(machines)}"
