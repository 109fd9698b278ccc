"""Kaggle submission files: `ImageId,Label`, one row per test image, ImageId counting from 1.

Every file is validated before it is written and written atomically, never over another file.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd

from src.utils.atomic_io import create_new
from src.utils.errors import SubmissionError

HEADER = ["ImageId", "Label"]


def build(labels: np.ndarray) -> pd.DataFrame:
    labels = np.asarray(labels)
    return pd.DataFrame({"ImageId": np.arange(1, len(labels) + 1), "Label": labels.astype(int)})


def validate(frame: pd.DataFrame, n_rows: int, name: str = "submission") -> pd.DataFrame:
    """Raise SubmissionError, in one line, unless `frame` is a valid submission of n_rows;
    return it with integer columns."""
    if list(frame.columns) != HEADER:
        raise SubmissionError(f"{name}: header is {','.join(map(str, frame.columns))}, "
                              f"expected {','.join(HEADER)}")
    if len(frame) != n_rows:
        raise SubmissionError(f"{name}: {len(frame)} rows, expected {n_rows} (one per test image)")
    numbers = {}
    for column in HEADER:
        values = pd.to_numeric(frame[column], errors="coerce")
        bad = np.flatnonzero(values.isna().to_numpy() | (values % 1 != 0).to_numpy())
        if bad.size:
            raise SubmissionError(f"{name} line {bad[0] + 2}: {column} "
                                  f"'{frame[column].iloc[bad[0]]}' is not an integer")
        numbers[column] = values.to_numpy()
    ids = numbers["ImageId"]
    wrong = np.flatnonzero(ids != np.arange(1, n_rows + 1))
    if wrong.size:
        raise SubmissionError(f"{name} line {wrong[0] + 2}: ImageId {ids[wrong[0]]}, expected "
                              f"{wrong[0] + 1} (ImageIds run 1..{n_rows} in order)")
    labels = numbers["Label"]
    out = np.flatnonzero((labels < 0) | (labels > 9))
    if out.size:
        raise SubmissionError(f"{name} line {out[0] + 2}: Label {labels[out[0]]} is outside 0..9")
    return pd.DataFrame({column: values.astype(np.int64) for column, values in numbers.items()})


def read(path: str | Path, n_rows: int) -> pd.DataFrame:
    """Read and validate a submission file."""
    path = Path(path)
    if not path.is_file():
        raise SubmissionError(f"{path} not found: give FILE=path/to/submission.csv")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        message = str(err).strip().splitlines()[-1]
        raise SubmissionError(f"{path}: not a readable CSV ({message})") from None
    return validate(frame, n_rows, str(path))


def write(frame: pd.DataFrame, directory: str | Path, stem: str, n_rows: int) -> Path:
    """Validate, then write `<directory>/<stem>.csv` (or `<stem>-2.csv`, ... if taken)."""
    validate(frame, n_rows, stem)
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False, lineterminator="\n")
    data = buffer.getvalue().encode()
    directory = Path(directory)
    for attempt in range(1, 1000):
        path = directory / (f"{stem}.csv" if attempt == 1 else f"{stem}-{attempt}.csv")
        try:
            return create_new(path, data)
        except FileExistsError:
            continue
    raise SubmissionError(f"{directory}: too many submissions named {stem}*.csv")


def newest(directory: str | Path, ledger: str | Path | None = None) -> Path:
    """The newest CSV in `directory` other than the Kaggle ledger (kaggle.ledger), which may
    live there too."""
    skip = Path(ledger).resolve() if ledger else None
    files = sorted((p for p in Path(directory).glob("*.csv") if p.resolve() != skip),
                   key=lambda p: p.stat().st_mtime_ns)
    if not files:
        raise SubmissionError(f"no submissions in {directory}: run `make run` first")
    return files[-1]
