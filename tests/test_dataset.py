"""The binary cache: built on first load, trusted only while the CSV is unchanged and the
cache file itself reads back intact."""

import os
import shutil

import numpy as np
import pytest

from src.data import dataset, digits_csv
from src.utils.errors import ConfigError


@pytest.fixture
def data_dir(tiny_data, tmp_path):
    copy = tmp_path / "data"
    # the CSVs only: another test may have left a cache in the shared dir
    shutil.copytree(tiny_data, copy, ignore=shutil.ignore_patterns(".cache"))
    return copy


@pytest.fixture
def parses(monkeypatch):
    """Counts how often the CSV itself is parsed."""
    calls = []
    real = digits_csv.read_digits_csv

    def counting(path, kind):
        calls.append(path.name)
        return real(path, kind)

    monkeypatch.setattr(dataset, "read_digits_csv", counting)
    return calls


def test_second_load_reads_the_cache(data_dir, parses):
    first = dataset.load_train(data_dir)
    second = dataset.load_train(data_dir)
    assert parses == ["train.csv"]
    assert (data_dir / ".cache" / "train.csv.npz").is_file()
    np.testing.assert_array_equal(first.pixels, second.pixels)
    np.testing.assert_array_equal(first.labels, second.labels)


def test_changed_csv_invalidates_the_cache(data_dir, parses):
    dataset.load_train(data_dir)
    path = data_dir / "train.csv"
    header, first, rest = path.read_text().split("\n", 2)
    # A new label for the first row: same size, new content, so only the hash can tell.
    path.write_text(f"{header}\n{(int(first[0]) + 1) % 10}{first[1:]}\n{rest}")
    changed = dataset.load_train(data_dir)
    assert parses == ["train.csv", "train.csv"]
    np.testing.assert_array_equal(changed.labels, digits_csv.read_digits_csv(path, "train")[1])


def test_touched_but_unchanged_csv_keeps_the_cache(data_dir, parses):
    dataset.load_train(data_dir)
    path = data_dir / "train.csv"
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    dataset.load_train(data_dir)
    dataset.load_train(data_dir)
    assert parses == ["train.csv"]


@pytest.mark.parametrize("damage", ["flip a byte", "truncate", "garbage"])
def test_corrupt_cache_is_rebuilt_not_trusted(data_dir, parses, damage):
    expected = dataset.load_train(data_dir)
    cache = data_dir / ".cache" / "train.csv.npz"
    raw = bytearray(cache.read_bytes())
    if damage == "flip a byte":
        raw[len(raw) // 2] ^= 0xFF
    elif damage == "truncate":
        raw = raw[: len(raw) // 3]
    else:
        raw = bytearray(b"not a cache at all")
    cache.write_bytes(bytes(raw))

    loaded = dataset.load_train(data_dir)

    assert parses == ["train.csv", "train.csv"]
    np.testing.assert_array_equal(loaded.pixels, expected.pixels)
    np.testing.assert_array_equal(loaded.labels, expected.labels)
    dataset.load_train(data_dir)  # and the rebuilt cache is good again
    assert len(parses) == 2


def test_cache_off_always_parses(data_dir, parses):
    dataset.load_test(data_dir, cache=False)
    dataset.load_test(data_dir, cache=False)
    assert parses == ["test.csv", "test.csv"]
    assert not (data_dir / ".cache").exists()


def test_holdout_split_is_stratified_and_repeatable(tiny_data):
    train = dataset.load_train(tiny_data)
    fit, holdout = dataset.holdout_split(train, 0.1, seed=42)
    again, _ = dataset.holdout_split(train, 0.1, seed=42)
    other, _ = dataset.holdout_split(train, 0.1, seed=7)
    assert len(fit) == 270 and len(holdout) == 30
    assert np.bincount(holdout.labels, minlength=10).tolist() == [3] * 10
    np.testing.assert_array_equal(fit.pixels, again.pixels)
    assert not np.array_equal(fit.pixels, other.pixels)


def test_no_holdout_keeps_every_row(tiny_data):
    train = dataset.load_train(tiny_data)
    fit, holdout = dataset.holdout_split(train, 0, seed=42)
    assert holdout is None and len(fit) == len(train)


def test_holdout_too_small_to_stratify_is_a_config_error(tiny_data):
    with pytest.raises(ConfigError, match="data.holdout"):
        dataset.holdout_split(dataset.load_train(tiny_data), 0.01, seed=42)
