"""MaxoutDense and Highway (Keras 2.0.5's deprecated dense layers).

tf-keras has neither layer, so the reference is a numpy implementation of their formulas:
the outputs for given weights, the gradients of `sum(y * r)` in float64 against central
differences of kgraph's own lowered program (and, for MaxoutDense, against the numpy
analytic gradient). Also: weight names, shapes and order, Keras 2.0.5's config keys and a
round trip, `weights=`, `input_dim`, regularizers and constraints, training, saving and
the deprecation warnings.
"""

from __future__ import annotations

import numpy as np
import pytest

import kgraph.backend as K
import kgraph.layers as L
from kgraph import regularizers
from kgraph.engine.functions import CompiledFunction
from kgraph.ir import get_default_graph
from kgraph.models import Sequential, load_model
from lowering import lower

pytestmark = pytest.mark.filterwarnings("ignore:The `(MaxoutDense|Highway)` layer is deprecated")

_BASE_KEYS = {"name", "trainable", "batch_input_shape", "dtype"}
_LEGACY_KEYS = {"W_regularizer", "b_regularizer", "activity_regularizer", "W_constraint",
                "b_constraint", "bias", "input_dim", "init"}  # fmt: skip
KERAS_205_KEYS = {
    "MaxoutDense": _LEGACY_KEYS | {"output_dim", "nb_feature"},
    "Highway": _LEGACY_KEYS | {"activation"},
}


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def maxout_np(x, W, b=None):
    z = np.einsum("bi,kio->bko", x, W) + (0.0 if b is None else b)
    return z.max(axis=1)


def maxout_grads_np(x, W, b, r):
    """d sum(maxout(x) * r) / d(x, W, b): the gradient flows through the winning feature."""
    z = np.einsum("bi,kio->bko", x, W) + b
    win = (z == z.max(axis=1, keepdims=True)) * r[:, None, :]  # (batch, k, out)
    return np.einsum("bko,kio->bi", win, W), np.einsum("bi,bko->kio", x, win), win.sum(axis=0)


def highway_np(x, W, W_carry, b=0.0, b_carry=0.0, act=lambda v: v):
    t = _sigmoid(x @ W_carry + b_carry)
    return act(x @ W + b) * t + (1.0 - t) * x


@pytest.fixture
def float64():
    K.set_floatx("float64")
    yield
    K.set_floatx("float32")


def _program(inp, y, r, wrt_weights):
    """One program: x -> y, sum(y * r) and its gradients with respect to x and the weights."""
    s = K.sum(y * K.constant(r))
    grads = K.gradients(s, [inp, *wrt_weights])
    fetches = [("y", y), ("s", s)] + [(f"g{i}", g) for i, g in enumerate(grads)]
    program = lower(get_default_graph(), [("x", inp)], fetches, training=False, name="probe")
    return CompiledFunction(program, ["x"])


def _check_central_differences(fn, layer, x, grads, eps=1e-6):
    """<g, u> against (s(θ + εu) - s(θ - εu)) / 2ε for a random direction u per argument,
    θ being the input and then each weight (kgraph's forward program evaluates s)."""
    rng = np.random.default_rng(7)
    weights = layer.get_weights()
    u = rng.standard_normal(x.shape)
    numeric = (fn([x + eps * u])[1] - fn([x - eps * u])[1]) / (2 * eps)
    np.testing.assert_allclose(np.sum(grads[0] * u), numeric, rtol=1e-6, atol=1e-8, err_msg="input")
    for i, (g, w) in enumerate(zip(grads[1:], weights, strict=True)):
        u = rng.standard_normal(w.shape)
        values = []
        for sign in (1.0, -1.0):
            layer.set_weights([w + sign * eps * u if j == i else v for j, v in enumerate(weights)])
            values.append(fn([x])[1])
        layer.set_weights(weights)
        numeric = (values[0] - values[1]) / (2 * eps)
        np.testing.assert_allclose(
            np.sum(g * u), numeric, rtol=1e-6, atol=1e-8, err_msg=layer.weights[i].name
        )


