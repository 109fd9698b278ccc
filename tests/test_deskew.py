"""Deskewing (deskew=true): a slanted digit comes out upright and centred on its mass, an
upright centred one as it was; a Keras run with it on trains, scores its holdout, measures
batch norm again and predicts on deskewed digits, saved or not; the scikit-learn models fit
and predict on deskewed digits too."""

import numpy as np

from src.models import batch_norm, input_pipeline
from src.models.classic import logistic_regression
from src.models.deskew import CENTRE, SIDE, deskew, shear
from src.models.keras_classifier import KerasClassifier
from src.models.svm import LinearSVMSearch
from tests.helpers import digit_images
from tests.test_keras_training import classifier


def italic(slant: float, column: float = CENTRE) -> np.ndarray:
    """A 3-pixel-wide stroke from row 5 to 23, centred on `column` at row 14, that moves
    `slant` columns a row."""
    image = np.zeros((SIDE, SIDE))
    for row in range(5, 24):
        left = int(round(column - 1 + slant * (row - CENTRE)))
        image[row, left:left + 3] = 255
    return image


def test_a_slanted_stroke_comes_out_upright_and_centred():
    image = italic(0.5, column=11)
    assert shear(image)[0] > 0.4
    out = deskew(image.reshape(1, -1).astype(np.uint8)).reshape(SIDE, SIDE).astype(float)
    slant, centre = shear(out)
    assert abs(slant) < 0.03
    np.testing.assert_allclose(centre, [CENTRE, CENTRE], atol=0.1)
    inked = np.nonzero(out.sum(axis=0) > 255)[0]  # columns holding a row's worth of ink
    assert inked.max() - inked.min() <= 4  # one upright stroke, not a slanted one
    assert abs(out.sum() - image.sum()) / image.sum() < 0.02


def test_an_upright_centred_digit_and_a_blank_image_are_left_as_they_are():
    images = np.stack([italic(0.0), np.zeros((SIDE, SIDE))]).reshape(2, -1).astype(np.uint8)
    assert shear(images[0].reshape(SIDE, SIDE).astype(float))[0] == 0
    assert np.array_equal(deskew(images), images)


def test_a_keras_run_with_deskew_sees_only_deskewed_digits_saved_or_not(tmp_path, monkeypatch):
    X, y = digit_images(160, seed=3)
    fit_rows, holdout = (X[:120], y[:120]), (X[120:], y[120:])
    assert not np.array_equal(deskew(X), X)  # these fake digits have a slant to remove
    seen = {"holdout": [], "recalibration": []}
    dataset, recalibrate = input_pipeline.dataset, batch_norm.recalibrate

    def holdout_spy(X, y, trainer, seed, training, **kw):
        if not training:
            seen["holdout"].append(np.array(X))
        return dataset(X, y, trainer, seed, training, **kw)

    def recalibration_spy(net, images):
        seen["recalibration"].append(images.reshape(len(images), -1))
        return recalibrate(net, images)

    monkeypatch.setattr(input_pipeline, "dataset", holdout_spy)
    monkeypatch.setattr(batch_norm, "recalibrate", recalibration_spy)
    small = ("model.estimator.net.filters=[4]", "model.estimator.net.dense=8")
    model = classifier("cnn", *small, "deskew=true", epochs=1).fit(
        *fit_rows, validation_data=holdout)
    assert [h.tolist() for h in seen["holdout"]] == [deskew(holdout[0]).tolist()]
    upright = {row.tobytes() for row in deskew(fit_rows[0])}
    assert len(seen["recalibration"]) == 2  # before the holdout score, and after training
    assert all(row.tobytes() in upright for images in seen["recalibration"] for row in images)
    # it trains on deskewed digits: the same seed and batches on raw ones give other losses
    raw_fit = classifier("cnn", *small, epochs=1).fit(*fit_rows, validation_data=holdout)
    assert raw_fit.history_["loss"] != model.history_["loss"]

    as_trained = model.model_.predict(deskew(X).reshape(-1, 28, 28, 1), batch_size=1024,
                                      verbose=0)
    np.testing.assert_array_equal(model.predict_proba(X), as_trained)
    model.save(tmp_path / "m.keras")
    again = KerasClassifier.from_saved(tmp_path / "m.keras", model.trainer, deskew=True)
    np.testing.assert_allclose(again.predict_proba(X), as_trained, rtol=1e-5)
    raw = model.model_.predict(X.reshape(-1, 28, 28, 1), batch_size=1024, verbose=0)
    assert not np.allclose(raw, as_trained)


def test_the_scikit_learn_models_fit_and_predict_on_deskewed_digits():
    X, y = digit_images(200, seed=4)
    fit_rows, rest = slice(0, 150), slice(150, None)
    for make in (lambda d: logistic_regression(C=0.1, max_iter=50, deskew=d),
                 lambda d: LinearSVMSearch(C=0.01, deskew=d)):
        on_deskewed = make(True).fit(X[fit_rows], y[fit_rows])
        by_hand = make(False).fit(deskew(X[fit_rows]), y[fit_rows])
        np.testing.assert_allclose(on_deskewed.predict_proba(X[rest]),
                                   by_hand.predict_proba(deskew(X[rest])), rtol=1e-6)
        assert not np.allclose(on_deskewed.predict_proba(X[rest]),
                               by_hand.predict_proba(X[rest]))
