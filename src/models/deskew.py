"""Deskewing: each digit sheared upright and its centre of mass moved to the image's centre,
from its own second moments (the preprocessing behind the deskewed rows of LeCun's MNIST
table). A net fed deskewed digits sees each one through another view than a net fed them as
written, which is what an ensemble member needs to err differently (Ciresan, Meier and
Schmidhuber, CVPR 2012, averaged nets trained on differently normalised digits).

    deskew(pixels)   # uint8 (N, 784) in, uint8 (N, 784) out
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

SIDE = 28
CENTRE = SIDE / 2  # where MNIST put each digit's centre of mass: a whole pixel, no half-pixel blur
MAX_SLANT = 2.0  # handwriting stays within about +/-1.5; two far-apart dots would shear away


def shear(image: np.ndarray) -> tuple[float, np.ndarray]:
    """The image's slant, columns moved per row (cov(row, col) / var(row)), and its centre of
    mass (row, col); a blank image has no slant and the image's centre."""
    total = image.sum()
    if total <= 0:
        return 0.0, np.full(2, CENTRE)
    rows, cols = np.mgrid[:SIDE, :SIDE]
    centre = np.array([(rows * image).sum(), (cols * image).sum()]) / total
    dr, dc = rows - centre[0], cols - centre[1]
    var_rows = (dr * dr * image).sum() / total
    if var_rows <= 0:
        return 0.0, centre
    return float((dr * dc * image).sum() / total / var_rows), centre


def deskew_image(image: np.ndarray) -> np.ndarray:
    """One (28, 28) image, float: sheared so its slant is 0 (within +/-MAX_SLANT), its centre of
    mass moved to CENTRE, bilinear, 0 outside."""
    slant, centre = shear(image)
    slant = float(np.clip(slant, -MAX_SLANT, MAX_SLANT))
    # output (r, c) reads input (r, c + slant * r) + offset: the output centre reads the mass centre
    matrix = np.array([[1.0, 0.0], [slant, 1.0]])
    offset = centre - matrix @ np.full(2, CENTRE)
    return ndimage.affine_transform(image, matrix, offset=offset, order=1, mode="constant")


def deskew(pixels: np.ndarray) -> np.ndarray:
    """uint8 (N, 784) rows, each deskewed, rounded back to uint8 0..255."""
    images = np.asarray(pixels, dtype=np.float64).reshape(-1, SIDE, SIDE)
    out = np.empty_like(images)
    for i, image in enumerate(images):
        out[i] = deskew_image(image)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8).reshape(len(images), SIDE * SIDE)
