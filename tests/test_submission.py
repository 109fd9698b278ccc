"""Submission files: the validator refuses every kind of bad file; writes are atomic and never
replace an existing file."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from src.submissions import submission_csv
from src.utils import atomic_io
from src.utils.errors import SubmissionError
from tests.helpers import ROOT

N = 50


def good():
    return submission_csv.build(np.arange(N) % 10)


# each kind of bad file, and the words of the rule that must refuse it (the line it names,
# where the rule names one: the header is line 1, ImageId 1 line 2)
BAD = {
    "wrong header": (lambda f: f.rename(columns={"Label": "label"}),
                     "header is ImageId,label, expected ImageId,Label"),
    "extra column": (lambda f: f.assign(Extra=1), "header is ImageId,Label,Extra"),
    "too few rows": (lambda f: f.iloc[:-1], f"{N - 1} rows, expected {N}"),
    "too many rows": (lambda f: pd.concat([f, f.iloc[:1]]), f"{N + 1} rows, expected {N}"),
    "ids from 0": (lambda f: f.assign(ImageId=np.arange(N)), "line 2: ImageId 0, expected 1"),
    "ids out of order": (lambda f: f.assign(ImageId=np.r_[2, 1, np.arange(3, N + 1)]),
                         "line 2: ImageId 2, expected 1"),
    "label 10": (lambda f: f.assign(Label=np.r_[np.zeros(N - 1, int), 10]),
                 f"line {N + 1}: Label 10 is outside 0..9"),
    "negative label": (lambda f: f.assign(Label=np.r_[-1, np.zeros(N - 1, int)]),
                       "line 2: Label -1 is outside 0..9"),
    "fractional label": (lambda f: f.assign(Label=np.r_[0.5, np.zeros(N - 1)]),
                         "line 2: Label '0.5' is not an integer"),
    "missing label": (lambda f: f.assign(Label=np.r_[np.nan, np.zeros(N - 1)]),
                      "line 2: Label 'nan' is not an integer"),
    "text label": (lambda f: f.assign(Label=["seven", *["0"] * (N - 1)]),
                   "line 2: Label 'seven' is not an integer"),
}


def bad(kind):
    return BAD[kind][0](good())


def test_a_good_submission_passes():
    submission_csv.validate(good(), N)


@pytest.mark.parametrize("kind", sorted(BAD))
def test_validator_rejects(kind):
    with pytest.raises(SubmissionError) as refused:
        submission_csv.validate(bad(kind), N)
    assert BAD[kind][1] in str(refused.value)


@pytest.mark.parametrize("kind", sorted(BAD))
def test_reading_a_bad_file_is_rejected(kind, tmp_path):
    path = tmp_path / "sub.csv"
    bad(kind).to_csv(path, index=False)
    with pytest.raises(SubmissionError) as refused:
        submission_csv.read(path, N)
    assert f"sub.csv{' ' if 'line' in BAD[kind][1] else ': '}{BAD[kind][1]}" in str(refused.value)


def test_integral_floats_read_as_integers(tmp_path):
    path = tmp_path / "sub.csv"
    good().astype(float).to_csv(path, index=False)  # "3.0": still a whole number
    pd.testing.assert_frame_equal(submission_csv.read(path, N), good())


def test_written_file_reads_back(tmp_path):
    path = submission_csv.write(good(), tmp_path, "run", N)
    assert path == tmp_path / "run.csv"
    assert path.read_text().startswith("ImageId,Label\n1,0\n2,1\n")
    pd.testing.assert_frame_equal(submission_csv.read(path, N), good())


def test_write_never_overwrites(tmp_path):
    first = submission_csv.write(good(), tmp_path, "run", N)
    before = first.read_bytes()
    second = submission_csv.write(submission_csv.build(np.zeros(N, int)), tmp_path, "run", N)
    assert second == tmp_path / "run-2.csv"
    assert first.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run-2.csv", "run.csv"]


def test_invalid_frame_is_never_written(tmp_path):
    with pytest.raises(SubmissionError):
        submission_csv.write(bad("label 10"), tmp_path, "run", N)
    assert list(tmp_path.iterdir()) == []


def test_interrupted_write_leaves_no_file(tmp_path, monkeypatch):
    def crash(*args):
        raise KeyboardInterrupt  # as if the user hit Ctrl-C mid-write

    monkeypatch.setattr(os, "link", crash)
    with pytest.raises(KeyboardInterrupt):
        submission_csv.write(good(), tmp_path, "run", N)
    assert list(tmp_path.iterdir()) == []


def test_interrupted_replace_keeps_the_old_file(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("old complete content\n")

    def half_then_crash(fh):
        fh.write(b"new but only ha")
        raise OSError("disk full")

    with pytest.raises(OSError):
        atomic_io.write_with(path, half_then_crash)
    assert path.read_text() == "old complete content\n"
    assert list(tmp_path.iterdir()) == [path]


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_written_files_get_the_permissions_of_the_umask_which_stays_as_it_was(tmp_path, umask):
    # a fresh process: the umask is process-wide, and pytest's own must not change
    code = ("import os, sys; os.umask(int(sys.argv[2], 8)); from src.utils import atomic_io; "
            "atomic_io.write_text(sys.argv[1], 'x'); "
            "atomic_io.create_new(sys.argv[1] + '.new', b'x'); "
            "print(oct(os.umask(0)))")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "f"), oct(umask)],
                          capture_output=True, text=True, cwd=ROOT, check=True)
    assert done.stdout.strip() == oct(umask)
    for name in ("f", "f.new"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o666 & ~umask


def test_interrupted_model_save_leaves_no_model_file(tmp_path, monkeypatch):
    from sklearn.dummy import DummyClassifier

    from src.models import persist
    from src.runs.run_dir import MODEL, RunDir

    def half_then_crash(obj, path):
        Path(path).write_bytes(b"half a pickle")
        raise KeyboardInterrupt

    monkeypatch.setattr(persist.joblib, "dump", half_then_crash)
    with pytest.raises(KeyboardInterrupt):
        persist.save(DummyClassifier(), RunDir(tmp_path), MODEL)
    assert list(tmp_path.iterdir()) == []


def test_newest_picks_the_latest_file(tmp_path):
    old = submission_csv.write(good(), tmp_path, "a", N)
    new = submission_csv.write(good(), tmp_path, "b", N)
    os.utime(old, ns=(1, 1))
    assert submission_csv.newest(tmp_path) == new
    ledger = tmp_path / "ledger.csv"  # newer, but the Kaggle ledger: never a submission
    ledger.write_text("time,file\n")
    assert submission_csv.newest(tmp_path, ledger) == new
    assert submission_csv.newest(tmp_path) == ledger  # any other CSV counts
    with pytest.raises(SubmissionError, match="make run"):
        submission_csv.newest(tmp_path / "empty")
