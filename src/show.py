"""Look at a digit, or at a run's pictures.

    python -m src.show id=7                      # training image 7, with its label
    python -m src.show id=7 split=test           # test image 7, with the newest run's prediction
    python -m src.show id=7 split=test run=DIR   # ... with that run's prediction
    python -m src.show run=DIR                   # a run's figures (opened when a display is)

Writes a PNG and prints its path (make show ID=7 / make show RUN=DIR).
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from src.config import command_config
from src.data import dataset
from src.runs import run_dir
from src.runs.run_dir import RunDir
from src.utils.atomic_io import write_bytes
from src.utils.errors import ConfigError, DataError, exit_on_error
from src.views.figures import tile


def picture(pixels: np.ndarray, caption: str) -> Image.Image:
    """The digit at 10x, a caption under it."""
    digit = tile(pixels, 280)
    canvas = Image.new("L", (280, 320), 255)
    canvas.paste(digit, (0, 0))
    ImageDraw.Draw(canvas).text((140, 300), caption, fill=0, anchor="mm",
                                font=ImageFont.load_default(size=18))
    return canvas


def newest_run(n_test: int) -> RunDir:
    """The newest run whose test predictions cover `n_test` rows."""
    def covers(run: RunDir) -> bool:
        proba = run.test_proba(mmap=True)
        return proba is not None and proba.shape[0] == n_test

    run = run_dir.newest_run(accept=covers, training_only=False)  # an ensemble's too
    if run is None:
        raise ConfigError("no run has predicted this test set yet: train one (make run), "
                          "or give run=DIR")
    return run


def show_digit(settings) -> tuple[Path, str]:
    split, number = settings.split, settings.id
    if split not in ("train", "test"):
        raise ConfigError(f"split={split} is not train or test")
    if isinstance(number, bool) or not isinstance(number, int):
        raise ConfigError(f"id={number} is not an image number: give id=N, e.g. id=7")
    digits = (dataset.load_train if split == "train" else dataset.load_test)(
        settings.data.dir, settings.data.cache)
    if not 1 <= number <= len(digits):
        raise ConfigError(f"id={number} is out of range: {split}.csv has {len(digits):,} "
                          f"images, numbered 1..{len(digits)}")
    pixels = digits.pixels[number - 1]
    if split == "train":
        caption = f"train #{number}: label {digits.labels[number - 1]}"
    else:
        run = RunDir(settings.run) if settings.run else newest_run(len(digits))
        proba = run.test_proba(mmap=True)
        if proba is None:
            raise ConfigError(f"{run} has no test predictions ({run_dir.TEST_PROBA})")
        if proba.shape[0] != len(digits):
            raise DataError(f"{run} predicted {proba.shape[0]:,} test rows, this test.csv has "
                            f"{len(digits):,}: give the run that used this data")
        label = int(np.argmax(proba[number - 1]))
        caption = f"test #{number}: {label} ({proba[number - 1][label]:.2f})"
        print(f"prediction of {run}")
    out = Path(settings.out or f"outputs/show/{split}_{number}.png")
    buffer = io.BytesIO()
    picture(pixels, caption).save(buffer, format="PNG")
    write_bytes(out, buffer.getvalue())
    return out, caption


def run_figures(run: RunDir) -> list[Path]:
    if not run.path.is_dir():
        raise ConfigError(f"run={run} is not a directory")
    found = run.figures()
    if not found:
        raise ConfigError(f"{run} has no figures (a run from before they existed, or with "
                          "figures=false): `make report RUN=...` still shows its metrics")
    return found


@exit_on_error
def main(argv: list[str]) -> None:
    settings = command_config.load(argv, name="show")
    if settings.id is None:
        if not settings.run:
            raise ConfigError("what to show? id=N (a digit; ids start at 1, as Kaggle's "
                              "ImageId) or run=DIR (a run's figures)")
        paths = run_figures(RunDir(settings.run))
        print("\n".join(map(str, paths)))
        opener = shutil.which("xdg-open") or shutil.which("open")
        if opener and (os.environ.get("DISPLAY") or sys.platform == "darwin"):
            for path in paths:
                subprocess.Popen([opener, str(path)], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
        return
    out, caption = show_digit(settings)
    print(f"{out}  ({caption})")


if __name__ == "__main__":
    main(sys.argv[1:])
