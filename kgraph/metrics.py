"""Keras 2 metrics: accuracies plus every loss except categorical_hinge."""

from __future__ import annotations

from typing import Any

import numpy as np

from kgraph import backend as K
from kgraph import losses as _losses
from kgraph.ir import DType
from kgraph.ir import build as B
from kgraph.utils.generic_utils import deserialize_keras_object

__all__ = [
    "binary_accuracy", "categorical_accuracy", "sparse_categorical_accuracy",
    "top_k_categorical_accuracy", "sparse_top_k_categorical_accuracy", "get", "serialize",
    "deserialize",
]  # fmt: skip


def binary_accuracy(y_true, y_pred):
    # Round half to even, as Keras (0.5 counts as class 0).
    return K.mean(K.equal(y_true, K.round(y_pred)), axis=-1)


def categorical_accuracy(y_true, y_pred):
    return K.cast(K.equal(K.argmax(y_true, axis=-1), K.argmax(y_pred, axis=-1)), K.floatx())


def sparse_categorical_accuracy(y_true, y_pred):
    # Keras 2.0.5 compares the float label with the float argmax (1.5 never matches).
    predicted = K.cast(K.argmax(y_pred, axis=-1), K.floatx())
    return K.cast(K.equal(K.max(y_true, axis=-1), predicted), K.floatx())


def _in_top_k(y_pred, labels, k: int):
    """`tf.nn.in_top_k`: the label's class is in the top k when fewer than k classes score
    strictly higher (ties at the boundary count as in). Works for any number of classes."""
    g = y_pred.graph
    classes = B.dim_size(y_pred, [y_pred.ndim - 1], DType.int64)
    ids = B.apply1("Range", g.constant(np.int64(0)), classes, g.constant(np.int64(1)))
    hit = K.equal(K.expand_dims(labels, -1), ids)
    # Where, not a product with a one-hot row: an infinite score must not turn into NaN.
    picked = K.max(K.switch(hit, y_pred, -np.inf), axis=-1, keepdims=True)
    higher = K.sum(K.cast(K.greater(y_pred, picked), K.floatx()), axis=-1)
    return K.cast(K.less(higher, float(k)), K.floatx())


def _batch_mean(hits):
    # Keras 2.0.5 returns K.mean(in_top_k(...), axis=-1): for 2-D predictions (the only
    # kind its in_top_k takes) the batch mean. Higher ranks keep one value per position,
    # so an output mask can weight them.
    return K.mean(hits, axis=-1) if K.ndim(hits) == 1 else hits


def top_k_categorical_accuracy(y_true, y_pred, k: int = 5):
    return _batch_mean(_in_top_k(y_pred, K.argmax(y_true, axis=-1), k))


def sparse_top_k_categorical_accuracy(y_true, y_pred, k: int = 5):
    labels = K.cast(K.max(y_true, axis=-1), "int64")
    return _batch_mean(_in_top_k(y_pred, labels, k))


mean_squared_error = mse = MSE = _losses.mean_squared_error
mean_absolute_error = mae = MAE = _losses.mean_absolute_error
mean_absolute_percentage_error = mape = MAPE = _losses.mean_absolute_percentage_error
mean_squared_logarithmic_error = msle = MSLE = _losses.mean_squared_logarithmic_error
hinge = _losses.hinge
squared_hinge = _losses.squared_hinge
logcosh = _losses.logcosh
categorical_crossentropy = _losses.categorical_crossentropy
sparse_categorical_crossentropy = _losses.sparse_categorical_crossentropy
binary_crossentropy = _losses.binary_crossentropy
kullback_leibler_divergence = _losses.kullback_leibler_divergence
poisson = _losses.poisson
cosine_proximity = cosine = _losses.cosine_proximity

ALL = {
    f.__name__: f
    for f in (
        binary_accuracy, categorical_accuracy, sparse_categorical_accuracy,
        top_k_categorical_accuracy, sparse_top_k_categorical_accuracy, mean_squared_error,
        mean_absolute_error, mean_absolute_percentage_error, mean_squared_logarithmic_error,
        hinge, squared_hinge, logcosh, categorical_crossentropy,
        sparse_categorical_crossentropy, binary_crossentropy, kullback_leibler_divergence,
        poisson, cosine_proximity,
    )
}  # fmt: skip
ALL.update(mse=mse, MSE=mse, mae=mae, MAE=mae, mape=mape, MAPE=mape, msle=msle, MSLE=msle,
           cosine=cosine)  # fmt: skip


def serialize(metric: Any) -> str:
    return metric.__name__


def deserialize(name: Any, custom_objects: dict | None = None):
    return deserialize_keras_object(name, ALL, custom_objects, "metric function")


def get(identifier: Any):
    if isinstance(identifier, str):
        if identifier in ("acc", "accuracy"):
            raise ValueError("'acc'/'accuracy' are resolved by Model.compile for each output")
        return deserialize(identifier)
    if callable(identifier):
        return identifier
    raise ValueError(f"Could not interpret metric function identifier: {identifier!r}")
