"""Stateful recurrent layers inside nested models carry their state across calls."""

from __future__ import annotations

import numpy as np
import pytest

import kgraph as keras

L = keras.layers


def _outer(kind: str):
    if kind == "functional":
        inner_in = L.Input(batch_shape=(2, 3, 4))
        inner = keras.models.Model(inner_in, L.LSTM(5, stateful=True)(inner_in))
        outer_in = L.Input(batch_shape=(2, 3, 4))
        outer = keras.models.Model(outer_in, L.Dense(1)(inner(outer_in)))
    else:
        inner = keras.models.Sequential([L.GRU(5, stateful=True, batch_input_shape=(2, 3, 4))])
        outer = keras.models.Sequential([inner, L.Dense(1)])
    return inner, outer


@pytest.mark.parametrize("kind", ["functional", "sequential"])
@pytest.mark.parametrize("method", ["predict", "evaluate", "fit"])
def test_outer_calls_advance_the_inner_state(kind, method):
    rng = np.random.default_rng(0)
    batches = [rng.standard_normal((2, 3, 4)).astype("float32") for _ in range(3)]
    inner, outer = _outer(kind)
    outer.compile(keras.optimizers.SGD(lr=0.0), "mse")  # lr 0: weights stay, states move
    kernel, bias = outer.layers[-1].get_weights()
    expected = [inner.predict(x) @ kernel + bias for x in batches]  # state runs on
    inner.reset_states()
    got = []
    for x in batches:
        if method == "predict":
            got.append(outer.predict(x))
        else:
            before = [s.copy() for s in _states(inner)]
            if method == "evaluate":
                outer.evaluate(x, np.zeros((2, 1)), batch_size=2, verbose=0)
            else:
                outer.fit(x, np.zeros((2, 1)), batch_size=2, epochs=1, verbose=0, shuffle=False)
            assert any(not np.array_equal(a, b) for a, b in zip(before, _states(inner)))
    if method == "predict":
        for a, b in zip(got, expected):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    outer.reset_states()
    assert all(not s.any() for s in _states(inner))


def _states(model):
    layer = model.layers[-1]
    return [keras.backend.get_value(s) for s in layer.states]
