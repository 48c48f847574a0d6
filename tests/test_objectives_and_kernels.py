"""kgraph.objectives (the legacy name of kgraph.losses) and
kgraph.utils.convert_all_kernels_in_model."""

from __future__ import annotations

import numpy as np

from kgraph import losses, objectives
from kgraph.layers import (
    Conv1D,
    Conv2D,
    Conv2DTranspose,
    Conv3D,
    Dense,
    Flatten,
    Input,
    Reshape,
    SeparableConv2D,
    concatenate,
)
from kgraph.models import Model, Sequential
from kgraph.utils import convert_all_kernels_in_model, layer_utils

CONVS = ("Conv1D", "Conv2D", "Conv3D", "Conv2DTranspose")


def test_objectives_is_the_losses_module():
    for name in losses.__all__:
        assert getattr(objectives, name) is getattr(losses, name)
    # Keras's star import also brought the short aliases
    assert objectives.mse is losses.mean_squared_error
    assert objectives.KLD is losses.kullback_leibler_divergence
    assert objectives.get("categorical_crossentropy") is losses.categorical_crossentropy
    namespace: dict = {}
    exec("from kgraph.objectives import *", namespace)
    assert namespace["mae"] is losses.mean_absolute_error
    assert "K" not in namespace


def _functional():
    a = Input((6, 6, 2))
    b = Input((4, 4, 4, 1))
    x = Conv2D(3, (3, 2), padding="same")(a)
    x = Conv2DTranspose(2, (2, 3))(x)
    x = SeparableConv2D(2, (3, 3))(x)
    y = Conv3D(2, (2, 3, 2))(b)
    seq = Sequential([Reshape((6, 1), input_shape=(6,)), Conv1D(2, 3), Flatten()])
    z = seq(Dense(6)(concatenate([Flatten()(x), Flatten()(y)])))
    return Model([a, b], Dense(2)(z))


def _inputs():
    rng = np.random.RandomState(1)
    return [rng.randn(3, 6, 6, 2).astype("float32"), rng.randn(3, 4, 4, 4, 1).astype("float32")]


def _all_layers(model):
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):
            yield from _all_layers(layer)


def test_kernels_flip_once_and_restore_twice():
    model = _functional()
    before = {id(layer): layer.get_weights() for layer in _all_layers(model)}
    convert_all_kernels_in_model(model)
    seen = set()
    for layer in _all_layers(model):
        old, new = before[id(layer)], layer.get_weights()
        if type(layer).__name__ in CONVS:
            seen.add(type(layer).__name__)
            kernel = old[0]
            spatial = (slice(None, None, -1),) * (kernel.ndim - 2)
            np.testing.assert_array_equal(new[0], kernel[spatial])
            assert not np.array_equal(new[0], kernel)
            np.testing.assert_array_equal(new[1], old[1])  # biases are left alone
        elif not hasattr(layer, "layers"):  # Dense, SeparableConv2D (as in Keras 2.0.5)
            for a, b in zip(old, new, strict=True):
                np.testing.assert_array_equal(a, b)
    assert seen == set(CONVS)  # including the Conv1D of the nested Sequential
    convert_all_kernels_in_model(model)
    for layer in _all_layers(model):
        for a, b in zip(before[id(layer)], layer.get_weights(), strict=True):
            np.testing.assert_array_equal(a, b)


def test_converted_model_predicts_as_one_flipped_by_hand():
    model = _functional()
    x = _inputs()
    original = model.predict(x)  # compiles and runs with the unconverted kernels first
    reference = _functional()
    for src, dst in zip(_all_layers(model), _all_layers(reference), strict=True):
        if hasattr(src, "layers"):
            continue
        weights = src.get_weights()
        if type(src).__name__ in CONVS:
            k = weights[0]
            weights[0] = k[(slice(None, None, -1),) * (k.ndim - 2)]
        dst.set_weights(weights)
    convert_all_kernels_in_model(model)
    converted = model.predict(x)
    np.testing.assert_allclose(converted, reference.predict(x), rtol=1e-5, atol=1e-6)
    assert not np.allclose(converted, original)
    convert_all_kernels_in_model(model)
    np.testing.assert_allclose(model.predict(x), original, rtol=1e-5, atol=1e-6)


def test_conv_layers_walks_nested_models_only():
    inner = Sequential([Conv1D(2, 3, input_shape=(5, 1))])
    outer = Sequential([inner, Flatten(), Dense(1)])
    assert layer_utils._conv_layers(outer) == [inner.layers[0]]
    assert layer_utils._conv_layers(Sequential([Dense(1, input_dim=2)])) == []
