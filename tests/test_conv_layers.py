"""Convolution, pooling, padding, cropping and upsampling layers against golden fixtures made
by real Keras (tf-keras; tools/make_conv_fixtures.py).

Per case (both data formats, several argument combinations per layer): the output, the
weight names/shapes/order, and the gradients of sum(y * r) with respect to the input and
every weight match Keras. Cases whose geometry allows it run again with unknown spatial
sizes. Configs have Keras 2.0.5's keys and round-trip; bad input raises errors that name
the layer.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import kgraph.backend as K
from kgraph import layers, optimizers
from kgraph.engine.functions import CompiledFunction
from kgraph.layers import Input
from kgraph.models import Sequential
from lowering import lower

FIXTURES = Path(__file__).parent / "fixtures"
FIXTURE = json.loads((FIXTURES / "conv_cases.json").read_text())
CASES = FIXTURE["layers"]
DATA = np.load(FIXTURES / "conv_cases.npz")
RTOL, ATOL = 1e-5, 1e-5


def _arrays(name: str) -> dict[str, np.ndarray]:
    prefix = f"{name}/"
    return {k[len(prefix) :]: DATA[k] for k in DATA.files if k.startswith(prefix)}


def _spatial_axes(case: dict) -> list[int]:
    rank = len(case["input_shape"])
    first = case["kwargs"].get("data_format") == "channels_first"
    return list(range(2, rank)) if first else list(range(1, rank - 1))


def _run(case: dict, data: dict, dynamic_spatial: bool = False):
    """Builds the layer on a fresh graph; returns (layer, output tensor, [y, dx, dw...])."""
    K.clear_session()
    batch_shape = [None] + case["input_shape"][1:]
    if dynamic_spatial:
        for axis in _spatial_axes(case):
            batch_shape[axis] = None
    x = Input(batch_shape=tuple(batch_shape))
    layer = getattr(layers, case["layer"])(name=case["layer_name"], **case["kwargs"])
    y = layer(x)
    n_weights = len(case["weight_shapes"])
    layer.set_weights([data[f"w{i}"] for i in range(n_weights)])
    loss = K.sum(y * K.constant(data["r"]))
    grads = K.gradients(loss, [x] + layer.trainable_weights)
    fetches = [("y", y)] + [(f"g{i}", g) for i, g in enumerate(grads)]
    program = lower(x.graph, [("x", x)], fetches, training=False, name="conv_case")
    return layer, y, CompiledFunction(program, ["x"])([data["x"]])


def _check_values(case: dict, data: dict, values) -> None:
    y, dx, *dws = values
    np.testing.assert_allclose(y, data["y"], rtol=RTOL, atol=ATOL, err_msg="output")
    np.testing.assert_allclose(dx, data["dx"], rtol=RTOL, atol=ATOL, err_msg="input gradient")
    assert len(dws) == len(case["weight_shapes"])
    for i, dw in enumerate(dws):
        np.testing.assert_allclose(
            dw, data[f"dw{i}"], rtol=RTOL, atol=ATOL, err_msg=f"weight {i} gradient"
        )


@pytest.mark.parametrize("name", sorted(CASES))
def test_layer_matches_keras(name):
    case, data = CASES[name], _arrays(name)
    layer, y, values = _run(case, data)
    assert [w.name for w in layer.weights] == case["weight_names"]
    assert [list(w.shape) for w in layer.weights] == case["weight_shapes"]
    assert tuple(K.int_shape(y)) == (None, *case["output_shape"][1:])
    assert layer.compute_output_shape(tuple(case["input_shape"])) == tuple(case["output_shape"])
    _check_values(case, data, values)


def _dynamic_ok(case: dict) -> bool:
    """'same' with strides > 1 needs static sizes (its pads depend on them)."""
    kw = case["kwargs"]
    strides = kw.get("strides", kw.get("pool_size", 1))
    strided = any(s > 1 for s in (strides if isinstance(strides, (list, tuple)) else [strides]))
    return not (kw.get("padding") == "same" and strided) and case["layer"] != "Conv2DTranspose"


DYNAMIC = sorted(
    n for n, c in CASES.items() if _dynamic_ok(c) and not c["layer"].startswith("Global")
)


@pytest.mark.parametrize("name", DYNAMIC)
def test_layer_matches_keras_with_unknown_spatial_sizes(name):
    case, data = CASES[name], _arrays(name)
    _, y, values = _run(case, data, dynamic_spatial=True)
    assert all(K.int_shape(y)[a] is None for a in _spatial_axes(case) if a < len(K.int_shape(y)))
    _check_values(case, data, values)


def test_variable_length_sequences_train():
    # A strided valid Conv1D and AveragePooling1D over sequences of any length: the input
    # gradient recovers the trailing steps no window reached at run time.
    K.clear_session()
    model = Sequential()
    model.add(layers.Conv1D(3, 3, strides=2, input_shape=(None, 2)))
    model.add(layers.AveragePooling1D(2))
    model.add(layers.MaxPooling1D(2, strides=1))
    model.add(layers.GlobalAveragePooling1D())
    model.compile("sgd", "mse")
    rng = np.random.default_rng(0)
    for steps in (12, 15):
        x = rng.standard_normal((4, steps, 2)).astype(np.float32)
        assert model.predict(x).shape == (4, 3)
        assert np.isfinite(model.train_on_batch(x, np.zeros((4, 3), np.float32)))


def test_small_cnn_trains_like_keras():
    # The reference CNN in miniature: conv-relu, conv-relu, max-pool, flatten, softmax.
    meta = FIXTURE["cnn_model"]
    data = _arrays("cnn_model")
    K.clear_session()
    model = Sequential()
    for cls, kwargs in meta["layers"]:
        model.add(getattr(layers, cls)(**kwargs))
    model.compile(optimizers.SGD(lr=0.1), meta["loss"])
    model.set_weights([data[f"init{i}"] for i in range(meta["n_weights"])])
    for step in range(meta["steps"]):
        loss = model.train_on_batch(data["x"], data["y"])
        np.testing.assert_allclose(loss, data["losses"][step], rtol=RTOL, atol=ATOL)
    for i, w in enumerate(model.get_weights()):
        np.testing.assert_allclose(
            w, data[f"after{i}"], rtol=RTOL, atol=ATOL, err_msg=f"weight {i}"
        )
    np.testing.assert_allclose(model.predict(data["x"]), data["predict"], rtol=RTOL, atol=ATOL)


# -- configs ---------------------------------------------------------------------------------
CONV_KEYS = {
    "filters", "kernel_size", "strides", "padding", "data_format", "dilation_rate", "activation",
    "use_bias", "kernel_initializer", "bias_initializer", "kernel_regularizer", "bias_regularizer",
    "activity_regularizer", "kernel_constraint", "bias_constraint",
}  # fmt: skip
SEPARABLE_KEYS = (CONV_KEYS - {"kernel_initializer", "kernel_regularizer", "kernel_constraint"}) | {
    "depth_multiplier", "depthwise_initializer", "pointwise_initializer", "depthwise_regularizer",
    "pointwise_regularizer", "depthwise_constraint", "pointwise_constraint",
}  # fmt: skip
POOL_KEYS = {"pool_size", "strides", "padding"}
CONFIG_KEYS = {
    "Conv1D": CONV_KEYS - {"data_format"},
    "Conv2D": CONV_KEYS,
    "Conv3D": CONV_KEYS,
    "Conv2DTranspose": CONV_KEYS - {"dilation_rate"},
    "SeparableConv2D": SEPARABLE_KEYS,
    "MaxPooling1D": POOL_KEYS,
    "AveragePooling1D": POOL_KEYS,
    "MaxPooling2D": POOL_KEYS | {"data_format"},
    "AveragePooling3D": POOL_KEYS | {"data_format"},
    "GlobalMaxPooling1D": set(),
    "GlobalAveragePooling2D": {"data_format"},
    "GlobalMaxPooling3D": {"data_format"},
    "ZeroPadding1D": {"padding"},
    "ZeroPadding2D": {"padding", "data_format"},
    "Cropping1D": {"cropping"},
    "Cropping3D": {"cropping", "data_format"},
    "UpSampling1D": {"size"},
    "UpSampling2D": {"size", "data_format"},
}
BASE_KEYS = {"name", "trainable", "dtype", "batch_input_shape"}
ARGS = {
    "Conv1D": (2, 3),
    "Conv2D": (2, 3),
    "Conv3D": (2, 3),
    "Conv2DTranspose": (2, 3),
    "SeparableConv2D": (2, 3),
}


@pytest.mark.parametrize("cls", sorted(CONFIG_KEYS))
def test_config_keys_are_keras_205_and_round_trip(cls):
    layer = getattr(layers, cls)(*ARGS.get(cls, ()))
    config = layer.get_config()
    assert set(config) - BASE_KEYS == CONFIG_KEYS[cls]
    assert {"name", "trainable"} <= set(config)
    again = type(layer).from_config(json.loads(json.dumps(config)))
    assert json.dumps(again.get_config(), sort_keys=True) == json.dumps(config, sort_keys=True)


def test_config_values_are_normalized_as_keras():
    conv = layers.Conv2D(4, 3).get_config()
    assert (conv["kernel_size"], conv["strides"], conv["dilation_rate"]) == ((3, 3), (1, 1), (1, 1))
    assert (conv["padding"], conv["data_format"], conv["activation"]) == (
        "valid",
        "channels_last",
        "linear",
    )
    assert layers.Conv1D(2, 5, padding="Causal").get_config()["padding"] == "causal"
    assert layers.MaxPooling2D().get_config()["strides"] == (2, 2)
    assert layers.MaxPooling1D(3).get_config()["pool_size"] == (3,)
    assert layers.ZeroPadding2D(1).get_config()["padding"] == ((1, 1), (1, 1))
    assert layers.ZeroPadding2D((1, 2)).get_config()["padding"] == ((1, 1), (2, 2))
    assert layers.ZeroPadding1D().get_config()["padding"] == (1, 1)
    assert layers.Cropping3D().get_config()["cropping"] == ((1, 1), (1, 1), (1, 1))
    assert layers.UpSampling1D().get_config()["size"] == 2
    assert layers.UpSampling3D().get_config()["size"] == (2, 2, 2)
    K.set_image_data_format("channels_first")
    try:
        assert layers.Conv2D(2, 2).data_format == "channels_first"
        assert layers.GlobalMaxPooling2D().data_format == "channels_first"
        assert layers.Conv1D(2, 2).data_format == "channels_last"  # 1D layers are channels_last
    finally:
        K.set_image_data_format("channels_last")


def test_aliases_and_automatic_names():
    assert layers.Convolution2D is layers.Conv2D and layers.Deconv2D is layers.Conv2DTranspose
    assert (
        layers.MaxPool2D is layers.MaxPooling2D
        and layers.GlobalAvgPool3D is layers.GlobalAveragePooling3D
    )
    K.clear_session()
    assert layers.Conv2D(1, 1).name == "conv2d_1"
    assert layers.Conv2D(1, 1).name == "conv2d_2"
    assert layers.MaxPooling2D().name == "max_pooling2d_1"
    assert layers.GlobalAveragePooling1D().name == "global_average_pooling1d_1"
    assert layers.Conv2DTranspose(1, 1).name == "conv2d_transpose_1"


# -- bad input -------------------------------------------------------------------------------
def _call(layer, shape):
    K.clear_session()
    return layer(Input(shape=shape))


@pytest.mark.parametrize(
    "make, shape, expected",
    [
        (
            lambda: layers.Conv2D(2, 3, name="conv_a"),
            (8, 8),
            "conv_a: expected ndim=4, found ndim=3",
        ),
        (
            lambda: layers.Conv1D(2, 3, name="conv_b"),
            (8, 8, 1),
            "conv_b: expected ndim=3, found ndim=4",
        ),
        (lambda: layers.MaxPooling2D(name="pool_a"), (8,), "pool_a: expected ndim=4, found ndim=2"),
        (
            lambda: layers.GlobalMaxPooling3D(name="gpool"),
            (4, 4, 1),
            "gpool: expected ndim=5, found ndim=4",
        ),
        (lambda: layers.UpSampling2D(name="up"), (4, 1), "up: expected ndim=4, found ndim=3"),
    ],
)
def test_wrong_rank_names_the_layer(make, shape, expected):
    with pytest.raises(ValueError, match=expected):
        _call(make(), shape)


@pytest.mark.parametrize(
    "make, shape, expected",
    [
        (
            lambda: layers.Conv2D(2, 5, name="big"),
            (3, 9, 1),
            r"Layer big: the kernel \(5, 5\).*\(3, 9\) with padding='valid'",
        ),
        (
            lambda: layers.Conv1D(2, 3, dilation_rate=3, name="dil"),
            (6, 1),
            r"Layer dil: the kernel \(3,\) \(dilation_rate \(3,\)\)",
        ),
        (
            lambda: layers.Conv3D(2, 2, data_format="channels_first", name="c3"),
            (1, 1, 4, 4),
            "Layer c3: the kernel",
        ),
        (
            lambda: layers.MaxPooling2D(4, name="mp"),
            (3, 8, 2),
            r"Layer mp: the pool_size \(4, 4\) is larger",
        ),
        (
            lambda: layers.Cropping1D((2, 2), name="crop"),
            (4, 3),
            r"Layer crop: cropping \(\(2, 2\),\) removes all",
        ),
    ],
)
def test_window_larger_than_input_names_the_layer(make, shape, expected):
    with pytest.raises(ValueError, match=expected):
        _call(make(), shape)


@pytest.mark.parametrize(
    "make",
    [
        lambda: layers.Conv2D(2, 3, data_format="channels_middle", name="fmt"),
        lambda: layers.MaxPooling3D(data_format="NHWC", name="fmt"),
        lambda: layers.GlobalAveragePooling2D(data_format="nchw", name="fmt"),
        lambda: layers.ZeroPadding2D(data_format="last", name="fmt"),
    ],
)
def test_invalid_data_format_lists_the_choices(make):
    with pytest.raises(
        ValueError,
        match=r'Layer fmt: The `data_format` argument must be one of "channels_first", "channels_last"',
    ):
        make()


def test_strided_same_padding_over_unknown_sizes_predicts_and_trains_as_at_a_fixed_size():
    from kgraph.models import Sequential

    def build(shape, fmt="channels_last"):
        return Sequential([
            layers.Conv2D(4, 3, strides=2, padding="same", input_shape=shape, data_format=fmt),
            layers.MaxPooling2D(3, 2, padding="same", data_format=fmt),
            layers.AveragePooling2D(2, padding="same", data_format=fmt),
            layers.SeparableConv2D(2, 3, strides=2, padding="same", data_format=fmt),
            layers.GlobalAveragePooling2D(data_format=fmt)])  # fmt: skip

    any_size = build((None, None, 3))
    any_size.compile("sgd", "mse")
    start = any_size.get_weights()
    for h, w in ((9, 10), (12, 13), (17, 16)):  # odd and even sizes place SAME's extra cell
        fixed = build((h, w, 3))
        fixed.compile("sgd", "mse")
        fixed.set_weights(start)
        any_size.set_weights(start)
        rng = np.random.RandomState(h)
        x, y = rng.rand(2, h, w, 3).astype("float32"), rng.rand(2, 2).astype("float32")
        np.testing.assert_allclose(any_size.predict(x), fixed.predict(x), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(
            any_size.train_on_batch(x, y), fixed.train_on_batch(x, y), rtol=1e-5
        )
        for got, want in zip(any_size.get_weights(), fixed.get_weights(), strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)
    first = build((3, None, None), "channels_first")
    first.compile("sgd", "mse")
    fixed = build((3, 11, 7), "channels_first")
    fixed.compile("sgd", "mse")
    fixed.set_weights(first.get_weights())
    x = np.random.RandomState(0).rand(2, 3, 11, 7).astype("float32")
    first.train_on_batch(x, np.ones((2, 2), "float32"))
    fixed.train_on_batch(x, np.ones((2, 2), "float32"))
    for got, want in zip(first.get_weights(), fixed.get_weights(), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)
    conv1d = Sequential([layers.Conv1D(2, 3, strides=2, padding="same", input_shape=(None, 3))])
    assert conv1d.predict(np.ones((1, 7, 3), "float32")).shape == (1, 4, 2)
    conv1d.compile("adam", "mse")
    assert np.isfinite(
        conv1d.train_on_batch(np.ones((3, 7, 3), "float32"), np.ones((3, 4, 2), "float32"))
    )


def test_backend_functions():
    x = np.arange(2 * 3 * 4 * 4, dtype=np.float32).reshape(2, 3, 4, 4)
    bias = np.array([1.0, -2.0, 3.0], np.float32)
    first = K.eval(K.bias_add(K.constant(x), K.constant(bias), data_format="channels_first"))
    np.testing.assert_array_equal(first, x + bias[:, None, None])
    last = K.eval(K.bias_add(K.constant(x.transpose(0, 2, 3, 1)), K.constant(bias)))
    np.testing.assert_array_equal(last, x.transpose(0, 2, 3, 1) + bias)
    pooled = K.eval(
        K.pool2d(K.constant(x), (2, 2), (2, 2), data_format="channels_first", pool_mode="avg")
    )
    np.testing.assert_allclose(pooled, x.reshape(2, 3, 2, 2, 2, 2).mean((3, 5)))
    up = K.eval(K.resize_images(K.constant(x), 2, 3, "channels_first"))
    np.testing.assert_array_equal(up, x.repeat(2, 2).repeat(3, 3))
    np.testing.assert_array_equal(
        K.eval(K.repeat_elements(K.constant(x), 2, axis=1)), x.repeat(2, 1)
    )
    padded = K.eval(K.spatial_2d_padding(K.constant(x), ((1, 0), (0, 2)), "channels_first"))
    np.testing.assert_array_equal(padded, np.pad(x, ((0, 0), (0, 0), (1, 0), (0, 2))))
    with pytest.raises(
        ValueError, match="Invalid pooling mode: 'min'; valid choices: 'max', 'avg'"
    ):
        K.pool2d(K.constant(x), (2, 2), pool_mode="min")
    with pytest.warns(UserWarning, match="padding dict"):
        legacy = layers.ZeroPadding2D(
            {"top_pad": 1, "bottom_pad": 0, "left_pad": 2, "right_pad": 3}
        )
    assert legacy.padding == ((1, 0), (2, 3))


def test_invalid_arguments_name_the_layer():
    with pytest.raises(ValueError, match="Layer pad: The `padding` argument must be one of"):
        layers.Conv2D(2, 3, padding="full", name="pad")
    with pytest.raises(ValueError, match="Layer causal2d: padding='causal' is only for Conv1D"):
        layers.Conv2D(2, 3, padding="causal", name="causal2d")
    with pytest.raises(
        ValueError, match=r"Layer ks: The `kernel_size` argument must be a tuple of 2 integers"
    ):
        layers.Conv2D(2, (3, 3, 3), name="ks")
    with pytest.raises(
        ValueError, match="Layer chan: the channel dimension of the inputs should be defined"
    ):
        _call(layers.Conv2D(2, 3, name="chan"), (5, 5, None))
