"""Keras architectures. Each takes uint8 images (28, 28, 1) and returns class probabilities;
scaling to 0..1 happens inside the model, so a saved model predicts from raw pixels."""

from __future__ import annotations

import keras
from keras import layers

from src.models.conv_geometry import check_blocks_fit


def _inputs(input_shape):
    inputs = keras.Input(shape=input_shape)
    return inputs, layers.Rescaling(1.0 / 255)(inputs)


def leaf_layers(model: keras.Model):
    """Every layer of `model`, those of nested models included (in their place)."""
    for layer in model.layers:
        if hasattr(layer, "layers"):  # a nested model
            yield from leaf_layers(layer)
        else:
            yield layer


def _softmax(x, n_classes):
    # float32 even under mixed precision (on a GPU): float16 probabilities lose the ranking
    return layers.Dense(n_classes, activation="softmax", dtype="float32")(x)


def shallow(input_shape, n_classes, hidden=400, negative_slope=0.3):
    inputs, x = _inputs(input_shape)
    x = layers.Flatten()(x)
    x = layers.Dense(hidden)(x)
    x = layers.LeakyReLU(negative_slope=negative_slope)(x)
    outputs = _softmax(x, n_classes)
    return keras.Model(inputs, outputs, name="shallow")


def lenet(input_shape, n_classes):
    inputs, x = _inputs(input_shape)
    x = layers.Conv2D(6, 5, activation="relu")(x)
    x = layers.MaxPooling2D()(x)
    x = layers.Conv2D(16, 5, activation="relu")(x)
    x = layers.MaxPooling2D()(x)
    x = layers.Flatten()(x)
    x = layers.Dense(120, activation="relu")(x)
    x = layers.Dense(84, activation="relu")(x)
    outputs = _softmax(x, n_classes)
    return keras.Model(inputs, outputs, name="lenet")


def _conv_bn_relu(x, filters, padding, bn_momentum):
    x = layers.Conv2D(filters, 3, padding=padding, use_bias=False)(x)
    x = layers.BatchNormalization(momentum=bn_momentum)(x)
    return layers.ReLU()(x)


def cnn(input_shape, n_classes, filters=(32, 64), dense=128, dropout=0.25, dense_dropout=0.4,
        padding="same", bn_momentum=0.99):
    # padding="valid" trims 2 pixels a convolution: 28-26-24 in the first block, 12-10-8 in
    # the second, about half the multiply-adds of "same" for two blocks (digits sit inside a
    # blank border, so little is lost)
    check_blocks_fit(input_shape[0], filters, padding)
    inputs, x = _inputs(input_shape)
    for width in filters:
        x = _conv_bn_relu(x, width, padding, bn_momentum)
        x = _conv_bn_relu(x, width, padding, bn_momentum)
        x = layers.MaxPooling2D()(x)
        x = layers.Dropout(dropout)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(dense, use_bias=False)(x)
    x = layers.BatchNormalization(momentum=bn_momentum)(x)
    x = layers.ReLU()(x)
    x = layers.Dropout(dense_dropout)(x)
    outputs = _softmax(x, n_classes)
    return keras.Model(inputs, outputs, name="cnn")


def _conv_bn(x, filters, size, strides=1, padding="valid"):
    x = layers.Conv2D(filters, size, strides=strides, padding=padding, activation="relu")(x)
    return layers.BatchNormalization()(x)


def strided(input_shape, n_classes, dropout=0.4):
    """The best-known public Digit Recognizer CNN (Chris Deotte's Kaggle notebook "How to
    choose CNN Architecture MNIST"): 32C3-32C3-32C5S2, 64C3-64C3-64C5S2, 128C4, batch norm
    after each convolution, dropout after each block and before the softmax. It downsamples
    with strided 5x5 convolutions instead of pooling."""
    inputs, x = _inputs(input_shape)
    for width in (32, 64):
        x = _conv_bn(x, width, 3)
        x = _conv_bn(x, width, 3)
        x = _conv_bn(x, width, 5, strides=2, padding="same")
        x = layers.Dropout(dropout)(x)
    x = _conv_bn(x, 128, 4)
    x = layers.Flatten()(x)
    x = layers.Dropout(dropout)(x)
    outputs = _softmax(x, n_classes)
    return keras.Model(inputs, outputs, name="strided")
