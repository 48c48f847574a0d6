"""Numpy helpers of the Keras API: one-hot encoding and normalization."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["normalize", "to_categorical"]


def to_categorical(y: Any, num_classes: int | None = None) -> np.ndarray:
    """Converts a class vector of integers to a one-hot matrix.

    Args:
        y: class indices from 0 to `num_classes - 1`, any shape (it is flattened).
        num_classes: the number of classes; `max(y) + 1` when None or 0.

    Returns:
        A 2-D float64 array of shape `(y.size, num_classes)`, as Keras 2.0.5 returns
        (the input's shape is not kept).

    Example:
        ```python
        to_categorical([0, 2], 3)
        # array([[1., 0., 0.],
        #        [0., 0., 1.]])
        ```
    """
    y = np.array(y, dtype="int").ravel()
    if not num_classes:
        num_classes = int(np.max(y)) + 1
    n = y.shape[0]
    categorical = np.zeros((n, num_classes))
    categorical[np.arange(n), y] = 1
    return categorical


def normalize(x: Any, axis: int = -1, order: int = 2) -> np.ndarray:
    """Normalizes an array to unit norm along an axis.

    Args:
        x: the array.
        axis: the axis to normalize along.
        order: the norm's order (2 for L2), as `np.linalg.norm` takes it.

    Returns:
        `x / norm(x)`; where the norm is zero the values are left as they are.
    """
    x = np.asarray(x)
    norms = np.atleast_1d(np.linalg.norm(x, order, axis))
    norms[norms == 0] = 1
    return x / np.expand_dims(norms, axis)
