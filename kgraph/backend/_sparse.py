"""Sparse tensors: the (indices, values, dense_shape) triple that `ctc_label_dense_to_sparse`
returns, and `is_sparse` / `to_dense`.

Graph inputs are always dense (a sparse placeholder is refused); a sparse tensor only
arises inside a graph and becomes dense through `to_dense`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from kgraph.ir import Tensor
from kgraph.ir import build as B

__all__ = ["SparseTensor", "is_sparse", "to_dense"]


@dataclass(frozen=True)
class SparseTensor:
    """TensorFlow's SparseTensor: `indices` (N, rank) int64 in row-major order, `values`
    (N,), `dense_shape` (rank,) int64; the entries not listed are 0."""

    indices: Tensor
    values: Tensor
    dense_shape: Tensor

    @property
    def dtype(self):
        return self.values.dtype


def is_sparse(tensor: Any) -> bool:
    """Whether `tensor` is a `SparseTensor`."""
    return isinstance(tensor, SparseTensor)


def to_dense(tensor: Any) -> Any:
    """The dense form of a sparse tensor (zeros where no entry is listed); any other tensor
    is returned as it is."""
    if not is_sparse(tensor):
        return tensor
    zeros = B.apply1(
        "ConstantOfShape", tensor.dense_shape, value=np.zeros((), tensor.values.dtype.numpy)
    )
    return B.apply1("ScatterND", zeros, tensor.indices, tensor.values)
