"""The models table, time to the seed's accuracy, the SVM search, loading, predicting
again, memory, and the time-to-accuracy plot."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from src.benchmarks.cells import (
    accuracy_cell,
    accuracy_within,
    any_busy,
    epochs_cell,
    provenance,
    same_machine,
    time_to,
    timed_cell,
)
from src.benchmarks.runner import SEED_EPOCHS
from src.utils import machine as this_machine
from src.utils.atomic_io import write_bytes

SEED_TARGET = 0.984  # the seed LeNet's holdout accuracy after its 50 epochs


# Holdout accuracies the seed analysis published for its versions of these models.
SEED_HOLDOUT = {"svm": 0.938, "nn": 0.976, "lenet": 0.984}


def render_models(rows: list[dict]) -> str:
    lines = [
        "## Every model, default settings", "",
        f"Runs {provenance(rows)}.", "",
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
            f"| {r['model']} | {r['split']} | {accuracy_cell(r['holdout_accuracy'])} "
            f"| {accuracy_cell(SEED_HOLDOUT.get(r['model']) if r['split'] == 'holdout' else None)} "
            f"| {accuracy_cell(r['train_accuracy'])} | {accuracy_cell(r.get('test_accuracy'))} "
            f"| {epochs_cell(r)} "
            f"| {timed_cell(r['fit_seconds'], r.get('fit_load'), 1)} | {r['predict_seconds']:.1f} "
            f"| {r['peak_memory_mb']:.0f} | `{r['command']}` |")
    return "\n".join(lines) + "\n"


def render_time_to_accuracy(lenet: dict, cnn: dict, seed: dict) -> str:
    seed_fit = seed["fit_seconds_50"]
    seed_busy = any_busy(seed.get("load"))
    lines = [
        f"## Time to the seed's {SEED_TARGET} holdout accuracy", "",
        f"The seed's LeNet (batch 32, constant Adam 1e-3, {SEED_EPOCHS} epochs) reached "
        f"{SEED_TARGET} at the end of its {SEED_EPOCHS} epochs. Here its pipeline (`python -m "
        f"src.benchmarks.seed_pipeline`: pandas, float64 pixels, the same holdout) ran "
        f"{seed['epochs']} epoch(s) at a median "
        f"{timed_cell(seed['seconds_per_epoch'], seed.get('load'), 1)} s each (holdout "
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
        elif seed_busy or any_busy(run.get("fit_load")):
            lines.append(f"| `{run['command']}` | {timed_cell(reached, run.get('fit_load'), 1)} "
                         "| — (a busy timing) |")
        elif not same_machine(seed, run):
            lines.append(f"| `{run['command']}` | {reached:.1f} | — (another machine) |")
        else:
            lines.append(f"| `{run['command']}` | {reached:.1f} | {seed_fit / reached:.0f}x |")
    within = accuracy_within(cnn["history"], seed_fit)
    lines += [
        "", "`model=lenet` is the seed's architecture with our training recipe (batch 128, "
        "Adam 3e-3 decayed by a cosine, 4 epochs).", "",
        f"**Accuracy within the seed LeNet's {seed_fit:.0f} s:** `{cnn['command']}` reached "
        f"holdout accuracy {accuracy_cell(within)} by then "
        f"(final {cnn['holdout_accuracy']:.4f} after "
        f"{cnn['history']['seconds'][-1]:.0f} s of training, {epochs_cell(cnn)} "
        f"epochs); the seed LeNet, {SEED_TARGET}.", ""]
    return "\n".join(lines)


def render_svm(ours: dict, seed_fit: dict) -> str:
    seed_search = seed_fit["seconds"] * (5 * 10 + 1.25)  # 50 fits, and a refit on 5/4 rows
    ratio = ("— (a busy timing)" if any_busy(seed_fit.get("load"), ours.get("fit_load"))
             else "— (another machine)" if not same_machine(seed_fit, ours)
             else f"{seed_search / ours['fit_seconds']:.0f}x")
    return "\n".join([
        "## The linear SVM's C search", "",
        "| | holdout acc | seconds | ratio seed / ours |", "|---|---|---|---|",
        f"| seed: `SVC(kernel=\"linear\")`, 5-fold randomized search, 10 draws of C in "
        f"2^-7..2^6 on 37,800 rows, refit (extrapolated from one {seed_fit['rows']:,}-row fit "
        f"of {timed_cell(seed_fit['seconds'], seed_fit.get('load'))} s) | 0.938 (published) "
        f"| {seed_search:.0f} | 1 |",
        f"| ours: `{ours['command']}` (liblinear one-vs-one, same C range and 5-fold search "
        f"on 10,000 rows, refit on all) | {ours['holdout_accuracy']:.4f} "
        f"| {timed_cell(ours['fit_seconds'], ours.get('fit_load'))} | {ratio} |", ""])


def render_loading(load: dict) -> str:
    return "\n".join([
        "## Loading train.csv", "",
        f"Median of 5 loads of the {load['mb']:.1f} MB `train.csv`: `pandas.read_csv` "
        f"{load['read_csv']:.3f} s; the validated binary cache {load['cached']:.4f} s "
        + (f"({load['read_csv'] / load['cached']:.0f}x faster)." if not any_busy(load.get("load"))
           else f"(measured {this_machine.label(load.get('load'))}: no ratio drawn)."), ""])


def render_predict(timed: dict, cnn: dict) -> str:
    return "\n".join([
        "## Predicting from a saved run vs retraining", "",
        f"`python -m src.predict run=<cnn-holdout run>` (load the model and the test set, "
        f"predict 28,000 rows): {timed_cell(timed['seconds'], timed.get('load'), 1)} s; retraining "
        f"that run: {timed_cell(cnn['fit_seconds'], cnn.get('fit_load'))} s "
        + ("(a busy timing: no ratio drawn)." if any_busy(timed.get("load"), cnn.get("fit_load"))
           else "(measured on other machines: no ratio drawn)." if not same_machine(timed, cnn)
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
