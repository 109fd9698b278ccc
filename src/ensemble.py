"""Average, vote or select saved runs into one submission; no retraining.

    python -m src.ensemble runs=outputs/a_cnn,outputs/b_cnn,results/c
    python -m src.ensemble runs=multirun/2026-11-25/19-00-00 top=5 method=vote
    python -m src.ensemble runs=results/a,results/b,results/c method=select
    python -m src.run experiment=cnn_ensemble      # train 5 seeds and average them, one command

Members are finished run dirs or archived runs (results/, src/runs/archive.py: their test
predictions), or every finished job of a sweep dir; all must have predicted the same test set.
When members share a holdout split, it reports each one's holdout accuracy, how often each pair
agrees, and the ensemble's own holdout accuracy. `method=select` weights the members by
ensemble selection (src/ensembles/selection.py) on their shared holdout or out-of-fold rows.
The ensemble's record (metrics and test predictions, src/runs/run_dir.py) goes to `out_dir`;
its submission, validated, to `submission.dir`.
"""

from __future__ import annotations

import sys
import time
from itertools import combinations
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf

from src import score
from src.config import command_config
from src.data import dataset
from src.ensembles.members import check_test_sets, combine, data_dir, members
from src.ensembles.selection import forward_selection
from src.runs.run_dir import METRICS, RunDir
from src.submissions import submission_csv
from src.utils.errors import ConfigError, DataError, exit_on_error

METHODS = ("mean", "vote", "select")


def shared_holdout(runs: list[RunDir]) -> tuple[list[np.ndarray], np.ndarray] | None:
    """The members' class scores on their holdout and its labels, when every member held out
    the same rows (the same labels in the same order); else None."""
    holdouts = [r.holdout() for r in runs]
    if any(h is None for h in holdouts):
        return None
    labels = holdouts[0][1]
    if any(not np.array_equal(held_labels, labels) for _, held_labels in holdouts):
        return None
    return [proba for proba, _ in holdouts], labels


def selection_rows(runs: list[RunDir], data) -> tuple[list[np.ndarray], np.ndarray, str]:
    """Rows no member trained on, to select by: a shared holdout, else out-of-fold scores of
    runs with the same folds of the same train.csv."""
    held = shared_holdout(runs)
    if held is not None:
        return held[0], held[1], f"the shared holdout ({len(held[1])} rows)"
    oofs = [r.oof_proba() for r in runs]
    splits = {(c.get("data", {}).get("folds"), c.get("data", {}).get("split_seed"))
              for c in (r.config() or {} for r in runs)}
    where = data_dir(runs, data)
    if all(o is not None for o in oofs) and len(splits) == 1 and where is not None:
        train = dataset.load_train(where, data.cache)
        trained_on = {(r.metrics().get("data") or {}).get("train") for r in runs}
        if trained_on == {train.fingerprint()} and len(oofs[0]) == len(train):
            return oofs, train.labels, f"out-of-fold scores ({len(train)} rows)"
    raise ConfigError("method=select needs rows no member trained on: members sharing one "
                      "holdout (data.holdout > 0, the same split) or k-fold runs "
                      "(data.folds=K, the same K and split) of this data; runs fit on all "
                      "rows can only be averaged (method=mean)")


def holdout_report(runs: list[RunDir], method: str, weights=None) -> dict | None:
    """Holdout accuracy of each member and of the ensemble, and pairwise agreement, when
    every member held out the same rows (same labels in the same order)."""
    runs = [RunDir(r) for r in runs]
    held = shared_holdout(runs)
    if held is None:
        return None
    probas, labels = held
    predicted = [proba.argmax(axis=1) for proba in probas]
    ensemble = combine(probas, method, weights).argmax(axis=1)
    return {
        "members": {str(r): float(np.mean(p == labels)) for r, p in zip(runs, predicted,
                                                                         strict=True)},
        "ensemble": float(np.mean(ensemble == labels)),
        "agreement": {f"{a} ~ {b}": float(np.mean(pa == pb))
                      for (a, pa), (b, pb) in combinations(zip(runs, predicted, strict=True), 2)},
        "rows": int(len(labels)),
    }


