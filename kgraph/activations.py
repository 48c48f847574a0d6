"""Activation functions (Keras 2 names), written with backend ops."""

from __future__ import annotations

from typing import Any

from kgraph import backend as K
from kgraph.utils.generic_utils import deserialize_keras_object

__all__ = [
    "softmax", "elu", "selu", "softplus", "softsign", "relu", "tanh", "sigmoid",
    "hard_sigmoid", "linear", "get", "serialize", "deserialize",
]  # fmt: skip


def softmax(x: Any, axis: int = -1):
    """Softmax along `axis`; a 1-D input is an error, as in Keras."""
    if K.ndim(x) == 1:
        raise ValueError("Cannot apply softmax to a tensor that is 1D")
    return K.softmax(x, axis=axis)


def elu(x: Any, alpha: float = 1.0):
    return K.elu(x, alpha)


def selu(x: Any):
    return K.selu(x)


def softplus(x: Any):
    return K.softplus(x)


def softsign(x: Any):
    return K.softsign(x)


def relu(x: Any, alpha: float = 0.0, max_value: float | None = None):
    return K.relu(x, alpha=alpha, max_value=max_value)


def tanh(x: Any):
    return K.tanh(x)


def sigmoid(x: Any):
    return K.sigmoid(x)


def hard_sigmoid(x: Any):
    return K.hard_sigmoid(x)


def linear(x: Any):
    return x


_ALL = {
    f.__name__: f
    for f in (softmax, elu, selu, softplus, softsign, relu, tanh, sigmoid, hard_sigmoid, linear)
}


def serialize(activation: Any) -> str:
    return activation.__name__


def deserialize(name: Any, custom_objects: dict | None = None):
    return deserialize_keras_object(name, _ALL, custom_objects, "activation function")


def get(identifier: Any):
    """None -> linear; a name -> the function; a callable is returned as is."""
    if identifier is None:
        return linear
    if isinstance(identifier, str):
        return deserialize(identifier)
    if callable(identifier):
        return identifier
    raise ValueError(f"Could not interpret activation function identifier: {identifier!r}")
