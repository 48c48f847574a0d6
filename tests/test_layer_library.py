"""The layer library against golden tf-keras fixtures (tools/make_layer_lib_fixtures.py).

One parity table drives every case: weight names, shapes and order; the inference-mode
output; the gradients of `sum(y * r)` with respect to the input and the trainable weights
(kgraph's gradients lowered and run); for BatchNormalization the training-mode output and
gradients; for layers with weights one `train_on_batch` with SGD (loss, every weight after
the step including moving statistics, and `predict` with the new weights); and a config
round trip with Keras 2.0.5's keys. Errors for bad arguments and inputs name the layer.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

import kgraph.backend as K
import kgraph.layers as L
from kgraph import optimizers
from kgraph.engine.functions import CompiledFunction
from kgraph.ir import get_default_graph
from kgraph.models import Model, Sequential
from lowering import lower

FIXTURES = Path(__file__).parent / "fixtures"
CASES = json.loads((FIXTURES / "lib_cases.json").read_text())
RTOL, ATOL = 1e-5, 1e-5

_INIT = ("kernel_initializer", "bias_initializer")
_REG = (
    "kernel_regularizer",
    "bias_regularizer",
    "activity_regularizer",
    "kernel_constraint",
    "bias_constraint",
)
_LOCAL = {"filters", "kernel_size", "strides", "padding", "activation", "use_bias", *_INIT, *_REG}
KERAS_205_KEYS = {
    "Embedding": {"input_dim", "output_dim", "embeddings_initializer", "embeddings_regularizer",
                  "activity_regularizer", "embeddings_constraint", "mask_zero", "input_length"},
    "BatchNormalization": {"axis", "momentum", "epsilon", "center", "scale", "beta_initializer",
                           "gamma_initializer", "moving_mean_initializer", "moving_variance_initializer",
                           "beta_regularizer", "gamma_regularizer", "beta_constraint", "gamma_constraint"},
    "LeakyReLU": {"alpha"},
    "PReLU": {"alpha_initializer", "alpha_regularizer", "alpha_constraint", "shared_axes"},
    "ELU": {"alpha"},
    "ThresholdedReLU": {"theta"},
    "LocallyConnected1D": _LOCAL,
    "LocallyConnected2D": _LOCAL | {"data_format"},
    "GaussianNoise": {"stddev"},
    "GaussianDropout": {"rate"},
    "AlphaDropout": {"rate"},
    "SpatialDropout1D": {"rate"},
    "SpatialDropout2D": {"rate"},
    "SpatialDropout3D": {"rate"},
}  # fmt: skip
_BASE_KEYS = {"name", "trainable", "batch_input_shape", "dtype"}


def _make(name: str, case: dict, **call_kwargs):
    inp = L.Input(tuple(case["input_shape"]), dtype=case["input_dtype"])
    layer = getattr(L, case["class_name"])(name=name, **case["kwargs"])
    return inp, layer, layer(inp, **call_kwargs)


def _run(feeds, fetches, training: bool) -> list[np.ndarray]:
    """Lowers `fetches` (name, tensor) to one program and runs it on `feeds` (name, tensor, array)."""
    program = lower(
        get_default_graph(), [(n, t) for n, t, _ in feeds], fetches, training=training, name="probe"
    )
    return CompiledFunction(program, [n for n, _, _ in feeds])([a for _, _, a in feeds])


def _close(got, want, what):
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL, err_msg=what)


def _check_mode(name, case, data, training: bool):
    """Output and gradients of `sum(y * r)` with the layer called in one mode."""
    suffix = "_train" if training else ""
    inp, layer, y = _make(name, case, training=training)
    assert [w.name for w in layer.weights] == case["weight_names"]
    assert [list(w.shape) for w in layer.weights] == case["weight_shapes"]
    assert [any(w is t for t in layer.trainable_weights) for w in layer.weights] == case[
        "weight_trainable"
    ]
    layer.set_weights([data[f"w_{i}"] for i in range(len(layer.weights))])
    float_input = case["input_dtype"].startswith("float")
    wrt = ([inp] if float_input else []) + layer.trainable_weights
    grads = K.gradients(K.sum(y * K.constant(data["r"])), wrt)
    keys = ["y" + suffix] + (["gx" + suffix] if float_input else [])
    keys += [f"gw{suffix}_{i}" for i in range(len(layer.trainable_weights))]
    fetches = list(zip(keys, [y, *grads], strict=True))
    if case["mask"]:
        fetches.append(("mask", y._keras_mask))
    for (key, _), got in zip(
        fetches, _run([("x", inp, data["x"])], fetches, training), strict=True
    ):
        _close(got, data[key], f"{name}: {key}")


@pytest.mark.parametrize("name", sorted(CASES))
def test_layer_matches_keras(name):
    case = CASES[name]
    data = np.load(FIXTURES / case["npz"])
    _check_mode(name, case, data, training=False)
    if case["training_mode"]:
        K.clear_session()
        _check_mode(name, case, data, training=True)
    if case["train_step"] and not case["mask"]:
        K.clear_session()
        _check_train_step(name, case, data)


def _check_train_step(name, case, data):
    """One train_on_batch with SGD on an mse loss: the loss, every weight after the step
    (moving statistics included) and predict with the new weights."""
    inp, layer, y = _make(name, case)
    layer.set_weights([data[f"w_{i}"] for i in range(len(layer.weights))])
    model = Model(inp, y)
    model.compile(optimizers.SGD(lr=case["train_step"]["lr"]), "mse")
    _close(model.train_on_batch(data["x"], data["t"]), data["loss"], f"{name}: loss")
    for i, (got, w) in enumerate(zip(model.get_weights(), layer.weights, strict=True)):
        _close(got, data[f"after_{i}"], f"{name}: {w.name} after one step")
    _close(model.predict(data["x"]), data["y_after"], f"{name}: predict after one step")


def test_train_step_with_masked_output_matches_keras():
    name = "embedding_mask_zero"
    _check_train_step(name, CASES[name], np.load(FIXTURES / CASES[name]["npz"]))


@pytest.mark.parametrize("name", sorted(CASES))
def test_config_has_keras_keys_and_round_trips(name):
    case = CASES[name]
    _, layer, _ = _make(name, case)
    config = layer.get_config()
    assert set(config) - _BASE_KEYS == KERAS_205_KEYS[case["class_name"]]
    for key, want in case["keras_config"].items():
        if key not in config:
            continue
        got = config[key]
        if key == "axis":
            got = [got % (len(case["input_shape"]) + 1)]
        got = list(got) if isinstance(got, tuple) else got
        assert got == want, f"{name}: config[{key!r}] = {got!r}, Keras has {want!r}"
    json.dumps(config)
    clone = type(layer).from_config(config)
    assert clone.get_config() == config


def test_batchnorm_moving_statistics_change_in_training_and_serve_predict():
    x = np.random.default_rng(0).normal(3.0, 2.0, size=(64, 4)).astype(np.float32)
    model = Sequential([L.BatchNormalization(momentum=0.5, input_shape=(4,))])
    model.compile(optimizers.SGD(lr=0.0), "mse")
    bn = model.layers[0]
    for _ in range(20):
        model.train_on_batch(x, x)
    mean, var = K.get_value(bn.moving_mean), K.get_value(bn.moving_variance)
    np.testing.assert_allclose(mean, x.mean(0), rtol=1e-4)
    np.testing.assert_allclose(var, x.var(0), rtol=1e-4)
    expected = (x - mean) / np.sqrt(var + 1e-3)
    np.testing.assert_allclose(model.predict(x), expected, rtol=1e-4, atol=1e-5)
    assert model.evaluate(x, x, verbose=0) == pytest.approx(
        float(np.mean((expected - x) ** 2)), rel=1e-4
    )


def test_batchnorm_inside_a_nested_model_trains():
    inner = Sequential([L.BatchNormalization(input_shape=(3,))])
    inp = L.Input((3,))
    model = Model(inp, inner(inp))
    model.compile(optimizers.SGD(lr=0.1), "mse")
    model.train_on_batch(np.ones((2, 3)), np.ones((2, 3)))


def test_gradients_through_the_training_switch():
    inp = L.Input((3,))
    (grad,) = K.gradients(K.sum(L.BatchNormalization()(inp)), [inp])
    assert grad is not None


def test_batchnorm_called_with_training_false_registers_no_updates():
    bn = L.BatchNormalization()
    bn(L.Input((3,)), training=False)
    assert bn.updates == []


def test_embedding_sequential_takes_int_input_and_trains_only_the_rows_it_sees():
    rng = np.random.default_rng(1)
    x = rng.integers(0, 10, size=(32, 5))  # int64 data; indices 10..19 never appear
    model = Sequential([L.Embedding(20, 3, input_length=5), L.Flatten(), L.Dense(1)])
    # The input is int32; the layer's config records its float weights' dtype (as tf-keras
    # writes it, which would otherwise create integer embeddings).
    assert (
        str(model.inputs[0].dtype) == "int32" and model.layers[0].get_config()["dtype"] == "float32"
    )
    model.compile(optimizers.SGD(lr=0.1), "mse")
    before = model.layers[0].get_weights()[0]
    model.fit(x, rng.normal(size=(32, 1)), epochs=2, batch_size=8, verbose=0)
    after = model.layers[0].get_weights()[0]
    assert np.all(after[10:] == before[10:])
    assert np.all(np.abs(after[:10] - before[:10]).sum(axis=1) > 0)
    assert model.predict(x.astype(np.float64)).shape == (32, 1)


# -- noise: statistics, reproducibility, identity in inference -----------------------------
def _noise_output(layer, x, step=0):
    inp = L.Input(x.shape[1:])
    y = layer(inp)
    K.set_value(K.rng_step(), step)
    (out,) = _run([("x", inp, x)], [("y", y)], training=True)
    model = Model(inp, y)
    np.testing.assert_array_equal(model.predict(x, batch_size=len(x)), x)
    return out


def test_gaussian_noise_is_normal_reproducible_and_changes_per_step():
    x = np.zeros((400, 250), np.float32)
    out = _noise_output(L.GaussianNoise(0.5, seed=11), x, step=3)
    assert abs(out.mean()) < 4 * 0.5 / np.sqrt(out.size)
    assert out.std() == pytest.approx(0.5, rel=0.01)
    kurtosis = np.mean(out**4) / np.mean(out**2) ** 2
    assert kurtosis == pytest.approx(3.0, abs=0.1)
    np.testing.assert_allclose(
        out, 0.5 * K.reference_random_normal(x.shape, 11, 3), rtol=1e-4, atol=1e-5
    )
    np.testing.assert_array_equal(out, _noise_output(L.GaussianNoise(0.5, seed=11), x, step=3))
    assert not np.allclose(out, _noise_output(L.GaussianNoise(0.5, seed=11), x, step=4))
    assert not np.allclose(out, _noise_output(L.GaussianNoise(0.5, seed=12), x, step=3))


def test_gaussian_dropout_multiplies_by_unit_mean_noise():
    x = np.full((400, 250), 2.0, np.float32)
    out = _noise_output(L.GaussianDropout(0.2, seed=5), x) / 2.0
    assert out.mean() == pytest.approx(1.0, abs=4 * 0.5 / np.sqrt(out.size))
    assert out.std() == pytest.approx(np.sqrt(0.2 / 0.8), rel=0.01)
    np.testing.assert_array_equal(_noise_output(L.GaussianDropout(1.0), x), x)


def test_alpha_dropout_keeps_zero_mean_unit_variance():
    x = np.random.default_rng(2).normal(size=(400, 250)).astype(np.float32)
    rate = 0.2
    out = _noise_output(L.AlphaDropout(rate, seed=9), x, step=1)
    assert out.mean() == pytest.approx(0.0, abs=0.01)
    assert out.var() == pytest.approx(1.0, abs=0.02)
    alpha_p = -1.6732632423543772 * 1.0507009873554805
    a = ((1 - rate) * (1 + rate * alpha_p**2)) ** -0.5
    kept = K.reference_random_uniform(x.shape, 9, 1) >= rate
    expected = a * np.where(kept, x, alpha_p) - a * alpha_p * rate
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
    assert (~kept).mean() == pytest.approx(rate, abs=0.005)


@pytest.mark.parametrize(
    "layer, shape, channel",
    [
        (lambda: L.SpatialDropout1D(0.3, seed=1), (300, 6, 20), 2),
        (lambda: L.SpatialDropout2D(0.3, seed=2), (300, 3, 4, 20), 3),
        (lambda: L.SpatialDropout2D(0.3, data_format="channels_first", seed=2), (300, 20, 3, 4), 1),
        (lambda: L.SpatialDropout3D(0.3, seed=3), (100, 2, 3, 2, 20), 4),
    ],
)
def test_spatial_dropout_drops_whole_channels(layer, shape, channel):
    out = _noise_output(layer(), np.ones(shape, np.float32))
    spatial = tuple(i for i in range(1, len(shape)) if i != channel)
    per_map = out.max(axis=spatial)
    np.testing.assert_array_equal(out.min(axis=spatial), per_map)
    assert set(np.unique(per_map)) <= {0.0, np.float32(1 / 0.7)}
    assert (per_map == 0).mean() == pytest.approx(0.3, abs=0.04)


def test_random_tensors_match_their_numpy_twins():
    normal = K.eval(K.random_normal((50, 40), mean=1.0, stddev=2.0, seed=21))
    np.testing.assert_allclose(
        normal, K.reference_random_normal((50, 40), 21, 0, 1.0, 2.0), rtol=1e-4, atol=1e-4
    )
    uniform = K.eval(K.random_uniform((50, 40), -1.0, 3.0, seed=21))
    np.testing.assert_allclose(
        uniform, K.reference_random_uniform((50, 40), 21, 0, -1.0, 3.0), rtol=1e-6
    )
    assert uniform.min() >= -1.0 and uniform.max() < 3.0


def test_noise_advances_with_each_train_step():
    model = Sequential(
        [L.GaussianNoise(1.0, input_shape=(8,)), L.Dense(1, kernel_initializer="ones")]
    )
    model.compile(optimizers.SGD(lr=0.0), "mse")
    x, y = np.zeros((16, 8), np.float32), np.zeros((16, 1), np.float32)
    losses = [model.train_on_batch(x, y) for _ in range(3)]
    assert len(set(losses)) == 3 and all(v > 0 for v in losses)
    assert model.predict(x).max() == 0.0


# -- bad arguments and inputs ---------------------------------------------------------------
def test_embedding_casts_float_inputs_and_rejects_fractional_values():
    # Keras 2.0.5 casts float indices to int32 (babi_memnn feeds float Inputs): whole-number
    # floats give the int result; anything else is a clear error naming the layer.
    x = L.Input((5,))
    model = Model(x, L.Embedding(10, 3, name="emb")(x))
    ints = np.array([[1, 2, 3, 9, 0]])
    np.testing.assert_array_equal(model.predict(ints.astype("float32")), model.predict(ints))
    model.compile("sgd", "mse")
    for bad, shown in ((1.5, "1.5"), (np.nan, "nan"), (-np.inf, "-inf")):
        data = np.array([[1, bad, 3, 4, 0]], "float32")
        with pytest.raises(ValueError, match=rf"layer emb takes integer values.*input_1 holds values that are not whole numbers \(e\.g\. {shown}, dtype float32\)"):
            model.predict(data)
        with pytest.raises(ValueError, match=r"layer emb takes integer values"):
            model.train_on_batch(data, np.zeros((1, 5, 3)))
    # An integer model input (Sequential's Embedding makes one) would truncate floats.
    seq = Sequential([L.Embedding(10, 3, input_length=5, name="emb2"), L.Flatten()])
    np.testing.assert_array_equal(seq.predict(ints.astype("float64")), seq.predict(ints))
    with pytest.raises(ValueError, match=r"layer emb2 takes integer values.*not whole numbers \(e\.g\. 2\.5"):
        seq.predict(np.array([[1, 2.5, 3, 4, 0]]))


@pytest.mark.parametrize("axis", [2, -3, 5])
def test_batchnorm_axis_out_of_range(axis):
    with pytest.raises(
        ValueError, match=rf"Layer bn: axis {axis} is out of range for an input of rank 2"
    ):
        L.BatchNormalization(axis=axis, name="bn")(L.Input((4,)))


def test_batchnorm_needs_a_known_feature_axis():
    with pytest.raises(
        ValueError, match=r"Layer bn: axis -1 of the input should have a defined dimension"
    ):
        L.BatchNormalization(name="bn")(L.Input((None,)))


@pytest.mark.parametrize("shared_axes", [[0], [3], [-1]])
def test_prelu_shared_axes_out_of_range(shared_axes):
    with pytest.raises(
        ValueError,
        match=rf"Layer pr: shared_axes {re.escape(str(shared_axes))} must lie in 1..2.*got axis",
    ):
        L.PReLU(shared_axes=shared_axes, name="pr")(L.Input((3, 4)))


def test_prelu_shared_axes_must_be_integers_and_unshared_axes_known():
    with pytest.raises(ValueError, match=r"Layer pr: shared_axes must be integers"):
        L.PReLU(shared_axes=["1"], name="pr")
    with pytest.raises(
        ValueError, match=r"Layer pr2: axes \[1\] of the input shape \(None, None, 4\) are unknown"
    ):
        L.PReLU(name="pr2")(L.Input((None, 4)))
    L.PReLU(shared_axes=1)(L.Input((None, 4)))


def test_locally_connected_rejects_same_padding_and_unknown_sizes():
    with pytest.raises(ValueError, match=r"LocallyConnected1D \(layer lc\): only 'valid'"):
        L.LocallyConnected1D(2, 3, padding="same", name="lc")
    with pytest.raises(
        ValueError, match=r"Layer lc2: the spatial dimensions .* \(None, None, 5, 3\)"
    ):
        L.LocallyConnected2D(2, 3, name="lc2")(L.Input((None, 5, 3)))


def test_spatial_dropout_needs_its_rank():
    with pytest.raises(ValueError, match=r"incompatible with layer sd: expected ndim=4"):
        L.SpatialDropout2D(0.5, name="sd")(L.Input((3, 4)))
