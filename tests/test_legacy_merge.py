"""Keras 1's Merge layer and merge function (deprecated in 2.0.5, kept for old code)."""

from __future__ import annotations

import numpy as np
import pytest

import kgraph as keras
import kgraph.backend as K
from kgraph.layers import Dense, Input, Merge, merge
from kgraph.models import Model, Sequential

pytestmark = pytest.mark.filterwarnings("ignore:The `Merge` layer is deprecated", "ignore:The `merge` function")

rng = np.random.default_rng(5)
A = rng.standard_normal((4, 3)).astype(np.float32)
B = rng.standard_normal((4, 3)).astype(np.float32)


def _run(mode, **kw):
    keras.backend.clear_session()
    a, b = Input((3,)), Input((3,))
    out = merge([a, b], mode=mode, **kw)
    return K.int_shape(out), Model([a, b], out).predict([A, B])


@pytest.mark.parametrize(
    "mode,want",
    [
        ("sum", A + B), ("mul", A * B), ("ave", (A + B) / 2), ("max", np.maximum(A, B)),
        ("concat", np.concatenate([A, B], 1)), ("dot", (A * B).sum(1, keepdims=True)),
        ("cos", ((A * B).sum(1) / np.sqrt((A * A).sum(1) * (B * B).sum(1)))[:, None]),
    ],
)  # fmt: skip
def test_modes_compute_what_keras_computes(mode, want):
    shape, got = _run(mode)
    assert shape == (None,) + want.shape[1:]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_callable_mode_with_output_shape_and_concat_axis():
    shape, got = _run(lambda xs: K.concatenate([xs[0], xs[1] * 2], axis=-1), output_shape=(6,))
    assert shape == (None, 6)
    np.testing.assert_allclose(got, np.concatenate([A, 2 * B], 1), rtol=1e-6)
    keras.backend.clear_session()
    a, b = Input((2, 3)), Input((1, 3))
    out = merge([a, b], mode="concat", concat_axis=1)
    assert K.int_shape(out) == (None, 3, 3)


def test_sequential_of_merged_branches_trains_and_predicts():
    keras.backend.clear_session()
    left = Sequential([Dense(4, input_dim=3, activation="relu")])
    right = Sequential([Dense(4, input_dim=2, activation="relu")])
    model = Sequential()
    with pytest.warns(UserWarning, match="deprecated"):
        model.add(Merge([left, right], mode="concat"))
    model.add(Dense(1))
    assert [t._keras_shape for t in model.inputs] == [(None, 3), (None, 2)]
    model.compile(keras.optimizers.Adam(lr=0.02), "mse")
    xl = rng.standard_normal((64, 3)).astype(np.float32)
    xr = rng.standard_normal((64, 2)).astype(np.float32)
    y = (xl.sum(1, keepdims=True) - xr[:, :1]).astype(np.float32)
    assert len(model.trainable_weights) == 6  # the branches' layers train with the model
    before = left.get_weights()[0].copy()
    losses = model.fit([xl, xr], y, epochs=30, batch_size=16, verbose=0).history["loss"]
    assert losses[-1] < 0.5 * losses[0]
    assert not np.allclose(before, left.get_weights()[0])
    (w1, b1), (w2, b2), (w3, b3) = (la.get_weights() for la in (left.layers[0], right.layers[0], model.layers[-1]))
    hidden = np.concatenate([np.maximum(xl @ w1 + b1, 0), np.maximum(xr @ w2 + b2, 0)], 1)
    np.testing.assert_allclose(model.predict([xl, xr]), hidden @ w3 + b3, rtol=1e-4, atol=1e-5)


def test_bad_modes_and_inputs_say_what_is_valid():
    with pytest.raises(ValueError, match="Invalid merge mode: 'concatenate'; valid modes: sum, mul, concat"):
        Merge(mode="concatenate")
    keras.backend.clear_session()
    a = Input((3,))
    with pytest.raises(ValueError, match="at least 2 tensors"):
        merge([a], mode="sum")
    with pytest.raises(ValueError, match="exactly 2 tensors"):
        merge([a, a, a], mode="dot")


def test_config_round_trip_refuses_bytecode_in_safe_mode():
    layer = Merge(mode="concat", concat_axis=1, name="m")
    again = Merge.from_config(layer.get_config())
    assert again.get_config() == layer.get_config()
    stored = Merge(mode=lambda xs: xs[0], name="lam").get_config()
    assert stored["mode_type"] == "lambda"
    with pytest.raises(ValueError, match="stored as Python bytecode"):
        Merge.from_config(stored)


