"""Kaggle's digit CSVs (train.csv: label,pixel0..pixel783; test.csv: pixel0..pixel783).

Reading is strict: every problem becomes one line naming the file, the line and the fix.

Line numbers are the ones an editor shows (the header is line 1, the first row line 2).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from src.utils.atomic_io import write_with
from src.utils.errors import DataError

PIXELS = [f"pixel{i}" for i in range(784)]
HEADERS = {"train": ["label", *PIXELS], "test": PIXELS}
FIX = "fix the file or run `make data FORCE=1` to rebuild it"


def read_digits_csv(path: Path, kind: str) -> tuple[np.ndarray, np.ndarray | None]:
    """Pixels as uint8 (N, 784) and, for `kind="train"`, labels as uint8 (N,)."""
    expected = HEADERS[kind]
    _check_header(path, expected, kind)
    try:
        # latin-1 decodes any byte, so stray binary shows up as a cell that is not a number.
        frame = pd.read_csv(path, skip_blank_lines=False, low_memory=False, encoding="latin-1")
    except pd.errors.ParserError as err:
        raise DataError(f"{path} {_parser_problem(str(err), len(expected))}; {FIX}") from None
    if frame.empty:
        raise DataError(f"{path}: has a header but no rows; {FIX}")

    _check_cells(path, frame)
    # float64 holds every value exactly in range and any huge one without overflow.
    values = frame.to_numpy(dtype=np.float64)
    pixels, labels = (values[:, 1:], values[:, 0]) if kind == "train" else (values, None)
    _check_range(path, pixels, 0, 255, "pixel", offset=1 if kind == "train" else 0, frame=frame)
    if labels is not None:
        _check_range(path, labels[:, None], 0, 9, "label", offset=0, frame=frame)
        labels = labels.astype(np.uint8)
    return pixels.astype(np.uint8), labels


def _check_header(path: Path, expected: list[str], kind: str) -> None:
    if not path.is_file():
        raise DataError(f"{path} not found: run `make data` (or point data.dir at your data)")
    with open(path, encoding="utf-8", errors="replace") as fh:
        first = fh.readline().strip()
    if not first:
        raise DataError(f"{path}: the file is empty; {FIX}")
    names = [n.strip() for n in first.split(",")]
    if all(n.lstrip("-").isdigit() for n in names):
        raise DataError(
            f"{path} line 1: no header row (the line is data); add the header "
            f"{expected[0]},{expected[1]},...,pixel783 or {FIX}"
        )
    if len(names) != len(expected):
        hint = ""
        if names == HEADERS["test"] and kind == "train":
            hint = " (this looks like test.csv: it has no label column)"
        if names == HEADERS["train"] and kind == "test":
            hint = " (this looks like train.csv: it has a label column)"
        raise DataError(
            f"{path} line 1: header has {len(names)} columns, expected {len(expected)} "
            f"({expected[0]},{expected[1]},...,pixel783){hint}; {FIX}"
        )
    for i, (got, want) in enumerate(zip(names, expected, strict=True)):
        if got != want:
            raise DataError(
                f"{path} line 1: header column {i + 1} is '{got}', expected '{want}'; {FIX}"
            )


def _parser_problem(message: str, n_columns: int) -> str:
    # pandas: "Error tokenizing data. C error: Expected 785 fields in line 7, saw 786"
    if "Expected" in message and "line" in message:
        tail = message.split("Expected", 1)[1]
        line = tail.split("line", 1)[1].split(",")[0].strip()
        saw = tail.rsplit("saw", 1)[-1].strip()
        return f"line {line}: {saw} values, expected {n_columns}"
    return f"is not a readable CSV ({message.strip().splitlines()[-1]})"


def _check_cells(path: Path, frame: pd.DataFrame) -> None:
    """Every cell must be an integer; report the first bad one by line."""
    problems: list[tuple[int, str]] = []
    for name in frame.columns[frame.dtypes.map(lambda d: not pd.api.types.is_integer_dtype(d))]:
        column = frame[name]
        missing = column.isna().to_numpy()
        numbers = pd.to_numeric(column, errors="coerce")
        not_number = numbers.isna().to_numpy() & ~missing
        fractional = (numbers.notna() & (numbers % 1 != 0)).to_numpy()
        for mask, what in (
            (missing, None),
            (not_number, "is not a number"),
            (fractional, "is not an integer"),
        ):
            rows = np.flatnonzero(mask)
            if rows.size:
                row = int(rows[0])
                if what is None:
                    problems.append((row, _missing_problem(frame, row, name)))
                else:
                    problems.append((row, f"{name} value '{column.iloc[row]}' {what}"))
    if problems:
        row, problem = min(problems)
        raise DataError(f"{path} line {row + 2}: {problem}; {FIX}")


def _missing_problem(frame: pd.DataFrame, row: int, name: str) -> str:
    present = int(frame.iloc[row].notna().sum())
    if present == 0:
        return "the line is empty"
    if frame.iloc[row, present:].isna().all():
        return f"only {present} of {frame.shape[1]} values (truncated line?)"
    return f"missing value for {name}"


def _check_range(path, values, low, high, what, offset, frame) -> None:
    bad = np.argwhere((values < low) | (values > high))
    if bad.size:
        row, col = (int(v) for v in bad[0])
        name = frame.columns[col + offset]
        raise DataError(
            f"{path} line {row + 2}: {name} is {values[row, col]:g}, outside {low}..{high} "
            f"for a {what}; {FIX}"
        )


def digits_frame(images: np.ndarray, labels: np.ndarray | None = None) -> pd.DataFrame:
    """Rows in Kaggle's layout: an optional label column, then pixel0..pixel783."""
    frame = pd.DataFrame(images, columns=PIXELS)
    if labels is not None:
        frame.insert(0, "label", labels)
    return frame


def write_csv(path: Path, frame: pd.DataFrame) -> None:
    write_with(path, lambda fh: frame.to_csv(fh, index=False, lineterminator="\n"))
