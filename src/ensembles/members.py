"""Finished runs as members of an ensemble: which run dirs count, whether they predicted the
same test set, and their combined class scores. `python -m src.ensemble` and pseudo-labels
(src/data/pseudo_labels.py) read runs through these."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from src.data import dataset
from src.runs.run_dir import METRICS, TEST_PROBA, RunDir, sweep_jobs
from src.utils.errors import ConfigError


def members(paths: list[str], top: int | None, at_least: int = 2) -> list[RunDir]:
    """Run dirs from run and sweep dirs, best holdout accuracy first when `top` is set; at
    least `at_least` of them."""
    runs = []
    for path in map(RunDir, paths):
        if path.is_finished():
            runs.append(path)
        # a sweep's finished jobs, not an ensemble made inside it (it is no Hydra job)
        elif jobs := [job for job in sweep_jobs(path.path) if job.is_finished()]:
            runs.extend(jobs)
        else:
            raise ConfigError(f"{path} is neither a finished run (saved or archived) nor a "
                              f"sweep dir with finished jobs (no {METRICS})")
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
    if len(runs) < at_least:
        raise ConfigError(f"an ensemble needs at least {at_least} members, got {len(runs)}")
    return runs


def combine(probas: list[np.ndarray], method: str, weights=None) -> np.ndarray:
    """Class scores of the ensemble: the (weighted, for select) mean, or vote counts with the
    mean breaking ties."""
    mean = np.average(probas, axis=0, weights=weights if method == "select" else None)
    if method in ("mean", "select"):
        return mean
    votes = np.zeros_like(mean)
    for proba in probas:
        votes[np.arange(len(proba)), proba.argmax(axis=1)] += 1
    return votes + mean / (len(probas) + 1)  # mean < 1 vote: it only splits ties


def data_dir(runs: list[RunDir], data) -> Path | None:
    """data.dir, or by default the data dir the first member trained on."""
    if data.dir is not None:
        return Path(data.dir)
    trained_on = ((runs[0].config() or {}).get("data") or {}).get("dir")
    return None if trained_on is None else Path(trained_on)


def check_test_sets(runs: list[RunDir], data) -> str | None:
    """The fingerprint of the test set the members predicted; one line when they predicted
    different ones, or another than the data dir's test.csv holds now (a replica shuffled
    otherwise, or Kaggle's own files): such a submission would not belong to these rows."""
    known = predicted_test_set(runs)
    where = data_dir(runs, data)
    if known and (where is None or not (where / "test.csv").is_file()):
        print(f"note: the members' test set was not checked: {where or 'their data dir'} "
              "has no test.csv here (give data.dir=...)")
    elif known:
        here = dataset.load_test(where, data.cache).fingerprint()
        if here != known:
            raise ConfigError(f"the members predicted another test set than {where}/test.csv "
                              f"(fingerprint {known}, the file's {here}): join runs trained "
                              "on this data, or point data.dir at theirs")
    return known


def predicted_test_set(runs: list[RunDir]) -> str | None:
    """The fingerprint of the test set the runs recorded predicting (None: none recorded one);
    one line when they predicted different ones."""
    said = {str(r): (r.metrics().get("data") or {}).get("test") for r in runs}
    known = sorted({fp for fp in said.values() if fp})
    if len(known) > 1:
        groups = "; ".join(f"{fp}: " + ", ".join(r for r, f in said.items() if f == fp)
                           for fp in known)
        raise ConfigError(f"members predicted different test sets ({groups})")
    return known[0] if known else None
