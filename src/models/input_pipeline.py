"""The tf.data input of a Keras fit: uint8 images in batches of (image, one-hot label),
shuffled, augmented (rotation, shift, zoom; elastic distortion) and prefetched."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from src.models import elastic

IMAGE_SHAPE = (28, 28, 1)  # one channel of uint8
N_CLASSES = 10


def as_images(X) -> np.ndarray:
    return np.asarray(X, dtype=np.uint8).reshape((-1, *IMAGE_SHAPE))


def augmenter(settings: dict, seed: int) -> keras.Sequential | None:
    """Small random rotations (degrees), shifts and zooms (fractions of the image side),
    filling with the background's 0; None when all are 0."""
    rotation, shift, zoom = settings["rotation"], settings["shift"], settings["zoom"]
    steps = []
    if rotation:
        steps.append(layers.RandomRotation(rotation / 360, fill_mode="constant", seed=seed))
    if shift:
        steps.append(layers.RandomTranslation(shift, shift, fill_mode="constant", seed=seed + 1))
    if zoom:
        steps.append(layers.RandomZoom(zoom, zoom, fill_mode="constant", seed=seed + 2))
    return keras.Sequential(steps, name="augment") if steps else None


def dataset(X, y, trainer: dict, seed: int, training: bool, drop_remainder: bool = False):
    """Batches of (image, one-hot label); training batches are shuffled, and augmented
    here unless trainer.pipeline.augment_in=model."""
    pipeline = trainer["pipeline"]
    images = as_images(X)
    if pipeline["input_dtype"] == "float32":
        images = images.astype(np.float32)  # the same values; the net rescales either way
    data = tf.data.Dataset.from_tensor_slices((images, y.astype(np.int32)))
    if training:
        data = data.shuffle(len(X), seed=seed, reshuffle_each_iteration=True)
    data = data.batch(trainer["batch_size"], drop_remainder=drop_remainder)
    calls = pipeline["parallel_calls"]
    calls = tf.data.AUTOTUNE if calls == "auto" else calls
    augment = None
    if training and pipeline["augment_in"] == "data":
        augment = augmenter(trainer["augment"], seed)
    if augment is not None:  # whole batches at a time: one transform op per batch
        data = data.map(lambda x, y: (augment(x, training=True), y), num_parallel_calls=calls)
    alpha = trainer["augment"].get("elastic", 0.0)
    if training and alpha:
        # a seed per batch, other each epoch and the same for the same trainer seed
        seeds = tf.data.Dataset.random(seed=seed + 3, rerandomize_each_iteration=True)
        sigma = trainer["augment"]["elastic_sigma"]
        share = trainer["augment"].get("elastic_share", 1.0)
        data = tf.data.Dataset.zip(data, seeds).map(
            lambda xy, s: (elastic.distort(xy[0], alpha, sigma,
                                           tf.stack([s, tf.constant(seed, tf.int64)]), share),
                           xy[1]), num_parallel_calls=calls)
    data = data.map(lambda x, y: (x, tf.one_hot(y, N_CLASSES)), num_parallel_calls=calls)
    return data.prefetch(tf.data.AUTOTUNE)
