"""Batch norm's statistics measured again on inputs as inference sees them.

During training a batch norm layer keeps a moving average of the statistics of the batches it
sees: augmented images, with dropout thinning the layers before it. Inference sees neither, so
those averages describe other inputs than the ones it normalises (the "variance shift" of Li et
al., CVPR 2019), and early in training they also lag weights that move fast. After the last
epoch, one forward pass in training mode over clean training images, with dropout off and each
layer taking the batch's own statistics (momentum 0), replaces them with the statistics of
exactly what inference will feed it. Nothing else changes: no weight is updated. With a
holdout, the same happens after each epoch's last batch, so that the holdout score of every
epoch (the curves, a search's pruner) is an inference score too.
"""

from __future__ import annotations

import keras
import numpy as np


def _layers(model: keras.Model):
    for layer in model.layers:
        if hasattr(layer, "layers"):  # a nested model
            yield from _layers(layer)
        else:
            yield layer


class EachEpoch(keras.callbacks.Callback):
    """`recalibrate` after each epoch's last batch, before Keras scores the holdout."""

    def __init__(self, net: keras.Model, images: np.ndarray, steps_per_epoch: int):
        super().__init__()
        self.net, self.images, self.steps = net, images, steps_per_epoch

    def on_train_batch_end(self, batch, logs=None):
        if batch == self.steps - 1:
            recalibrate(self.net, self.images)


def recalibrate(net: keras.Model, images: np.ndarray) -> int:
    """Set every batch norm layer's moving mean and variance to those of `images` (uint8
    (N, 28, 28, 1), unaugmented) in one pass; how many layers it set."""
    layers = list(_layers(net))
    norms = [layer for layer in layers if isinstance(layer, keras.layers.BatchNormalization)]
    if not norms or len(images) == 0:
        return 0
    drops = [layer for layer in layers if isinstance(layer, keras.layers.Dropout)]
    momenta, rates = [n.momentum for n in norms], [d.rate for d in drops]
    try:
        for norm in norms:
            norm.momentum = 0.0  # the batch's statistics become the moving ones
        for drop in drops:
            drop.rate = 0.0  # as at inference
        net(images.astype(np.float32), training=True)  # eager: the attributes above hold
    finally:
        for norm, momentum in zip(norms, momenta, strict=True):
            norm.momentum = momentum
        for drop, rate in zip(drops, rates, strict=True):
            drop.rate = rate
    return len(norms)