def test_sequential_of_merge_saves_the_branches_layers_as_keras_does(tmp_path):
    import h5py

    keras.backend.clear_session()
    left = Sequential([Dense(2, input_dim=3, name="l1"), Dense(2, name="l2")])
    right = Sequential([Dense(2, input_dim=2, name="r1")])
    model = Sequential([Merge([left, right], mode="sum"), Dense(1, name="top")])
    path = str(tmp_path / "w.h5")
    model.save_weights(path)
    with h5py.File(path, "r") as f:
        names = [n.decode() if isinstance(n, bytes) else n for n in f.attrs["layer_names"]]
    assert names == ["l1", "l2", "r1", "top"]
    saved = model.get_weights()
    keras.backend.clear_session()
    left = Sequential([Dense(2, input_dim=3), Dense(2)])
    right = Sequential([Dense(2, input_dim=2)])
    again = Sequential([Merge([left, right], mode="sum"), Dense(1)])
    again.load_weights(path)
    for got, want in zip(again.get_weights(), saved, strict=True):
        np.testing.assert_array_equal(got, want)


def _branch(name):
    return Sequential([keras.layers.Embedding(10, 4, input_length=3, name=name)])


def test_nested_merges_train_and_save_every_branch_as_keras_does(tmp_path):
    # Keras 2.0.5 flattens a branch that itself starts with a Merge (babi_memnn's old form).
    import h5py

    keras.backend.clear_session()
    with pytest.warns(UserWarning):
        a, b, c = _branch("a"), _branch("b"), _branch("c")
        ab = Sequential([Merge([a, b], mode="sum")])
        model = Sequential([Merge([ab, c], mode="sum"), keras.layers.Flatten(), Dense(1, name="top")])
    assert model.count_params() == 3 * 40 + 13
    assert len(model.trainable_weights) == 5
    before = [br.get_weights()[0].copy() for br in (a, b, c)]
    x = rng.integers(0, 10, (16, 3))
    model.compile("sgd", "mse")
    model.fit([x, x, x], rng.standard_normal((16, 1)), verbose=0)
    assert all(not np.array_equal(w, br.get_weights()[0]) for w, br in zip(before, (a, b, c)))
    path = str(tmp_path / "w.h5")
    model.save_weights(path)
    with h5py.File(path, "r") as f:
        names = [n.decode() if isinstance(n, bytes) else n for n in f.attrs["layer_names"]]
    assert names == ["a", "b", "c", "flatten_1", "top"]


def test_sequential_of_merge_round_trips_through_json_and_whole_model_files(tmp_path):
    # Keras 2.0.5 writes the branches' configs under the Merge's 'layers'.
    keras.backend.clear_session()
    with pytest.warns(UserWarning):
        a, b, c = _branch("a"), _branch("b"), _branch("c")
        ab = Sequential([Merge([a, b], mode="sum")])
        model = Sequential([Merge([ab, c], mode="sum"), keras.layers.Flatten(), Dense(1, name="top")])
    config = model.get_config()
    assert config[0]["class_name"] == "Merge"
    assert [br["class_name"] for br in config[0]["config"]["layers"]] == ["Sequential", "Sequential"]
    assert config[0]["config"]["layers"][0]["config"][0]["class_name"] == "Merge"
    x = [rng.integers(0, 10, (5, 3)) for _ in range(3)]
    want = model.predict(x)
    with pytest.warns(UserWarning):
        again = keras.models.model_from_json(model.to_json())
    assert again.count_params() == model.count_params()
    again.set_weights(model.get_weights())
    np.testing.assert_array_equal(again.predict(x), want)
    model.compile("adam", "mse")
    model.train_on_batch(x, np.ones((5, 1)))
    want = model.predict(x)
    path = str(tmp_path / "m.h5")
    model.save(path)
    with pytest.warns(UserWarning):
        loaded = keras.models.load_model(path)
    np.testing.assert_array_equal(loaded.predict(x), want)
    assert loaded.train_on_batch(x, np.ones((5, 1))) == pytest.approx(model.train_on_batch(x, np.ones((5, 1))), rel=1e-6)


def test_dot_axes_in_keras_1_tuple_form_is_a_clear_error():
    with pytest.raises(ValueError, match=r"Invalid format for dot_axes: \[\(2,\), \(2,\)\].*\[2, 2\]"):
        Merge(mode="dot", dot_axes=[(2,), (2,)])
