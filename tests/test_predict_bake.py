"""predict's baked-weights fast path never serves stale weights."""

from __future__ import annotations

import numpy as np

from kgraph.layers import Dense
from kgraph.models import Sequential


def test_baked_predict_follows_weight_changes():
    model = Sequential([Dense(3, input_dim=2), Dense(1)])
    model.compile("sgd", "mse")
    x = np.random.rand(5, 2).astype("float32")

    def manual():
        w1, b1, w2, b2 = model.get_weights()
        return (x @ w1 + b1) @ w2 + b2

    for _ in range(5):  # repeated calls on unchanged weights switch to the baked program
        np.testing.assert_allclose(model.predict(x), manual(), rtol=1e-5, atol=1e-6)
    assert model._predict_fn._baked is not None
    model.train_on_batch(x, np.ones((5, 1), "float32"))
    np.testing.assert_allclose(model.predict(x), manual(), rtol=1e-5, atol=1e-6)
    model.set_weights([w * 2 for w in model.get_weights()])
    np.testing.assert_allclose(model.predict(x), manual(), rtol=1e-5, atol=1e-6)
    big = np.random.rand(40 * 32, 2).astype("float32")  # many batches: baked at once
    w1, b1, w2, b2 = model.get_weights()
    np.testing.assert_allclose(model.predict(big), (big @ w1 + b1) @ w2 + b2, rtol=1e-5, atol=1e-6)
