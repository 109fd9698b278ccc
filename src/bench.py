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
import sys
from pathlib import Path

from src.benchmarks.doc import dated, full_command, mark, render_header, splice
from src.benchmarks.ensembles_section import section_ensembles
from src.benchmarks.models_section import (
    plot_time_to_accuracy,
    render_loading,
    render_memory,
    render_models,
    render_predict,
    render_svm,
    render_time_to_accuracy,
)
from src.benchmarks.public_section import section_public
from src.benchmarks.runner import Bench, member_nets, time_loading
from src.benchmarks.speed_section import section_speed
from src.benchmarks.sweeps_section import section_sweeps
from src.config import command_config
from src.utils.atomic_io import write_text
from src.utils.errors import ConfigError, exit_on_error

# What each size of the bench runs (`--quick`, or the full one): models, splits, members...
SCOPE = {
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
    scope = dict(SCOPE[mode])
    listed = dict(command_config.load([], name="bench").ensemble.members)
    if args.members is not None:
        if not 0 <= args.members <= len(listed):
            raise ConfigError(f"--members {args.members}: conf/bench.yaml lists {len(listed)} "
                              "ensemble members; give 0 to that many")
        scope["members"] = args.members
    if scope["members"] is None:
        scope["members"] = len(listed)
    scope["ensemble"] = {name: list(o) for name, o in list(listed.items())[:scope["members"]]}
    scope["speed"] = {**scope["speed"], "nets": member_nets(scope["ensemble"])}
    if args.folds is not None:
        scope["folds"] = args.folds or None
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
        if "ensembles" in names and scope["members"] < 2:
            raise SystemExit("error: --sections ensembles needs --members 2 or more")
        command = " ".join(["python -m src.bench", *sys.argv[1:]])
        for name in names:
            text = dated(splice(text, name, SECTION[name](bench, scope)), name, command)
        write_text(doc, text)
        print(f"bench: replaced {', '.join(names)} in {doc}")
        return

    rows = []
    for model in scope["models"]:
        for split in scope["splits"]:
            rows.append(bench.model_row(model, split))
    cnn = bench.run("cnn-holdout", ["model=cnn", *scope["cnn"]])
    lenet = bench.run("lenet-holdout", ["model=lenet"])
    seed = bench.seed_lenet(scope["seed_epochs"])
    sections = [
        render_models(rows),
        render_time_to_accuracy(lenet, cnn, seed),
        render_svm(bench.model_row("svm", "holdout"), bench.seed_svc_fit()),
        render_loading(time_loading(bench.data_dir)),
        render_predict(bench.predict_vs_retrain(["model=cnn", *scope["cnn"]]), cnn),
        render_memory(cnn, bench.run("cnn-full", ["model=cnn", "data.holdout=0"])
                      if mode == "full" else None, seed),
    ]
    wanted = {"speed": True, "public": True, "ensembles": scope["members"] >= 2,
              "sweeps": scope["sweeps"]}
    sections += [mark(name, SECTION[name](bench, scope)) for name in PARTIAL if wanted[name]]
    plot = doc.parent / ("bench_time_to_accuracy.png" if mode == "full"
                         else "time_to_accuracy.png")
    plot_time_to_accuracy({"ours: model=lenet": lenet["history"],
                           "ours: model=cnn": cnn["history"]}, seed, plot)
    header = render_header(mode, plot.name)
    text = dated("\n".join([header, *sections]), "all", full_command(mode))
    write_text(doc, text)
    print(f"bench: wrote {doc} and {plot}")


SECTION = {"speed": section_speed, "public": section_public, "ensembles": section_ensembles,
           "sweeps": section_sweeps}


if __name__ == "__main__":
    main()
