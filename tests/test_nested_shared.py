"""Models used as layers, models nested in Sequential, and shared layers."""

from __future__ import annotations

import numpy as np
import pytest

from kgraph.engine.training import Model
from kgraph.layers import Dense, Input
from kgraph.models import Sequential


def test_model_called_on_a_new_input_computes_the_same_function():
    np.random.seed(0)
    inner = Sequential([Dense(4, activation="relu", input_dim=3), Dense(2)])
    x = Input(shape=(3,))
    outer = Model(x, inner(x))
    xs = np.random.rand(5, 3).astype("float32")
    np.testing.assert_allclose(outer.predict(xs), inner.predict(xs), rtol=1e-6)
    assert [la.name for la in outer.layers] == [x._keras_history[0].name, inner.name]
    assert len(outer.weights) == 4 and outer.weights[0] is inner.weights[0]
    assert inner.get_output_at(0) is inner.outputs[0]


def test_sequential_nests_a_model_and_trains_its_weights():
    np.random.seed(1)
    inner = Sequential([Dense(4, activation="tanh", input_dim=3)])
    seq = Sequential([inner, Dense(1)])
    assert seq.count_params() == 16 + 5
    seq.compile("sgd", "mse")
    xs = np.random.rand(8, 3).astype("float32")
    before = inner.get_weights()[0].copy()
    seq.train_on_batch(xs, np.ones((8, 1), "float32"))
    assert not np.allclose(inner.get_weights()[0], before)
    w, b = seq.layers[1].get_weights()
    np.testing.assert_allclose(seq.predict(xs), inner.predict(xs) @ w + b, rtol=1e-5, atol=1e-6)


def test_shared_layer_gradients_sum_over_its_uses():
    shared = Dense(2, use_bias=False, kernel_initializer="ones")
    a, b = Input(shape=(2,)), Input(shape=(2,))
    model = Model([a, b], [shared(a), shared(b)])
    model.compile("sgd", "mse")
    assert model.metrics_names == ["loss", shared.name + "_loss", shared.name + "_loss"]
    xa, xb = np.ones((4, 2), "float32"), 2 * np.ones((4, 2), "float32")
    history = model.fit([xa, xb], [np.zeros((4, 2)), np.zeros((4, 2))], epochs=1, batch_size=4, verbose=0)
    assert history.history == {
        "loss": [20.0], f"{shared.name}_loss_1": [4.0], f"{shared.name}_loss_2": [16.0]
    }
    # d/dW of mean(o_a^2) + mean(o_b^2) is 2 + 8 per element; SGD(lr=0.01) moves 1 -> 0.9.
    np.testing.assert_allclose(model.get_weights()[0], np.full((2, 2), 0.9), rtol=1e-6)
    assert shared.get_output_at(0) is not shared.get_output_at(1)
    assert shared.get_input_at(1) is b
    with pytest.raises(AttributeError, match="multiple inbound nodes"):
        shared.output


def test_a_layer_called_twice_in_a_chain():
    d = Dense(3, input_dim=3, kernel_initializer="identity", bias_initializer="ones")
    x = Input(shape=(3,))
    model = Model(x, d(d(x)))
    assert [la.name for la in model.layers] == [x._keras_history[0].name, d.name]
    np.testing.assert_allclose(model.predict(np.zeros((1, 3), "float32")), [[2.0, 2.0, 2.0]])
