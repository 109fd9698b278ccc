"""Keras architectures. Each takes uint8 images (28, 28, 1) and returns class probabilities;
scaling to 0..1 happens inside the model, so a saved model predicts from raw pixels."""

from __future__ import annotations

import keras
from keras import layers


def _inputs(input_shape):
    inputs = keras.Input(shape=input_shape)
    return inputs, layers.Rescaling(1.0 / 255)(inputs)


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


def _conv_bn_relu(x, filters):
    x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    return layers.ReLU()(x)


def cnn(input_shape, n_classes, filters=(32, 64), dense=128, dropout=0.25, dense_dropout=0.4):
    inputs, x = _inputs(input_shape)
    for width in filters:
        x = _conv_bn_relu(x, width)
        x = _conv_bn_relu(x, width)
        x = layers.MaxPooling2D()(x)
        x = layers.Dropout(dropout)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(dense, use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU()(x)
    x = layers.Dropout(dense_dropout)(x)
    outputs = _softmax(x, n_classes)
    return keras.Model(inputs, outputs, name="cnn")
