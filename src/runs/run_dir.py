"""The run dir: what a run leaves behind, under which names, and how to find runs.

Every file name of a run dir is here and only here; other modules write and read a run
through `RunDir` (docs/runs.md's "Reading a run dir" lists the same files for people). A run dir
is what `python -m src.run` writes (one per sweep job too), and what `src.ensemble` writes into
its `out_dir`: both leave metrics and test predictions, so both can be scored, submitted,
reported and joined into further ensembles.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from src.utils.atomic_io import write_array, write_arrays, write_text

METRICS = "metrics.json"  # a finished run: what it measured (a sweep's summary reads it)
FAILED = "failed.json"  # a sweep job that failed, instead of METRICS: its one error line
CONFIG = "config_resolved.yaml"  # the config with every interpolation resolved
TEST_PROBA = "test_proba.npy"  # float32 (test rows, 10): what the submission is the argmax of
HOLDOUT = "holdout.npz"  # the holdout's class scores and labels, for ensembles' agreement
OOF_PROBA = "oof_proba.npy"  # k folds: out-of-fold class scores for every labelled row
# An archived run (results/, src/runs/archive.py) keeps the three above in one compressed file,
# float16: arrays "test_proba", and where the run had them "holdout_proba" + "holdout_labels",
# "oof_proba". The readers below take either form.
PREDICTIONS = "predictions.npz"
REPORT = "report.html"
TRACKING = "tracking.json"  # tracking=mlflow: the run's MLflow run (a sweep dir: its parent run)
HYDRA = ".hydra"  # Hydra's own: composed config and the job's overrides
OVERRIDES = f"{HYDRA}/overrides.yaml"
TENSORBOARD = "tensorboard"
MODEL = "model"  # the fitted model's file stem; its suffix is its format's (models/persist.py)
RECORDS = ("history", "search")  # per-model JSON records: Keras' epochs, the SVM's C search
# Figures, in the order pages show them, with what each one shows.
TRAIN_GALLERY, TEST_GALLERY = "train_gallery.png", "test_gallery.png"
MISCLASSIFIED, CONFUSION = "misclassified.png", "confusion.png"
CURVES, C_SEARCH = "curves.png", "c_search.png"
FIGURES = {
    TRAIN_GALLERY: "Training digits and their labels",
    TEST_GALLERY: "Test digits with the predicted label and its confidence",
    MISCLASSIFIED: "Holdout digits the model got wrong, worst first",
    CONFUSION: "Holdout confusion matrix and per-class recall",
    CURVES: "Training curves: error rate (log scale) and loss per epoch",
    C_SEARCH: "The SVM's C search: cross-validated accuracy against C",
}
SWEEP_ENSEMBLE = "ensemble"  # a sweep's own ensemble (experiment=cnn_ensemble), in its dir
RUN_ROOTS = ("outputs", "multirun")  # where runs go unless hydra.run.dir says otherwise


def model_stem(fold: int | None = None) -> str:
    """The file stem of a run's model: one model, or fold k's of k-fold cross-validation."""
    return MODEL if fold is None else f"{MODEL}_fold{fold}"


@dataclass(frozen=True)
class RunDir:
    path: Path

    def __init__(self, path: str | Path | RunDir):
        object.__setattr__(self, "path", Path(path))  # a RunDir is os.PathLike too

    def __str__(self) -> str:
        return str(self.path)

    def __fspath__(self) -> str:
        return str(self.path)

    @property
    def name(self) -> str:
        return self.path.name

    # -- what kind of dir this is
    def is_finished(self) -> bool:
        return (self.path / METRICS).is_file()

    def has_failed(self) -> bool:
        return (self.path / FAILED).is_file()

    def is_training_run(self) -> bool:
        """A finished run of src.run (an ensemble's record has no config)."""
        return self.is_finished() and (self.path / CONFIG).is_file()

    def is_sweep_job(self) -> bool:
        return (self.path / HYDRA).is_dir()

    def looks_like_run(self) -> bool:
        """Anything a run leaves, even one that failed or has not finished."""
        return any((self.path / name).exists() for name in (METRICS, FAILED, HYDRA, CONFIG))

    # -- writing
    def write_metrics(self, metrics: dict) -> Path:
        return write_text(self.path / METRICS, json.dumps(metrics, indent=2) + "\n")

    def write_failure(self, error: str, **extra) -> Path:
        """The job's one error line, for the summary, and whatever else is known."""
        return write_text(self.path / FAILED, json.dumps({**extra, "error": error}, indent=2)
                          + "\n")

    def record_lost_job(self, overrides: list[str], reason: str) -> None:
        """A job that ended without a word (a cluster killed it): a failed row all the same."""
        if not (self.path / OVERRIDES).is_file():  # it never started
            write_text(self.path / OVERRIDES, yaml.safe_dump(list(overrides)))
        if not self.is_finished():
            self.write_failure(reason)

    def write_tracking(self, record: dict) -> Path:
        return write_text(self.path / TRACKING, json.dumps(record, indent=2) + "\n")

    def write_config(self, resolved_yaml: str) -> Path:
        return write_text(self.path / CONFIG, resolved_yaml)

    def write_test_proba(self, proba: np.ndarray) -> None:
        write_array(self.path / TEST_PROBA, proba.astype(np.float32))

    def write_holdout(self, proba: np.ndarray, labels: np.ndarray) -> None:
        write_arrays(self.path / HOLDOUT, proba=proba.astype(np.float32), labels=labels)

    def write_oof_proba(self, proba: np.ndarray) -> None:
        write_array(self.path / OOF_PROBA, proba.astype(np.float32))

    def write_record(self, kind: str, stem: str, record: dict) -> Path:
        """A model's JSON record (`kind` one of RECORDS): history.json, search_fold0.json."""
        if kind not in RECORDS:
            raise ValueError(f"unknown record {kind!r}: not one of {RECORDS}")
        return write_text(self._record_path(kind, stem), json.dumps(record, indent=1) + "\n")

    # -- places others write into
    def figure_path(self, name: str) -> Path:
        if name not in FIGURES:
            raise ValueError(f"unknown figure {name!r}: not one of {', '.join(FIGURES)}")
        return self.path / name

    def model_path(self, stem: str, suffix: str) -> Path:
        return self.path / f"{stem}{suffix}"

    def tensorboard_dir(self, stem: str) -> Path:
        return self.path / TENSORBOARD / stem.replace(MODEL, "fit", 1)

    def report_path(self) -> Path:
        return self.path / REPORT

    # -- reading
    def metrics(self) -> dict | None:
        """The run's metrics, or None when it has none (not finished, or failed)."""
        return _json(self.path / METRICS)

    def failure(self) -> dict | None:
        return _json(self.path / FAILED)

    def tracking(self) -> dict | None:
        """The MLflow run this run was tracked as ({"uri", "run_id"}), if it was."""
        return _json(self.path / TRACKING)

    def write_predictions(self, arrays: dict[str, np.ndarray]) -> Path:
        """An archived run's predictions (see PREDICTIONS), compressed."""
        return write_arrays(self.path / PREDICTIONS, compressed=True, **arrays)

    def files(self) -> list[Path]:
        """What the run wrote for people to look at: its records and figures."""
        names = [METRICS, CONFIG, *FIGURES]
        return [self.path / n for n in names if (self.path / n).is_file()]

    def config(self) -> dict | None:
        text = self.config_text()
        return None if text is None else yaml.safe_load(text)

    def config_text(self) -> str | None:
        path = self.path / CONFIG
        return path.read_text() if path.is_file() else None

    def overrides(self) -> list[str] | None:
        path = self.path / OVERRIDES
        return (yaml.safe_load(path.read_text()) or []) if path.is_file() else None

    def test_proba(self, mmap: bool = False) -> np.ndarray | None:
        path = self.path / TEST_PROBA
        if path.is_file():
            return np.load(path, mmap_mode="r" if mmap else None)
        return self._archived("test_proba")

    def holdout(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(class scores, labels) of the run's holdout rows, or None without a holdout."""
        path = self.path / HOLDOUT
        if not path.is_file():
            proba, labels = self._archived("holdout_proba"), self._archived("holdout_labels")
            return None if proba is None or labels is None else (proba, labels)
        with np.load(path) as saved:
            return saved["proba"], saved["labels"]

    def oof_proba(self) -> np.ndarray | None:
        """k folds: out-of-fold class scores of every labelled row, in train.csv's order."""
        path = self.path / OOF_PROBA
        return np.load(path) if path.is_file() else self._archived("oof_proba")

    def is_archived(self) -> bool:
        return (self.path / PREDICTIONS).is_file()

    def _archived(self, name: str) -> np.ndarray | None:
        """An array of an archived run's predictions, as float32 (labels as they are)."""
        path = self.path / PREDICTIONS
        if not path.is_file():
            return None
        with np.load(path) as saved:
            if name not in saved.files:
                return None
            array = saved[name]
        return array.astype(np.float32) if array.dtype.kind == "f" else array

    def record_files(self) -> list[Path]:
        """Every model's JSON records (history.json, search_fold0.json, ...)."""
        return sorted(p for kind in RECORDS for p in self.path.glob(f"{kind}*.json"))

    def record(self, kind: str, stem: str = MODEL) -> dict | None:
        return _json(self._record_path(kind, stem))

    def _record_path(self, kind: str, stem: str) -> Path:
        return self.path / f"{stem.replace(MODEL, kind, 1)}.json"

    def model_files(self, suffixes: tuple[str, ...]) -> list[Path]:
        """Saved models, one or one per fold, grouped by suffix in the order given."""
        return [p for suffix in suffixes for p in sorted(self.path.glob(f"{MODEL}*{suffix}"))]

    def figures(self) -> list[Path]:
        return [self.path / name for name in FIGURES if (self.path / name).is_file()]

    def finished_at(self) -> float:
        return (self.path / METRICS).stat().st_mtime


def _json(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def finished_runs(roots=RUN_ROOTS) -> list[RunDir]:
    """Every finished run dir (src.run's and ensembles') under `roots`."""
    return [RunDir(p.parent) for root in map(Path, roots) if root.is_dir()
            for p in root.glob(f"**/{METRICS}")]


def newest_run(roots=RUN_ROOTS, accept=None, training_only: bool = True) -> RunDir | None:
    """The run that finished last, among those `accept(run)` takes: a run of src.run, or
    with `training_only=False` also an ensemble's record."""
    runs = [r for r in finished_runs(roots)
            if (r.is_training_run() or not training_only) and (accept is None or accept(r))]
    return max(runs, key=RunDir.finished_at) if runs else None


def is_sweep_dir(path: Path) -> bool:
    return any(Path(path).glob(f"*/{OVERRIDES}"))


def sweep_jobs(sweep_dir: Path) -> list[RunDir]:
    """The job dirs of a sweep (each has Hydra's overrides), in job-number order."""
    jobs = {p.parent.parent for p in Path(sweep_dir).glob(f"*/{OVERRIDES}")}
    return [RunDir(p) for p in sorted(jobs, key=lambda p: job_number(p.name))]


def job_number(name: str) -> tuple:
    """Sort key of a job dir named `<n>_<model>`: by n, other names last."""
    head = name.split("_", 1)[0]
    return (int(head), name) if head.isdigit() else (1 << 30, name)
