"""Every kind of malformed train.csv/test.csv is refused with one line naming file, line and
problem; `make run` turns it into that one line, a non-zero exit, and nothing written."""

import shutil

import pytest

from src.data import dataset
from src.data.digits_csv import read_digits_csv
from src.utils.errors import DataError
from tests.helpers import one_line_error, train

HEADER = "label," + ",".join(f"pixel{i}" for i in range(784))


def row(label=3, pixel=0, n=784):
    return ",".join([str(label)] + [str(pixel)] * n)


GOOD = [row(i % 10, i) for i in range(20)]

# name -> (train.csv text, words the message must contain)
CASES = {
    "empty file": ("", ["empty"]),
    "no header": ("\n".join(GOOD) + "\n", ["line 1", "no header"]),
    "wrong header": (HEADER.replace("pixel7,", "pixl7,") + "\n" + "\n".join(GOOD) + "\n",
                     ["line 1", "'pixl7'", "'pixel7'"]),
    "wrong column count": (HEADER.rsplit(",", 1)[0] + "\n", ["line 1", "784 columns", "785"]),
    "header only": (HEADER + "\n", ["no rows"]),
    "non-numeric value": (HEADER + "\n" + "\n".join(GOOD[:4] + [row(pixel="x")]) + "\n",
                          ["line 6", "'x'", "not a number"]),
    "fractional value": (HEADER + "\n" + "\n".join(GOOD[:2] + [row(pixel="1.5")]) + "\n",
                         ["line 4", "not an integer"]),
    "pixel out of range": (HEADER + "\n" + "\n".join(GOOD[:9] + [row(pixel=256)]) + "\n",
                           ["line 11", "256", "0..255"]),
    "negative pixel": (HEADER + "\n" + "\n".join(GOOD[:3] + [row(pixel=-1)]) + "\n",
                       ["line 5", "-1", "0..255"]),
    "label out of range": (HEADER + "\n" + "\n".join(GOOD[:7] + [row(label=10)]) + "\n",
                           ["line 9", "label is 10", "0..9"]),
    "missing value": (HEADER + "\n" + "\n".join(GOOD[:2] + [row().replace(",0,", ",,", 1)])
                      + "\n", ["line 4", "missing value"]),
    "truncated last row": (HEADER + "\n" + "\n".join(GOOD) + "\n" + row()[:900],
                           ["line 22", "truncated"]),
    "extra values in a row": (HEADER + "\n" + "\n".join(GOOD[:5] + [row(n=785)]) + "\n",
                              ["line 7", "786 values", "expected 785"]),
    "blank line": (HEADER + "\n" + "\n".join(GOOD[:5] + ["", *GOOD[5:]]) + "\n",
                   ["line 7", "empty"]),
}


@pytest.fixture
def data_dir(tiny_data, tmp_path):
    """A copy of the tiny data that a test may break (without the cache other tests' runs
    may have left in the shared dir)."""
    copy = tmp_path / "data"
    shutil.copytree(tiny_data, copy, ignore=shutil.ignore_patterns(".cache"))
    return copy


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_train_csv_is_refused_naming_file_line_and_problem(case, data_dir):
    # the loader `make run` calls, through its cache as the command does: the error is the
    # command's one line (proven once below) and nothing is cached from a bad file
    text, words = CASES[case]
    (data_dir / "train.csv").write_text(text)
    with pytest.raises(DataError) as refused:
        dataset.load_train(data_dir, cache=True)
    message = str(refused.value)
    assert str(data_dir / "train.csv") in message and "\n" not in message
    for word in words:
        assert word in message, message
    assert not (data_dir / ".cache" / "train.csv.npz").exists()


def test_the_run_command_stops_on_a_bad_csv_in_one_line_and_writes_nothing(data_dir, tmp_path):
    text, words = CASES["pixel out of range"]
    (data_dir / "train.csv").write_text(text)
    message = one_line_error(train(data_dir, tmp_path, "model=logreg"))
    assert str(data_dir / "train.csv") in message and all(word in message for word in words)
    assert not (tmp_path / "submissions").exists()
    assert not (tmp_path / "run" / "metrics.json").exists()


def test_test_csv_with_a_label_column_is_named(data_dir):
    shutil.copy(data_dir / "train.csv", data_dir / "test.csv")
    with pytest.raises(DataError, match="test.csv.*looks like train.csv"):
        dataset.load_test(data_dir, cache=True)


def test_missing_data_dir_says_run_make_data(tmp_path):
    with pytest.raises(DataError, match="make data"):
        dataset.load_train(tmp_path / "nowhere")


def test_reader_returns_uint8_arrays(tiny_data):
    pixels, labels = read_digits_csv(tiny_data / "train.csv", "train")
    assert pixels.shape == (300, 784) and pixels.dtype.name == "uint8"
    assert labels.shape == (300,) and set(labels) == set(range(10))
    test_pixels, none = read_digits_csv(tiny_data / "test.csv", "test")
    assert test_pixels.shape == (120, 784) and none is None