@exit_on_error
def main(argv: list[str]) -> Path:
    # `runs=a,b` as typed: Hydra would read a,b as a sweep; here it is a list
    argv = [f"runs=[{a.split('=', 1)[1]}]" if a.startswith("runs=") and "[" not in a else a
            for a in argv]
    settings = command_config.load(argv, name="ensemble")
    if OmegaConf.is_missing(settings, "runs"):
        raise ConfigError("which runs? give runs=DIR1,DIR2,... (run dirs or a sweep dir)")
    if settings.method not in METHODS:
        raise ConfigError(f"method={settings.method} is not one of {', '.join(METHODS)}")
    runs = members(list(settings.runs), settings.top)
    probas = [r.test_proba() for r in runs]
    if len({p.shape for p in probas}) > 1:
        shapes = ", ".join(f"{r.name}: {p.shape[0]} rows" for r, p in zip(runs, probas,
                                                                          strict=True))
        raise ConfigError(f"members predicted different test sets ({shapes})")
    test_set = check_test_sets(runs, settings.data)
    weights = selected_on = None
    if settings.method == "select":
        if isinstance(settings.select_rounds, bool) or not isinstance(
                settings.select_rounds, int) or settings.select_rounds < 1:
            raise ConfigError(f"select_rounds={settings.select_rounds} is out of range: "
                              "expected an integer >= 1")
        held, labels, selected_on = selection_rows(runs, settings.data)
        weights = forward_selection(held, labels, settings.select_rounds)
    scores = combine(probas, settings.method, weights)
    test_labels = [p.argmax(axis=1) for p in probas]
    report = holdout_report(runs, settings.method, weights)
    out_dir = RunDir(settings.out_dir)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    tag = f"holdout{report['ensemble']:.5f}" if report else "full"
    path = submission_csv.write(submission_csv.build(scores.argmax(axis=1)),
                                settings.submission.dir,
                                f"{stamp}_ensemble{len(runs)}-{settings.method}_{tag}",
                                len(scores))
    metrics = {
        "model": f"ensemble-{settings.method}",
        "members": [str(r) for r in runs],
        "weights": None if weights is None else {str(r): float(w) for r, w in
                                                 zip(runs, weights, strict=True)},
        "selected_on": selected_on,
        "data": {"test": test_set},
        "holdout_accuracy": report["ensemble"] if report else None,
        "holdout": report,
        "test_agreement": {f"{a} ~ {b}": float(np.mean(la == lb))
                           for (a, la), (b, lb) in combinations(zip(runs, test_labels,
                                                                    strict=True), 2)},
        "submission": str(path),
    }
    key = replica_key(runs, settings.data, test_set)
    if key is not None:  # scoring only: nothing above saw it
        metrics["test_accuracy"] = float(np.mean(scores.argmax(axis=1) == key))
    out_dir.write_test_proba(scores / scores.sum(axis=1, keepdims=True))
    out_dir.write_metrics(metrics)
    _print(runs, report, metrics, path, out_dir,
           settings.top is not None or settings.method == "select")
    return path


def replica_key(runs: list[RunDir], data, test_set: str | None) -> np.ndarray | None:
    """The replica's answer key for the checked test set, to score the ensemble by (as `make
    score` would); None for Kaggle's data, which has none, or an unchecked test set."""
    where = data_dir(runs, data)
    if test_set is None or where is None or not (where / "test.csv").is_file():
        return None
    try:
        return score.answer_key(where)
    except DataError:
        return None


def _print(runs, report, metrics, path, out_dir, chosen_by_holdout: bool) -> None:
    print(f"ensemble of {len(runs)} ({metrics['model']}):")
    weights = metrics["weights"]
    for run in runs:
        accuracy = report["members"][str(run)] if report else None
        print(f"  {run}" + (f"  holdout {accuracy:.5f}" if accuracy is not None else "")
              + (f"  weight {weights[str(run)]:.2f}" if weights else ""))
    if weights:
        print(f"weights chosen by ensemble selection on {metrics['selected_on']}")
    if report:
        low = min(report["agreement"].values())
        if chosen_by_holdout:
            what = "weights were" if weights else "members were"
            print(f"({what} chosen on this holdout: the ensemble's holdout accuracy is "
                  "optimistic)")
        best = max(report["members"].values())
        print(f"holdout ({report['rows']} rows): ensemble {report['ensemble']:.5f}, "
              f"best member {best:.5f}; members agree on "
              f"{low:.2%}..{max(report['agreement'].values()):.2%} of rows pairwise")
        if report["ensemble"] < best:
            print(f"note: the ensemble is {(best - report['ensemble']) * report['rows']:.0f} "
                  "holdout image(s) behind its best member")
    else:
        print("no shared holdout (members trained on all rows, or on different splits): "
              "agreement on the test rows only")
    test = metrics["test_agreement"].values()
    print(f"test rows: members agree on {min(test):.2%}..{max(test):.2%} pairwise")
    if "test_accuracy" in metrics:
        print(f"test accuracy {metrics['test_accuracy']:.5f} on the replica's answer key "
              "(scoring only)")
    print(f"submission {path}\nrecord {out_dir.path / METRICS}")


if __name__ == "__main__":
    main(sys.argv[1:])
