"""Elastic distortions of digit images (Simard, Steinkraus and Platt, ICDAR 2003): each image is
resampled through its own random displacement field, uniform noise in [-1, 1] smoothed by a
Gaussian of `sigma` pixels and scaled by `alpha` pixels, which bends strokes the way
handwriting varies.

Keras' RandomElasticTransform (3.15) draws the x and y fields from one seed, so they are equal
and every image moves along the diagonal only, and it draws one field for a whole batch whose
size is unknown when traced, as in a tf.data pipeline; hence this version.

    distort(images, alpha=34.0, sigma=4.0, seed=(7, 0))   # (B, 28, 28, 1) in, float32 out
    distort(images, 8.0, 4.0, seed, share=0.5)            # about half of them; the rest as they are
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf


def gaussian_kernel(sigma: float) -> np.ndarray:
    """A normalised 1-D Gaussian over +/- 3 sigma."""
    radius = max(1, int(np.ceil(3 * sigma)))
    x = np.arange(-radius, radius + 1, dtype=np.float32)
    kernel = np.exp(-x**2 / (2 * sigma**2))
    return (kernel / kernel.sum()).astype(np.float32)


def displacement(shape, alpha: float, sigma: float, seed) -> tf.Tensor:
    """(B, H, W, 2) displacements in pixels: (dy, dx) per pixel, each image its own."""
    noise = tf.random.stateless_uniform((shape[0], shape[1], shape[2], 2), seed, -1.0, 1.0)
    kernel = tf.constant(gaussian_kernel(sigma))
    size = kernel.shape[0]
    # separable: rows then columns, each of the two channels on its own (depthwise)
    rows = tf.tile(tf.reshape(kernel, (size, 1, 1, 1)), (1, 1, 2, 1))
    cols = tf.tile(tf.reshape(kernel, (1, size, 1, 1)), (1, 1, 2, 1))
    smooth = tf.nn.depthwise_conv2d(noise, rows, (1, 1, 1, 1), "SAME")
    smooth = tf.nn.depthwise_conv2d(smooth, cols, (1, 1, 1, 1), "SAME")
    return alpha * smooth


def _other(seed):
    """A second seed from `seed`, so the choice of images is not drawn from the field's noise."""
    return tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 1)[0]


def distort(images: tf.Tensor, alpha: float, sigma: float, seed, share: float = 1.0) -> tf.Tensor:
    """Each image of the (B, H, W, 1) batch through its own field, bilinear, 0 outside; with
    `share` < 1, each image with that probability and the others as they came in. Each
    resampling blurs a little, so a share below 1 keeps digits nearer those inference sees."""
    images = tf.cast(images, tf.float32)
    if share >= 1:
        return _distort_all(images, alpha, sigma, seed)
    chosen = tf.random.stateless_uniform(tf.shape(images)[:1], _other(seed)) < share
    return tf.where(chosen[:, None, None, None], _distort_all(images, alpha, sigma, seed), images)


def _distort_all(images: tf.Tensor, alpha: float, sigma: float, seed) -> tf.Tensor:
    shape = tf.shape(images)
    b, h, w = shape[0], shape[1], shape[2]
    moved = displacement((b, h, w), alpha, sigma, seed)
    grid_y, grid_x = tf.meshgrid(tf.range(h, dtype=tf.float32), tf.range(w, dtype=tf.float32),
                                 indexing="ij")
    y = grid_y[None] + moved[..., 0]
    x = grid_x[None] + moved[..., 1]
    y0, x0 = tf.floor(y), tf.floor(x)
    wy, wx = y - y0, x - x0
    flat = tf.reshape(images, (-1,))  # pixel (n, i, j) at n*h*w + i*w + j
    base = tf.reshape(tf.range(b) * h * w, (-1, 1, 1))

    def pixel(yy, xx):
        inside = (yy >= 0) & (yy <= tf.cast(h - 1, tf.float32)) & (xx >= 0) & (
            xx <= tf.cast(w - 1, tf.float32))
        i = tf.clip_by_value(tf.cast(yy, tf.int32), 0, h - 1)
        j = tf.clip_by_value(tf.cast(xx, tf.int32), 0, w - 1)
        return tf.where(inside, tf.gather(flat, base + i * w + j), 0.0)  # background outside

    out = ((1 - wy) * (1 - wx) * pixel(y0, x0) + (1 - wy) * wx * pixel(y0, x0 + 1)
           + wy * (1 - wx) * pixel(y0 + 1, x0) + wy * wx * pixel(y0 + 1, x0 + 1))
    return out[..., None]
