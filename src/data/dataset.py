"""Load the competition's CSVs as uint8 arrays, through a cache that is never trusted blindly.

The first load validates the CSV (see `digits_csv`) and writes `<data dir>/.cache/<name>.npz`
holding the arrays and the CSV's size, mtime and sha256. Later loads read that file, ~50x faster
than parsing the CSV. A changed CSV (other size, or other mtime and other hash) rebuilds the
cache; so does a cache that fails to read, since zip CRCs catch corruption.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.model_selection import StratifiedKFold, train_test_split

from src.data.digits_csv import read_digits_csv
from src.utils.atomic_io import write_bytes
from src.utils.errors import ConfigError, DataError
from src.utils.file_hash import sha256_file

log = logging.getLogger(__name__)
CACHE_VERSION = 1


@dataclass
class Digits:
    pixels: np.ndarray  # uint8 (N, 784)
    labels: np.ndarray | None  # uint8 (N,), None for the test set

    def __len__(self) -> int:
        return len(self.pixels)

    def subset(self, rows: np.ndarray) -> Digits:
        return Digits(self.pixels[rows], None if self.labels is None else self.labels[rows])

    def fingerprint(self) -> str:
        """Which images, in which order: saved predictions belong to one test set, and a
        replica shuffled otherwise (or Kaggle's own files) is another."""
        digest = hashlib.sha256(np.ascontiguousarray(self.pixels).tobytes())
        if self.labels is not None:
            digest.update(np.ascontiguousarray(self.labels).tobytes())
        return digest.hexdigest()[:16]


def load_train(data_dir: str | Path, cache: bool = True) -> Digits:
    return load(Path(data_dir) / "train.csv", "train", cache)


def load_test(data_dir: str | Path, cache: bool = True) -> Digits:
    return load(Path(data_dir) / "test.csv", "test", cache)


def load(path: Path, kind: str, cache: bool = True) -> Digits:
    if not path.parent.is_dir():
        raise DataError(f"data dir {path.parent} not found: run `make data` or set data.dir=...")
    if not cache:
        return Digits(*read_digits_csv(path, kind))
    if not path.is_file():
        read_digits_csv(path, kind)  # raises the one-line "not found" error
    cache_path = path.parent / ".cache" / f"{path.name}.npz"
    stat = path.stat()
    cached = _read_cache(cache_path)
    if cached is not None:
        meta, digits = cached
        if meta["size"] == stat.st_size and meta["mtime_ns"] == stat.st_mtime_ns:
            return digits
        if meta["size"] == stat.st_size and meta["sha256"] == sha256_file(path):
            _write_cache(cache_path, digits, _meta(path, stat, meta["sha256"]))  # touched only
            return digits
        log.info("%s changed since it was cached: reading it again", path)
    digits = Digits(*read_digits_csv(path, kind))
    _write_cache(cache_path, digits, _meta(path, stat, sha256_file(path)))
    return digits


def _meta(path: Path, stat, sha256: str) -> dict:
    return {"version": CACHE_VERSION, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
            "sha256": sha256, "csv": path.name}


def _read_cache(cache_path: Path) -> tuple[dict, Digits] | None:
    if not cache_path.is_file():
        return None
    try:
        with np.load(cache_path, allow_pickle=False) as npz:
            meta = json.loads(str(npz["meta"]))
            pixels = npz["pixels"]
            labels = npz["labels"] if "labels" in npz.files else None
        if meta.get("version") != CACHE_VERSION or pixels.dtype != np.uint8 or pixels.ndim != 2:
            raise ValueError("unexpected layout")
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:
        log.warning("cache %s is unreadable (%s): rebuilding it from the CSV", cache_path, err)
        return None
    return meta, Digits(pixels, labels)


def _write_cache(cache_path: Path, digits: Digits, meta: dict) -> None:
    arrays = {"pixels": digits.pixels, "meta": np.array(json.dumps(meta))}
    if digits.labels is not None:
        arrays["labels"] = digits.labels
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    try:
        write_bytes(cache_path, buffer.getvalue())
    except OSError as err:  # a read-only data dir still loads, just slower next time
        log.warning("could not write cache %s (%s)", cache_path, err)


def concat(first: Digits, second: Digits) -> Digits:
    return Digits(np.concatenate([first.pixels, second.pixels]),
                  np.concatenate([first.labels, second.labels]))


def holdout_split(train: Digits, fraction: float, seed: int) -> tuple[Digits, Digits | None]:
    """A stratified split; `fraction=0` keeps every row for fitting and returns no holdout."""
    if fraction == 0:
        return train, None
    rows = np.arange(len(train))
    try:
        fit_rows, holdout_rows = train_test_split(
            rows, test_size=fraction, random_state=seed, stratify=train.labels
        )
    except ValueError as err:
        raise ConfigError(
            f"data.holdout={fraction} cannot split {len(train)} rows: {err}"
        ) from None
    return train.subset(np.sort(fit_rows)), train.subset(np.sort(holdout_rows))


def kfold_rows(train: Digits, folds: int, seed: int) -> list[np.ndarray]:
    """The held-out rows of each of `folds` stratified folds."""
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    try:
        return [held for _, held in splitter.split(train.pixels, train.labels)]
    except ValueError as err:
        raise ConfigError(f"data.folds={folds} cannot split {len(train)} rows: {err}") from None


def kfold_splits(train: Digits, held_rows: list[np.ndarray]) -> list[tuple[Digits, Digits]]:
    """(fit, held-out) pairs, one per fold of `kfold_rows`."""
    everything = np.arange(len(train))
    return [(train.subset(np.setdiff1d(everything, held)), train.subset(held))
            for held in held_rows]
