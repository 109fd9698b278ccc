"""Deskewing (trainer.deskew): a slanted digit comes out upright and centred on its mass, an
upright centred one as it was; a Keras run with it on deskews what it predicts, saved or not."""

import numpy as np

from src.models.deskew import SIDE, deskew, shear
from src.models.keras_classifier import KerasClassifier
from tests.helpers import digit_images
from tests.test_keras_training import classifier


def italic(slant: float, column: float = 13.5) -> np.ndarray:
    """A 2-pixel-wide stroke from row 4 to 23 that moves `slant` columns a row."""
    image = np.zeros((SIDE, SIDE))
    for row in range(4, 24):
        left = int(round(column - 0.5 + slant * (row - 13.5)))
        image[row, left:left + 2] = 255
    return image


def test_a_slanted_stroke_comes_out_upright_and_centred():
    image = italic(0.5, column=11)
    assert shear(image)[0] > 0.4
    out = deskew(image.reshape(1, -1).astype(np.uint8)).reshape(SIDE, SIDE).astype(float)
    slant, centre = shear(out)
    assert abs(slant) < 0.03
    np.testing.assert_allclose(centre, [13.5, 13.5], atol=0.1)
    inked = np.nonzero(out.sum(axis=0) > 255)[0]  # columns holding a row's worth of ink
    assert inked.max() - inked.min() <= 3  # one upright stroke, not a slanted one
    assert abs(out.sum() - image.sum()) / image.sum() < 0.02


def test_an_upright_centred_digit_and_a_blank_image_are_left_as_they_are():
    images = np.stack([italic(0.0), np.zeros((SIDE, SIDE))]).reshape(2, -1).astype(np.uint8)
    assert np.array_equal(deskew(images), images)


def test_a_keras_run_with_deskew_predicts_deskewed_digits_saved_or_not(tmp_path):
    X, y = digit_images(120, seed=3)
    model = classifier(epochs=1, deskew="true").fit(X, y)
    assert not np.array_equal(deskew(X), X)  # these fake digits have a slant to remove
    # it trains on deskewed digits: the same seed and batches on raw ones give other losses
    assert classifier(epochs=1).fit(X, y).history_["loss"] != model.history_["loss"]
    as_trained = model.model_.predict(deskew(X).reshape(-1, 28, 28, 1), batch_size=1024,
                                      verbose=0)
    np.testing.assert_array_equal(model.predict_proba(X), as_trained)
    model.save(tmp_path / "m.keras")
    again = KerasClassifier.from_saved(tmp_path / "m.keras", model.trainer)
    np.testing.assert_allclose(again.predict_proba(X), as_trained, rtol=1e-5)
    raw = model.model_.predict(X.reshape(-1, 28, 28, 1), batch_size=1024, verbose=0)
    assert not np.allclose(raw, as_trained)
