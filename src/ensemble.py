"""Average (or vote) saved runs into one submission; no retraining.

    python -m src.ensemble runs=outputs/a_cnn,outputs/b_cnn,outputs/c_cnn
    python -m src.ensemble runs=multirun/2026-11-25/19-00-00 top=5 method=vote
    python -m src.run experiment=cnn_ensemble      # train 5 seeds and average them, one command

Members are finished run dirs (their test predictions), or every finished job of a sweep dir.
When members share a holdout split, it reports each one's holdout accuracy, how often each pair
agrees, and the ensemble's own holdout accuracy. The ensemble's record (metrics and test
predictions, src/runs/run_dir.py) goes to `out_dir`; its submission, validated, to
`submission.dir`.
"""

from __future__ import annotations

import sys
import time
from itertools import combinations
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf

from src.config import command_config
from src.runs.run_dir import METRICS, TEST_PROBA, RunDir, sweep_jobs
from src.submissions import submission_csv
from src.utils.errors import ConfigError, exit_on_error

METHODS = ("mean", "vote")


def members(paths: list[str], top: int | None) -> list[RunDir]:
    """Run dirs from run and sweep dirs, best holdout accuracy first when `top` is set."""
    runs = []
    for path in map(RunDir, paths):
        if path.is_finished():
            runs.append(path)
        # a sweep's finished jobs, not an ensemble made inside it (it is no Hydra job)
        elif jobs := [job for job in sweep_jobs(path.path) if job.is_finished()]:
            runs.extend(jobs)
        else:
            raise ConfigError(f"{path} is neither a finished run dir nor a sweep dir with "
                              f"finished jobs (no {METRICS})")
    runs = list(dict.fromkeys(runs))
    for run in runs:
        if run.test_proba(mmap=True) is None:
            raise ConfigError(f"{run} has no {TEST_PROBA}: only runs of src.run can join")
    if top is not None:
        if isinstance(top, bool) or not isinstance(top, int) or top < 1:
            raise ConfigError(f"top={top} is out of range: expected an integer >= 1")
        scored = [(r.metrics().get("holdout_accuracy"), r) for r in runs]
        if any(accuracy is None for accuracy, _ in scored):
            raise ConfigError("top=N ranks members by holdout accuracy, and some have none "
                              "(trained with data.holdout=0): list the members instead")
        runs = [r for _, r in sorted(scored, key=lambda x: -x[0])][:top]
    if len(runs) < 2:
        raise ConfigError(f"an ensemble needs at least 2 members, got {len(runs)}")
    return runs


def combine(probas: list[np.ndarray], method: str) -> np.ndarray:
    """Class scores of the ensemble: the mean, or vote counts with the mean breaking ties."""
    mean = np.mean(probas, axis=0)
    if method == "mean":
        return mean
    votes = np.zeros_like(mean)
    for proba in probas:
        votes[np.arange(len(proba)), proba.argmax(axis=1)] += 1
    return votes + mean / (len(probas) + 1)  # mean < 1 vote: it only splits ties


def holdout_report(runs: list[RunDir], method: str) -> dict | None:
    """Holdout accuracy of each member and of the ensemble, and pairwise agreement, when
    every member held out the same rows (same labels in the same order)."""
    runs = [RunDir(r) for r in runs]
    holdouts = [r.holdout() for r in runs]
    if any(h is None for h in holdouts):
        return None
    labels = holdouts[0][1]
    if any(not np.array_equal(held_labels, labels) for _, held_labels in holdouts):
        return None
    predicted = [proba.argmax(axis=1) for proba, _ in holdouts]
    ensemble = combine([proba for proba, _ in holdouts], method).argmax(axis=1)
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
    scores = combine(probas, settings.method)
    test_labels = [p.argmax(axis=1) for p in probas]
    report = holdout_report(runs, settings.method)
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
        "holdout_accuracy": report["ensemble"] if report else None,
        "holdout": report,
        "test_agreement": {f"{a} ~ {b}": float(np.mean(la == lb))
                           for (a, la), (b, lb) in combinations(zip(runs, test_labels,
                                                                    strict=True), 2)},
        "submission": str(path),
    }
    out_dir.write_test_proba(scores / scores.sum(axis=1, keepdims=True))
    out_dir.write_metrics(metrics)
    _print(runs, report, metrics, path, out_dir, settings.top is not None)
    return path


def _print(runs, report, metrics, path, out_dir, chosen_by_holdout: bool) -> None:
    print(f"ensemble of {len(runs)} ({metrics['model']}):")
    for run in runs:
        accuracy = report["members"][str(run)] if report else None
        print(f"  {run}" + (f"  holdout {accuracy:.5f}" if accuracy is not None else ""))
    if report:
        low = min(report["agreement"].values())
        if chosen_by_holdout:
            print("(members were chosen by this holdout's accuracy: the ensemble's holdout "
                  "accuracy is optimistic)")
        print(f"holdout ({report['rows']} rows): ensemble {report['ensemble']:.5f}, "
              f"best member {max(report['members'].values()):.5f}; members agree on "
              f"{low:.2%}..{max(report['agreement'].values()):.2%} of rows pairwise")
    else:
        print("no shared holdout (members trained on all rows, or on different splits): "
              "agreement on the test rows only")
    test = metrics["test_agreement"].values()
    print(f"test rows: members agree on {min(test):.2%}..{max(test):.2%} pairwise")
    print(f"submission {path}\nrecord {out_dir.path / METRICS}")


if __name__ == "__main__":
    main(sys.argv[1:])
