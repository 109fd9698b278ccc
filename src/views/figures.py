"""Pictures of a run, written into its run dir as PNG (the names and what each shows:
src/runs/run_dir.py, FIGURES): galleries of training and test digits, the holdout's
misclassified digits and confusion matrix, Keras' training curves (error rate on a log axis,
and loss, per epoch), the SVM's C search.

matplotlib draws the charts; pillow makes the digit tiles (nearest-neighbour upscaling, so a
pixel stays a pixel).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from src.runs.run_dir import (
    C_SEARCH,
    CONFUSION,
    CURVES,
    MISCLASSIFIED,
    TEST_GALLERY,
    TRAIN_GALLERY,
    RunDir,
)
from src.utils.atomic_io import write_bytes

GALLERY = 40  # digits in a gallery: 5 rows of 8
TILE = 84  # pixels a side: 28 x 3
GAP, CAPTION = 12, 26  # pixels between tiles, and of the caption band above each


def pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed, none opened
    import matplotlib.pyplot as plt

    return plt


def tile(pixels: np.ndarray, size: int = TILE) -> Image.Image:
    """A digit's 784 pixels as a square grey image, ink dark on white, `size` pixels a side."""
    image = Image.fromarray(255 - np.asarray(pixels, dtype=np.uint8).reshape(28, 28), "L")
    return image.resize((size, size), Image.Resampling.NEAREST)


