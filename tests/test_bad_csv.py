"""Every kind of malformed train.csv/test.csv stops a run with one line naming file, line and
problem: a non-zero exit, no traceback, nothing written."""

import shutil

import pytest

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


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_train_csv_is_one_line_error(case, tiny_data, tmp_path):
    text, words = CASES[case]
    data_dir = tmp_path / "data"
    shutil.copytree(tiny_data, data_dir)
    (data_dir / "train.csv").write_text(text)

    result = train(data_dir, tmp_path, "model=logreg")

    message = one_line_error(result)
    assert str(data_dir / "train.csv") in message
    for word in words:
        assert word in message, message
    assert not (tmp_path / "submissions").exists()
    assert not (tmp_path / "run" / "metrics.json").exists()


def test_test_csv_with_a_label_column_is_named(tiny_data, tmp_path):
    data_dir = tmp_path / "data"
    shutil.copytree(tiny_data, data_dir)
    shutil.copy(data_dir / "train.csv", data_dir / "test.csv")

    message = one_line_error(train(data_dir, tmp_path, "model=logreg"))

    assert "test.csv" in message and "looks like train.csv" in message


def test_missing_data_dir_says_run_make_data(tmp_path):
    message = one_line_error(train(tmp_path / "nowhere", tmp_path, "model=logreg"))
    assert "make data" in message


@pytest.mark.parametrize("case", ["pixel out of range", "truncated last row", "no header"])
def test_reader_raises_data_error(case, tmp_path):
    path = tmp_path / "train.csv"
    path.write_text(CASES[case][0])
    with pytest.raises(DataError, match="line"):
        read_digits_csv(path, "train")


def test_reader_returns_uint8_arrays(tiny_data):
    pixels, labels = read_digits_csv(tiny_data / "train.csv", "train")
    assert pixels.shape == (300, 784) and pixels.dtype.name == "uint8"
    assert labels.shape == (300,) and set(labels) == set(range(10))
    test_pixels, none = read_digits_csv(tiny_data / "test.csv", "test")
    assert test_pixels.shape == (120, 784) and none is None
