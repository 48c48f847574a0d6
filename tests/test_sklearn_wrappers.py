"""kgraph.wrappers.scikit_learn: KerasClassifier and KerasRegressor against the models they
wrap, and inside scikit-learn's clone, cross_val_score and GridSearchCV."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone, is_classifier, is_regressor
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score

from kgraph.layers import Dense
from kgraph.models import Sequential
from kgraph.utils import to_categorical
from kgraph.wrappers.scikit_learn import KerasClassifier, KerasRegressor

RNG = np.random.RandomState(0)
X = RNG.randn(48, 4).astype("float32")
LABELS = np.array([10, 20, 30])[(X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5).astype(int)]


def build_classifier(units=6, loss="categorical_crossentropy", metrics=("accuracy",)):
    model = Sequential(
        [Dense(units, activation="relu", input_dim=4), Dense(3, activation="softmax")]
    )
    model.compile("adam", loss, metrics=list(metrics))
    return model


def build_binary():
    model = Sequential([Dense(1, activation="sigmoid", input_dim=4)])
    model.compile("sgd", "binary_crossentropy", metrics=["accuracy"])
    return model


def build_regressor(units=5):
    model = Sequential([Dense(units, activation="tanh", input_dim=4), Dense(1)])
    model.compile("sgd", "mse", metrics=["mae"])
    return model


def test_classifier_maps_labels_and_matches_the_model():
    clf = KerasClassifier(build_classifier, epochs=2, batch_size=16, verbose=0)
    history = clf.fit(X, LABELS)
    assert len(history.epoch) == 2
    np.testing.assert_array_equal(clf.classes_, [10, 20, 30])
    assert clf.n_classes_ == 3
    # the wrapper passes batch_size=16 on (results agree to float32 rounding)
    proba = clf.model.predict(X, batch_size=16)
    np.testing.assert_allclose(clf.predict_proba(X), proba, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[proba.argmax(-1)])
    # score is evaluate's accuracy on the one-hot encoded label indices
    onehot = to_categorical(np.searchsorted([10, 20, 30], LABELS), 3)
    _, acc = clf.model.evaluate(X, onehot, batch_size=16, verbose=0)
    assert clf.score(X, LABELS) == pytest.approx(acc)
    assert clf.score(X, LABELS) == pytest.approx(np.mean(clf.predict(X) == LABELS))


def test_classifier_with_sparse_loss_and_one_hot_targets():
    clf = KerasClassifier(
        build_classifier, loss="sparse_categorical_crossentropy", epochs=1, verbose=0
    )
    clf.fit(X, LABELS)
    # not one-hot encoded: the sparse loss takes the label indices
    assert clf.model.loss == "sparse_categorical_crossentropy"
    assert clf.score(X, LABELS) == pytest.approx(np.mean(clf.predict(X) == LABELS))

    onehot = to_categorical(np.searchsorted([10, 20, 30], LABELS), 3)
    clf = KerasClassifier(build_classifier, epochs=1, verbose=0)
    clf.fit(X, onehot)
    np.testing.assert_array_equal(clf.classes_, [0, 1, 2])
    _, acc = clf.model.evaluate(X, onehot, verbose=0)
    assert clf.score(X, onehot) == pytest.approx(acc)


def test_binary_classifier_probabilities_have_two_columns():
    y = np.where(X[:, 0] > 0, "yes", "no")
    clf = KerasClassifier(build_binary, epochs=1, batch_size=8, verbose=0)
    clf.fit(X, y)
    np.testing.assert_array_equal(clf.classes_, ["no", "yes"])
    p = clf.model.predict(X, batch_size=8)
    proba = clf.predict_proba(X)
    assert proba.shape == (48, 2)
    np.testing.assert_allclose(proba, np.hstack([1 - p, p]), rtol=1e-5, atol=1e-6)
    # Keras 2.0.5: a one-unit model's classes come back as a column
    np.testing.assert_array_equal(clf.predict(X), np.where(p > 0.5, "yes", "no"))
    _, acc = clf.model.evaluate(X, (y == "yes").astype("float32"), batch_size=8, verbose=0)
    assert clf.score(X, y) == pytest.approx(acc)


def test_score_without_accuracy_and_bad_targets_raise():
    clf = KerasClassifier(build_classifier, metrics=(), epochs=1, verbose=0)
    clf.fit(X, LABELS)
    with pytest.raises(ValueError, match=r"metrics=\['accuracy'\]"):
        clf.score(X, LABELS)
    with pytest.raises(ValueError, match=r"Invalid shape for y: \(48, 2, 1\)"):
        clf.fit(X, np.zeros((48, 2, 1)))


def test_params_are_checked_filtered_and_cloned():
    with pytest.raises(ValueError, match="units_typo is not a legal parameter"):
        KerasClassifier(build_classifier, units_typo=3)
    clf = KerasClassifier(build_classifier, units=3, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="bogus is not a legal parameter"):
        clf.set_params(bogus=1)
    assert clf.set_params(units=4, batch_size=8) is clf
    params = clf.get_params(deep=False)
    assert params == {
        "units": 4,
        "epochs": 1,
        "verbose": 0,
        "batch_size": 8,
        "build_fn": build_classifier,
    }
    twin = clone(clf)
    assert twin.get_params() == params and not hasattr(twin, "model")
    assert is_classifier(clf) and is_regressor(KerasRegressor(build_regressor))
    # units goes to build_fn, epochs to fit, and fit's own arguments win
    history = clf.fit(X, LABELS, epochs=3)
    assert clf.model.layers[0].units == 4 and len(history.epoch) == 3
    assert clf.filter_sk_params(build_classifier, {"loss": "mse"}) == {"units": 4, "loss": "mse"}


def test_build_fn_may_be_a_callable_object_or_the_subclass_call():
    class Builder:
        def __call__(self, units=2):
            return build_classifier(units)

    clf = KerasClassifier(Builder(), units=7, epochs=1, verbose=0)
    clf.fit(X, LABELS)
    assert clf.model.layers[0].units == 7

    class MyClassifier(KerasClassifier):
        def __call__(self, hidden=2):
            return build_classifier(hidden)

    clf = MyClassifier(hidden=5, epochs=1, verbose=0)
    clf.fit(X, LABELS)
    assert clf.model.layers[0].units == 5
    with pytest.raises(ValueError, match="units is not a legal parameter"):
        MyClassifier(units=5)
    with pytest.raises(ValueError, match="needs a `build_fn`"):
        KerasClassifier(epochs=1)


def test_regressor_predicts_squeezed_and_scores_the_loss():
    y = X @ np.array([0.5, -1.0, 0.25, 0.0], dtype="float32")
    reg = KerasRegressor(build_regressor, epochs=2, batch_size=16, verbose=0)
    reg.fit(X, y)
    pred = reg.predict(X)
    assert pred.shape == (48,)
    np.testing.assert_allclose(
        pred, reg.model.predict(X, batch_size=16)[:, 0], rtol=1e-5, atol=1e-6
    )
    loss, mae = reg.model.evaluate(X, y, batch_size=16, verbose=0)
    assert reg.score(X, y) == pytest.approx(loss)
    assert loss == pytest.approx(np.mean((pred - y) ** 2), rel=1e-4)


def test_cross_val_score_and_grid_search():
    clf = KerasClassifier(build_classifier, epochs=1, batch_size=16, verbose=0)
    scores = cross_val_score(clf, X, LABELS, cv=KFold(3))
    assert scores.shape == (3,) and np.all((scores >= 0) & (scores <= 1))

    search = GridSearchCV(clf, {"units": [2, 8]}, cv=2).fit(X, LABELS)
    assert [p["units"] for p in search.cv_results_["params"]] == [2, 8]
    best = search.best_estimator_
    assert best.model.layers[0].units == search.best_params_["units"]
    assert search.score(X, LABELS) == pytest.approx(best.score(X, LABELS))

    reg = KerasRegressor(build_regressor, epochs=1, verbose=0)
    y = X[:, 0] - X[:, 1]
    losses = cross_val_score(reg, X, y, cv=2)
    assert losses.shape == (2,) and np.all(losses > 0)