def png_bytes(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    pyplot().close(fig)
    return buffer.getvalue()


def _save(fig, path: Path) -> Path:
    write_bytes(path, png_bytes(fig))
    return path


def gallery(pixels: np.ndarray, captions: list[str], title: str, path: Path,
            colors: list[str] | None = None, columns: int = 8) -> Path:
    """The digits as tiles in a grid, each under its caption. One image on one set of axes:
    a subplot a digit made this the slowest step of a small run (about 2 s a gallery)."""
    plt = pyplot()
    rows = max(1, -(-len(pixels) // columns))
    width, height = TILE + GAP, TILE + CAPTION  # a cell: its tile, a caption band above it
    mosaic = np.full((rows * height, columns * width), 255, dtype=np.uint8)
    for k, pixels_k in enumerate(pixels):
        row, column = divmod(k, columns)
        top, left = row * height + CAPTION, column * width + GAP // 2
        mosaic[top:top + TILE, left:left + TILE] = np.asarray(tile(pixels_k))
    fig = plt.figure(figsize=(columns * 1.25, rows * 1.45 + 0.5))
    ax = fig.add_axes((0.01, 0.01, 0.98, 1 - 0.5 / (rows * 1.45 + 0.5) - 0.01))
    ax.imshow(mosaic, cmap="gray", vmin=0, vmax=255, interpolation="nearest", aspect="auto")
    ax.axis("off")
    for k, caption in enumerate(captions):
        row, column = divmod(k, columns)
        ax.text(column * width + width / 2, row * height + CAPTION * 0.55, caption,
                ha="center", va="center", fontsize=8,
                color=(colors or ["black"] * len(captions))[k])
    fig.suptitle(title, fontsize=11)
    return _save(fig, path)


def misclassified(pixels, labels, proba, path: Path, limit: int = GALLERY) -> Path:
    predicted = proba.argmax(axis=1)
    wrong = np.flatnonzero(predicted != labels)
    wrong = wrong[np.argsort(-proba[wrong, predicted[wrong]], kind="stable")][:limit]
    captions = [f"{labels[i]} → {predicted[i]} ({proba[i, predicted[i]]:.2f})" for i in wrong]
    title = (f"misclassified holdout digits: {len(np.flatnonzero(predicted != labels))} of "
             f"{len(labels)} (true → predicted (confidence)), worst first")
    if not len(wrong):
        title = f"no misclassified holdout digits among {len(labels)}"
    return gallery(pixels[wrong], captions, title, path, colors=["firebrick"] * len(wrong))


def confusion(labels, predicted, path: Path) -> Path:
    from sklearn.metrics import ConfusionMatrixDisplay, recall_score

    plt = pyplot()
    classes = np.arange(10)
    recall = recall_score(labels, predicted, labels=classes, average=None, zero_division=0)
    fig, ax = plt.subplots(figsize=(7, 6.2))
    display = ConfusionMatrixDisplay.from_predictions(labels, predicted, labels=classes, ax=ax,
                                                      colorbar=False, cmap="Blues")
    display.ax_.set_yticklabels([f"{c}  (recall {r:.3f})" for c, r in zip(classes, recall,
                                                                          strict=True)])
    accuracy = np.mean(labels == predicted)
    ax.set_title(f"holdout confusion matrix: {len(labels)} digits, accuracy {accuracy:.4f}")
    fig.tight_layout()
    return _save(fig, path)


def curves(history: dict, path: Path) -> Path:
    """Error rate (1 - accuracy) on a log axis, so the last epochs' 0.4% vs 0.5% is as easy to
    read as the first epochs' 10% vs 3%; and the loss, scaled to the epochs after the first
    (whose holdout loss, right after the warm-up, would flatten the rest)."""
    plt = pyplot()
    epochs = np.arange(1, len(history["loss"]) + 1)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    for key, marker, label in (("", "o-", "training"), ("val_", "s-", "holdout")):
        if f"{key}accuracy" not in history:
            continue
        error = np.maximum(1 - np.asarray(history[f"{key}accuracy"]), 1e-5)
        best = ""
        if key == "val_":
            at = int(np.argmin(error))
            best = f" (best {error[at]:.2%}, epoch {at + 1})"
        left.plot(epochs, error, marker, markersize=3, label=label + best)
        right.plot(epochs, history[f"{key}loss"], marker, markersize=3, label=label)
    left.set_yscale("log")
    left.set_ylabel("error rate (1 - accuracy), log scale")
    right.set_ylabel("loss")
    if len(epochs) > 2:
        later = np.concatenate([np.asarray(history[k][1:]) for k in ("loss", "val_loss")
                                if k in history])
        pad = 0.05 * (later.max() - later.min() or 1)
        right.set_ylim(later.min() - pad, later.max() + pad)
        right.set_title("epoch 1 may be off the scale", fontsize=8)
    for ax in (left, right):
        ax.set_xlabel("epoch")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3, which="both")
        ax.legend()
    fig.suptitle("training curves", fontsize=11)
    fig.tight_layout()
    return _save(fig, path)


def c_search(search: dict, path: Path) -> Path:
    plt = pyplot()
    order = np.argsort(search["C"])
    c, score = np.asarray(search["C"])[order], np.asarray(search["cv_accuracy"])[order]
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    ax.plot(c, score, "o-", label=f"{search['cv']}-fold cross-validated accuracy")
    ax.axvline(search["best_C"], color="firebrick", ls="--", label=f"chosen C = "
               f"{search['best_C']:.4g}")
    ax.set_xscale("log")
    ax.set_xlabel("C (log scale)")
    ax.set_ylabel("accuracy")
    ax.set_title(f"the SVM's C search ({search['rows']:,} rows)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return _save(fig, path)


def for_run(run: RunDir | Path, fit_set, holdout, holdout_proba, test_set, test_proba,
            history: dict | None, search: dict | None) -> list[Path]:
    """Every figure a run's results allow; returns the paths written."""
    run = RunDir(run)
    n = min(GALLERY, len(fit_set))
    written = [gallery(fit_set.pixels[:n], [f"label {y}" for y in fit_set.labels[:n]],
                       "training digits and their labels", run.figure_path(TRAIN_GALLERY))]
    n = min(GALLERY, len(test_set))
    predicted, confidence = test_proba.argmax(axis=1), test_proba.max(axis=1)
    written.append(gallery(test_set.pixels[:n],
                           [f"#{i + 1}: {predicted[i]} ({confidence[i]:.2f})" for i in range(n)],
                           "test digits: ImageId, predicted label (confidence)",
                           run.figure_path(TEST_GALLERY)))
    if holdout is not None:
        written.append(misclassified(holdout.pixels, holdout.labels, holdout_proba,
                                     run.figure_path(MISCLASSIFIED)))
        written.append(confusion(holdout.labels, holdout_proba.argmax(axis=1),
                                 run.figure_path(CONFUSION)))
    if history:
        written.append(curves(history, run.figure_path(CURVES)))
    if search:
        written.append(c_search(search, run.figure_path(C_SEARCH)))
    return written
