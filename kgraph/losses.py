"""Keras 2 losses: `fn(y_true, y_pred)` reducing over the last axis only."""

from __future__ import annotations

from typing import Any

from kgraph import backend as K
from kgraph.utils.generic_utils import deserialize_keras_object

__all__ = [
    "mean_squared_error", "mean_absolute_error", "mean_absolute_percentage_error",
    "mean_squared_logarithmic_error", "squared_hinge", "hinge", "categorical_hinge",
    "logcosh", "categorical_crossentropy", "sparse_categorical_crossentropy",
    "binary_crossentropy", "kullback_leibler_divergence", "poisson", "cosine_proximity",
    "get", "serialize", "deserialize",
]  # fmt: skip


def mean_squared_error(y_true, y_pred):
    return K.mean(K.square(y_pred - y_true), axis=-1)


def mean_absolute_error(y_true, y_pred):
    return K.mean(K.abs(y_pred - y_true), axis=-1)


def mean_absolute_percentage_error(y_true, y_pred):
    diff = K.abs((y_true - y_pred) / K.clip(K.abs(y_true), K.epsilon(), None))
    return 100.0 * K.mean(diff, axis=-1)


def mean_squared_logarithmic_error(y_true, y_pred):
    first = K.log(K.clip(y_pred, K.epsilon(), None) + 1.0)
    second = K.log(K.clip(y_true, K.epsilon(), None) + 1.0)
    return K.mean(K.square(first - second), axis=-1)


def squared_hinge(y_true, y_pred):
    return K.mean(K.square(K.maximum(1.0 - y_true * y_pred, 0.0)), axis=-1)


def hinge(y_true, y_pred):
    return K.mean(K.maximum(1.0 - y_true * y_pred, 0.0), axis=-1)


def categorical_hinge(y_true, y_pred):
    pos = K.sum(y_true * y_pred, axis=-1)
    neg = K.max((1.0 - y_true) * y_pred, axis=-1)
    return K.maximum(0.0, neg - pos + 1.0)


def logcosh(y_true, y_pred):
    # log(cosh(x)) = |x| + log(1 + e^{-2|x|}) - log 2, without overflow.
    x = K.abs(y_pred - y_true)
    return K.mean(x + K.log(1.0 + K.exp(-2.0 * x)) - 0.6931471805599453, axis=-1)


def categorical_crossentropy(y_true, y_pred):
    return K.categorical_crossentropy(y_pred, y_true)


def sparse_categorical_crossentropy(y_true, y_pred):
    return K.sparse_categorical_crossentropy(y_pred, y_true)


def binary_crossentropy(y_true, y_pred):
    return K.mean(K.binary_crossentropy(y_pred, y_true), axis=-1)


def kullback_leibler_divergence(y_true, y_pred):
    y_true = K.clip(y_true, K.epsilon(), 1)
    y_pred = K.clip(y_pred, K.epsilon(), 1)
    return K.sum(y_true * K.log(y_true / y_pred), axis=-1)


def poisson(y_true, y_pred):
    return K.mean(y_pred - y_true * K.log(y_pred + K.epsilon()), axis=-1)


def cosine_proximity(y_true, y_pred):
    y_true = K.l2_normalize(y_true, axis=-1)
    y_pred = K.l2_normalize(y_pred, axis=-1)
    return -K.mean(y_true * y_pred, axis=-1)


mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
mape = MAPE = mean_absolute_percentage_error
msle = MSLE = mean_squared_logarithmic_error
kld = KLD = kullback_leibler_divergence
cosine = cosine_proximity

_FUNCTIONS = (
    mean_squared_error, mean_absolute_error, mean_absolute_percentage_error,
    mean_squared_logarithmic_error, squared_hinge, hinge, categorical_hinge, logcosh,
    categorical_crossentropy, sparse_categorical_crossentropy, binary_crossentropy,
    kullback_leibler_divergence, poisson, cosine_proximity,
)  # fmt: skip
ALL = {f.__name__: f for f in _FUNCTIONS}
ALL.update(mse=mse, MSE=mse, mae=mae, MAE=mae, mape=mape, MAPE=mape, msle=msle, MSLE=msle,
           kld=kld, KLD=kld, cosine=cosine)  # fmt: skip


def serialize(loss: Any) -> str:
    return loss.__name__


def deserialize(name: Any, custom_objects: dict | None = None):
    return deserialize_keras_object(name, ALL, custom_objects, "loss function")


def get(identifier: Any):
    if identifier is None:
        return None
    if isinstance(identifier, str):
        return deserialize(identifier)
    if callable(identifier):
        return identifier
    raise ValueError(f"Could not interpret loss function identifier: {identifier!r}")
