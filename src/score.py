"""`make score`: a submission's accuracy against the offline replica's answer key.

    python -m src.score [FILE] [data.dir=...]     # FILE: default the newest submission

Only replica data has a local key; for Kaggle's own data the score comes from Kaggle.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from src.config import command_config
from src.data import sources
from src.submissions import submission_csv
from src.utils.errors import DataError, exit_on_error
from src.utils.file_hash import sha256_file


@exit_on_error
def main(argv: list[str]) -> float:
    files = [a for a in argv if "=" not in a]
    cfg = command_config.load([a for a in argv if "=" in a])
    path = Path(files[0]) if files else submission_csv.newest(cfg.submission.dir, cfg.kaggle.ledger)
    key = answer_key(Path(cfg.data.dir))
    accuracy = key_accuracy(path, key)
    print(f"{path}: accuracy {accuracy:.5f} on {len(key)} test rows (replica answer key)")
    return accuracy


def key_accuracy(path: str | Path, key: np.ndarray) -> float:
    """A submission's accuracy against the answer key (a validated read: wrong rows fail)."""
    return float(np.mean(submission_csv.read(path, len(key))["Label"].to_numpy() == key))


def answer_key(data_dir: Path) -> np.ndarray:
    manifest = sources.read_manifest(data_dir)
    if manifest is None:
        raise DataError(f"{data_dir} has no manifest.json: run `make data` first")
    if not manifest.get("answer_key"):
        raise DataError(f"{data_dir} holds {manifest.get('source')} data, which has no local "
                        "answer key: submit to Kaggle to score it")
    key_path = data_dir / manifest["answer_key"]  # relative to the data dir
    try:
        digest = sha256_file(key_path)
        labels = np.loadtxt(key_path, delimiter=",", skiprows=1, dtype=np.int64, ndmin=2)
    except (OSError, ValueError) as err:
        raise DataError(f"answer key {key_path} is unreadable ({err}): run "
                        "`make data FORCE=1`") from None
    if digest != manifest.get("answer_key_sha256"):
        raise DataError(f"answer key {key_path} does not belong to the data in {data_dir}: "
                        "run `make data FORCE=1`")
    return labels[:, 1]


if __name__ == "__main__":
    main(sys.argv[1:])