def test_maxout_dense_output_and_gradients(float64):
    rng = np.random.default_rng(0)
    x, W, b = (
        rng.standard_normal((5, 4)),
        rng.standard_normal((3, 4, 6)),
        rng.standard_normal((3, 6)),
    )
    r = rng.standard_normal((5, 6))
    inp = L.Input((4,), dtype="float64")
    layer = L.MaxoutDense(6, nb_feature=3, weights=[W, b])
    y = layer(inp)
    assert K.int_shape(y) == (None, 6)
    assert [w.name for w in layer.weights] == ["maxout_dense_1/W:0", "maxout_dense_1/b:0"]
    assert [w.dtype.name for w in layer.get_weights()] == ["float64", "float64"]
    fn = _program(inp, y, r, layer.trainable_weights)
    got_y, _, *grads = fn([x])
    np.testing.assert_allclose(got_y, maxout_np(x, W, b), rtol=1e-12)
    for got, want, what in zip(grads, maxout_grads_np(x, W, b, r), ("x", "W", "b"), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12, err_msg=what)
    _check_central_differences(fn, layer, x, grads)


@pytest.mark.parametrize("activation", ["tanh", None])
def test_highway_output_and_gradients(float64, activation):
    rng = np.random.default_rng(1)
    d = 5
    x, r = rng.standard_normal((4, d)), rng.standard_normal((4, d))
    W, W_carry, b, b_carry = (rng.standard_normal(s) for s in [(d, d), (d, d), (d,), (d,)])
    inp = L.Input((d,), dtype="float64")
    layer = L.Highway(activation=activation)
    y = layer(inp)
    assert [w.name for w in layer.weights] == [
        "highway_1/W:0",
        "highway_1/W_carry:0",
        "highway_1/b:0",
        "highway_1/b_carry:0",
    ]
    assert [tuple(w.shape) for w in layer.weights] == [(d, d), (d, d), (d,), (d,)]
    # Keras 2.0.5's initial biases: b zeros, b_carry ones.
    np.testing.assert_array_equal(layer.get_weights()[2], np.zeros(d))
    np.testing.assert_array_equal(layer.get_weights()[3], np.ones(d))
    layer.set_weights([W, W_carry, b, b_carry])
    fn = _program(inp, y, r, layer.trainable_weights)
    got_y, _, *grads = fn([x])
    act = np.tanh if activation == "tanh" else (lambda v: v)
    np.testing.assert_allclose(got_y, highway_np(x, W, W_carry, b, b_carry, act), rtol=1e-12)
    _check_central_differences(fn, layer, x, grads)


def test_without_bias(float64):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 4))
    for layer, weight_names, reference in [
        (L.MaxoutDense(2, nb_feature=2, bias=False), ["maxout_dense_1/W:0"], maxout_np),
        (L.Highway(bias=False, activation="relu"), ["highway_1/W:0", "highway_1/W_carry:0"],
         lambda x, *w: highway_np(x, *w, act=lambda v: np.maximum(v, 0))),
    ]:  # fmt: skip
        inp = L.Input((4,), dtype="float64")
        y = layer(inp)
        assert [w.name for w in layer.weights] == weight_names
        fn = _program(inp, y, np.ones((3, K.int_shape(y)[1])), layer.trainable_weights)
        got_y, _, *grads = fn([x])
        np.testing.assert_allclose(got_y, reference(x, *layer.get_weights()), rtol=1e-12)
        _check_central_differences(fn, layer, x, grads)


@pytest.mark.parametrize(
    "cls, kwargs",
    [
        (L.MaxoutDense, {"output_dim": 3, "nb_feature": 2, "W_regularizer": "l2", "b_constraint": "non_neg",
                         "bias": True, "input_dim": 4, "init": "he_normal"}),
        (L.Highway, {"activation": "relu", "W_regularizer": "l1", "W_constraint": "max_norm", "bias": False}),
    ],
)  # fmt: skip
def test_config_round_trip(cls, kwargs):
    layer = cls(**kwargs)
    config = layer.get_config()
    assert set(config) - _BASE_KEYS == KERAS_205_KEYS[cls.__name__]
    assert config["input_dim"] == kwargs.get("input_dim")
    rebuilt = L.deserialize(L.serialize(layer))
    assert type(rebuilt) is cls
    assert rebuilt.get_config() == config
    # `input_dim` is the shortcut for input_shape=(input_dim,).
    if "input_dim" in kwargs:
        assert config["batch_input_shape"] == (None, kwargs["input_dim"])


