"""Batch norm's statistics measured again on inputs as inference sees them.

During training a batch norm layer keeps a moving average of the statistics of the batches it
sees: augmented images, with dropout thinning the layers before it. Inference sees neither, so
those averages describe other inputs than the ones it normalises (the "variance shift" of Li et
al., CVPR 2019), and early in training they also lag weights that move fast. After the last
epoch, one forward pass in training mode over clean training images, with dropout off and each
layer taking the batch's own statistics (momentum 0), replaces them with the statistics of
exactly what inference will feed it. No weight is updated by it. With a holdout, the same
happens before each holdout score, so that the score of every epoch (the curves, a search's
pruner, early stopping) is an inference score too. The pass goes in chunks: the mean is exact,
the variance the mean of the chunks' (short of the whole sample's by the spread of the chunks'
means, which is tiny at this size), and memory stays that of one chunk.
"""

from __future__ import annotations

import keras
import numpy as np

from src.models.nets import leaf_layers

CHUNK = 256  # images a forward pass: about 0.25 GB of activations for the default CNN


class BeforeEachScore(keras.callbacks.Callback):
    """`recalibrate` before Keras scores the holdout (after a whole epoch, or after the batch
    where a time budget stopped training)."""

    def __init__(self, net: keras.Model, images: np.ndarray):
        super().__init__()
        self.net, self.images = net, images

    def on_test_begin(self, logs=None):
        recalibrate(self.net, self.images)


def norm_layers(net: keras.Model) -> list:
    """The batch norm layers whose statistics training moves (a frozen one keeps them in
    training mode too: Keras skips it)."""
    return [layer for layer in leaf_layers(net)
            if isinstance(layer, keras.layers.BatchNormalization) and layer.trainable]


def recalibrate(net: keras.Model, images: np.ndarray) -> int:
    """Set every batch norm layer's moving mean and variance to those of `images` (uint8
    (N, 28, 28, 1), unaugmented), a pass in chunks of CHUNK images; how many layers it set."""
    layers = list(leaf_layers(net))
    norms = norm_layers(net)
    if not norms or len(images) == 0:
        return 0
    drops = [layer for layer in layers if isinstance(layer, keras.layers.Dropout)]
    momenta, rates = [n.momentum for n in norms], [d.rate for d in drops]
    try:
        for drop in drops:
            drop.rate = 0.0  # as at inference
        for k, start in enumerate(range(0, len(images), CHUNK)):
            for norm in norms:  # chunk k weighs 1/(k+1): a running mean over the chunks
                norm.momentum = k / (k + 1)
            # eager: the attributes above hold for this call
            net(images[start:start + CHUNK].astype(np.float32), training=True)
    finally:
        for norm, momentum in zip(norms, momenta, strict=True):
            norm.momentum = momentum
        for drop, rate in zip(drops, rates, strict=True):
            drop.rate = rate
    return len(norms)
