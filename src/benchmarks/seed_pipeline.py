"""The seed analysis's LeNet pipeline, as it ran, for `make bench` to measure against: pandas
read_csv of both CSVs, float64 pixels / 255, one-hot labels, the LeNet-5-like CNN trained with
Adam 1e-3 at batch 32, scored on the same 10% holdout (split seed 42) as our runs.

    python -m src.benchmarks.seed_pipeline DATA_DIR EPOCHS OUT_JSON

The seed trained 50 epochs; the bench runs a few and extrapolates (it says so). Prints and
writes: seconds per epoch (median, after the first), holdout accuracy per epoch, peak memory.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from src.data.dataset import Digits, holdout_split
from src.models.nets import lenet
from src.training.provenance import peak_memory_mb
from src.utils.atomic_io import write_text
from src.utils.machine import LoadMeter, stamp


class _EpochTimes(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.start, self.ends = time.perf_counter(), []

    def on_epoch_end(self, epoch, logs=None):
        self.ends.append(time.perf_counter() - self.start)


def main(data_dir: str, epochs: int, out: str) -> dict:
    train = pd.read_csv(Path(data_dir) / "train.csv")
    pd.read_csv(Path(data_dir) / "test.csv")  # the seed loaded both up front
    labels = train["label"].to_numpy()
    pixels = train.drop(columns="label").to_numpy() / 255.0  # float64, as the seed had it
    fit, held = holdout_split(Digits(np.arange(len(labels)), labels), 0.1, seed=42)
    images = pixels.reshape(-1, 28, 28, 1)
    X, Xh = images[fit.pixels] * 255.0, images[held.pixels] * 255.0  # our lenet rescales
    y, yh = keras.utils.to_categorical(fit.labels, 10), keras.utils.to_categorical(held.labels)
    keras.utils.set_random_seed(42)
    model = lenet((28, 28, 1), 10)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="categorical_crossentropy",
                  metrics=["accuracy"])
    clock = _EpochTimes()
    with LoadMeter() as meter:
        history = model.fit(X, y, batch_size=32, epochs=epochs, validation_data=(Xh, yh),
                            callbacks=[clock], verbose=2)
    gaps = np.diff([0.0, *clock.ends])
    result = stamp({
        "epochs": epochs,
        "seconds_per_epoch": float(statistics.median(gaps[1:] if len(gaps) > 1 else gaps)),
        "epoch_seconds": [float(g) for g in gaps],
        "load": meter.record(),
        "holdout_accuracy": [float(a) for a in history.history["val_accuracy"]],
        "peak_memory_mb": peak_memory_mb(),
    })
    write_text(Path(out), json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3])