def test_auto_names_input_dim_and_weights_argument():
    W, b = np.ones((2, 3, 4), "float32"), np.arange(8, dtype="float32").reshape(2, 4)
    model = Sequential(
        [L.MaxoutDense(4, nb_feature=2, input_dim=3, weights=[W, b]), L.Highway(), L.Highway()]
    )
    assert [la.name for la in model.layers] == ["maxout_dense_1", "highway_1", "highway_2"]
    assert model.input_shape == (None, 3) and model.output_shape == (None, 4)
    x = np.array([[1.0, 2.0, 3.0]], "float32")
    np.testing.assert_allclose(model.layers[0].get_weights()[1], b)
    want = maxout_np(x, W, b)
    for layer in model.layers[1:]:
        want = highway_np(want, *layer.get_weights())
    np.testing.assert_allclose(model.predict(x), want, rtol=1e-5)


def test_regularizers_and_constraints():
    maxout = L.MaxoutDense(3, nb_feature=2, input_dim=4, W_regularizer=regularizers.l2(0.1),
                           b_regularizer=regularizers.l1(0.2), W_constraint="non_neg")  # fmt: skip
    highway = L.Highway(
        W_regularizer=regularizers.l2(0.3), activity_regularizer=regularizers.l1(0.01)
    )
    model = Sequential([maxout, highway])
    model.compile("sgd", "mse")
    assert (
        len(model.losses) == 4
    )  # two from MaxoutDense, one weight and one activity loss from Highway
    x, t = np.random.rand(8, 4).astype("float32"), np.random.rand(8, 3).astype("float32")
    W, b = maxout.get_weights()
    HW, HWc, Hb, Hbc = highway.get_weights()
    h = maxout_np(x, W, b)
    y = highway_np(h, HW, HWc, Hb, Hbc)
    want = (
        np.mean((y - t) ** 2) + 0.1 * np.sum(W**2) + 0.2 * np.sum(np.abs(b)) + 0.3 * np.sum(HW**2)
    )
    want += 0.01 * np.sum(np.abs(y))  # the activity loss sums over the batch
    np.testing.assert_allclose(model.evaluate(x, t, batch_size=8, verbose=0), want, rtol=1e-4)
    model.fit(x, t, epochs=2, batch_size=4, verbose=0)
    assert (maxout.get_weights()[0] >= 0).all()  # the non_neg constraint after each step


def test_trains_and_saves(tmp_path):
    rng = np.random.default_rng(3)
    x = rng.uniform(-1, 1, (128, 6)).astype("float32")
    t = np.abs(x[:, :3]) - 0.5 * x[:, 3:]

    def build():
        return Sequential(
            [L.MaxoutDense(8, nb_feature=3, input_dim=6), L.Highway(activation="tanh"), L.Dense(3)]
        )

    model = build()
    model.compile("adam", "mse")
    before = model.evaluate(x, t, verbose=0)
    history = model.fit(x, t, epochs=15, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < 0.5 * before
    model.save_weights(str(tmp_path / "w.h5"))
    other = build()
    other.load_weights(str(tmp_path / "w.h5"))
    np.testing.assert_allclose(other.predict(x), model.predict(x), rtol=1e-6)
    model.save(str(tmp_path / "m.h5"))
    loaded = load_model(str(tmp_path / "m.h5"))
    assert [type(la).__name__ for la in loaded.layers] == ["MaxoutDense", "Highway", "Dense"]
    np.testing.assert_allclose(loaded.predict(x), model.predict(x), rtol=1e-6)


def test_deprecation_warnings():
    with pytest.warns(UserWarning, match="The `MaxoutDense` layer is deprecated"):
        L.MaxoutDense(2)
    with pytest.warns(UserWarning, match="The `Highway` layer is deprecated"):
        L.Highway()
    with pytest.warns(UserWarning, match="`transform_bias` argument is deprecated"):
        L.Highway(transform_bias=-2)


def test_bad_arguments_and_inputs_name_the_layer():
    with pytest.raises(ValueError, match=r"maxout_dense_1 \(MaxoutDense\): `output_dim`"):
        L.MaxoutDense(0)
    with pytest.raises(ValueError, match=r"maxout_dense_2 \(MaxoutDense\): `nb_feature`"):
        L.MaxoutDense(2, nb_feature=1.5)
    with pytest.raises(ValueError, match="highway_1.*expected ndim=2"):
        L.Highway()(L.Input((3, 4)))
    layer = L.Highway()
    layer(L.Input((4,)))
    with pytest.raises(ValueError, match="highway_2.*axis -1"):
        layer(L.Input((5,)))
    with pytest.raises(TypeError, match="Keyword argument not understood"):
        L.MaxoutDense(2, output_units=3)
