"""Running sums and products, reversal, ranges, top-k membership and unshared convolutions."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np

from kgraph._config import image_data_format
from kgraph.backend._ops import _t, cast
from kgraph.ir import DType, Tensor, Variable, as_dtype, get_default_graph
from kgraph.ir import build as B

__all__ = [
    "cumsum", "cumprod", "reverse", "arange", "in_top_k", "local_conv1d", "local_conv2d",
]  # fmt: skip

_INT_MAX = np.iinfo(np.int64).max


def _axis(x: Tensor, axis: int, fn: str) -> int:
    if not -max(x.ndim, 1) <= axis < max(x.ndim, 1):
        raise ValueError(f"K.{fn}: axis {axis} is out of range for a tensor of shape {x.shape}")
    return int(axis) % max(x.ndim, 1)


def cumsum(x: Any, axis: int = 0) -> Tensor:
    """The running sum of `x` along `axis` (same shape as `x`)."""
    x = _t(x)
    return B.apply1("CumSum", x, axis=_axis(x, axis, "cumsum"))


def _along(x: Tensor, axis: int, values: np.ndarray) -> Tensor:
    """A constant laid along `axis` of `x` (size 1 on every other axis)."""
    shape = [1] * x.ndim
    shape[axis] = values.shape[0]
    return x.graph.constant(values.reshape(shape))


def cumprod(x: Any, axis: int = 0) -> Tensor:
    """The running product of `x` along `axis` (same shape as `x`).

    With a static length n the product is a doubling scan: ceil(log2 n) rounds, each
    multiplying by the tensor shifted by 1, 2, 4, ... places (ones shifted in), which is
    exact and differentiable everywhere. With an unknown length it is
    sign * exp(cumsum(log|x|)), whose gradient is undefined (NaN) where x is 0, as
    TensorFlow's cumprod gradient is.
    """
    x = _t(x)
    axis = _axis(x, axis, "cumprod")
    n = x.shape[axis]
    if n is None:
        return _cumprod_by_logs(x, axis)
    y, shift = x, 1
    while shift < n:
        pads = [0] * (2 * x.ndim)
        pads[axis] = shift
        head = B.apply1("Slice", y, starts=(0,), ends=(n - shift,), axes=(axis,), steps=(1,))
        keep = _along(x, axis, np.arange(n) >= shift)
        y = B.mul(y, B.where(keep, B.apply1("Pad", head, pads=tuple(pads)), 1.0))
        shift *= 2
    return y


def _cumprod_by_logs(x: Tensor, axis: int) -> Tensor:
    negatives = B.apply1("CumSum", B.cast(B.binary("Less", x, 0.0), x.dtype), axis=axis)
    odd = B.sub(negatives, B.mul(B.unary("Floor", B.mul(negatives, 0.5)), 2.0))
    magnitude = B.unary("Exp", B.apply1("CumSum", B.unary("Log", B.unary("Abs", x)), axis=axis))
    return B.mul(B.sub(1.0, B.mul(odd, 2.0)), magnitude)


def reverse(x: Any, axes: int | Sequence[int]) -> Tensor:
    """`x` with the order of its entries reversed along `axes` (an int or a list)."""
    x = _t(x)
    axes = [axes] if isinstance(axes, (int, np.integer)) else list(axes)
    axes = sorted({_axis(x, a, "reverse") for a in axes})
    if not axes:
        return x
    k = len(axes)
    return B.apply1(
        "Slice", x, starts=(-1,) * k, ends=(-_INT_MAX,) * k, axes=tuple(axes), steps=(-1,) * k
    )


def arange(start: Any, stop: Any = None, step: Any = 1, dtype: Any = "int32") -> Tensor:
    """A 1-D tensor of `start, start + step, ...` below `stop` (`range(start)` without stop).

    As Keras 2.0.5 on TensorFlow: a negative `start` without `stop` gives an empty range;
    the values take TensorFlow's type for the arguments (int32 for Python ints, float32
    for floats) and are cast only when `dtype` is not 'int32'.
    """
    start, stop, step = (_t(a) if isinstance(a, Variable) else a for a in (start, stop, step))
    if not any(isinstance(a, Tensor) for a in (start, stop, step)):
        if stop is None and start < 0:
            start = 0
        numbers = [a for a in (start, stop, step) if a is not None]
        kind = np.float32 if any(isinstance(a, (float, np.floating)) for a in numbers) else np.int32
        values = np.arange(start, stop, step) if stop is not None else np.arange(0, start, step)
        out = get_default_graph().constant(values.astype(kind))
    else:
        if stop is None:
            start, stop = 0, start
        like = next(_t(a).dtype for a in (start, stop, step) if isinstance(a, Tensor))
        start, stop, step = (
            B.cast(_t(a), like)
            if isinstance(a, Tensor)
            else get_default_graph().constant(np.asarray(a, like.numpy))
            for a in (start, stop, step)
        )
        out = B.apply1("Range", start, stop, step)
    if str(as_dtype(dtype)) != "int32":
        out = cast(out, dtype)
    return out


def in_top_k(predictions: Any, targets: Any, k: int) -> Tensor:
    """Whether each sample's target class is among its `k` highest predictions.

    As `tf.nn.in_top_k`: classes tied with the target at the boundary count as in the top
    k (the target is in when fewer than k classes score strictly higher), and a row with a
    non-finite prediction or an out-of-range target gives False.

    Args:
        predictions: `(batch, classes)` scores.
        targets: `(batch,)` integer class ids.
        k: how many top classes count.

    Returns:
        A `(batch,)` bool tensor.
    """
    predictions, targets = _t(predictions), _t(targets)
    if predictions.ndim != 2 or targets.ndim != 1:
        raise ValueError(
            f"K.in_top_k expects predictions (batch, classes) and targets (batch,), got "
            f"{predictions.shape} and {targets.shape}"
        )
    g = predictions.graph
    classes = B.dim_size(predictions, [1], DType.int64)
    ids = B.apply1("Range", g.constant(np.int64(0)), classes, g.constant(np.int64(1)))
    hit = B.binary("Equal", B.apply1("Unsqueeze", B.cast(targets, DType.int64), axes=(1,)), ids)
    # Where, not a product with a one-hot row: an infinite score must not turn into NaN.
    picked = B.reduce("ReduceMax", B.where(hit, predictions, -np.inf), [1], keepdims=True)
    higher = B.reduce(
        "ReduceSum", B.cast(B.binary("Greater", predictions, picked), DType.int64), [1]
    )
    top = B.cast(k, DType.int64) if isinstance(k, Tensor) else g.constant(np.int64(k))
    inside = B.binary("Less", higher, top)
    bad = B.binary("Or", B.unary("IsNaN", predictions), B.unary("IsInf", predictions))
    bad = B.binary("Greater", B.reduce("ReduceMax", B.cast(bad, DType.int64), [1]), np.int64(0))
    known = B.binary("Greater", B.reduce("ReduceMax", B.cast(hit, DType.int64), [1]), np.int64(0))
    return B.binary("And", B.binary("And", inside, known), B.unary("Not", bad))


# -- unshared (locally-connected) convolutions -------------------------------------------
def _local_conv(inputs: Any, kernel: Any, kernel_size: Sequence[int], strides: Sequence[int],
                output_shape: Sequence[int], data_format: str | None, fn: str) -> Tensor:  # fmt: skip
    """One Gather with a constant index table unfolds every patch into rows (its gradient is
    a scatter-add); one batched MatMul applies each output position's own kernel."""
    inputs, kernel = _t(inputs), _t(kernel)
    rank = len(output_shape)
    data_format = data_format or image_data_format()
    if data_format not in ("channels_first", "channels_last"):
        raise ValueError(f"K.{fn}: Unknown data_format {data_format!r}")
    if inputs.ndim != rank + 2 or kernel.ndim != 3:
        raise ValueError(
            f"K.{fn} expects a rank-{rank + 2} input and a kernel (positions, features, "
            f"filters), got shapes {inputs.shape} and {kernel.shape}"
        )
    first = data_format == "channels_first"
    spatial = inputs.shape[2:] if first else inputs.shape[1:-1]
    channels = inputs.shape[1] if first else inputs.shape[-1]
    if None in spatial or channels is None:
        raise ValueError(
            f"K.{fn} needs static spatial and channel sizes, got input shape {inputs.shape}"
        )
    positions = list(itertools.product(*(range(n) for n in output_shape)))
    offsets = list(itertools.product(*(range(k) for k in kernel_size)))
    flat = np.ravel_multi_index
    index = np.asarray([
        [flat(tuple(p[d] * strides[d] + o[d] for d in range(rank)), spatial) for o in offsets]
        for p in positions
    ], dtype=np.int64)  # fmt: skip
    if kernel.shape[0] is not None and kernel.shape[0] != len(positions):
        raise ValueError(
            f"K.{fn}: the kernel has {kernel.shape[0]} positions, the output {tuple(output_shape)} "
            f"has {len(positions)}"
        )
    features = index.shape[1] * channels
    if kernel.shape[1] is not None and kernel.shape[1] != features:
        raise ValueError(
            f"K.{fn}: the kernel has {kernel.shape[1]} features per position, patches of "
            f"{tuple(kernel_size)} x {channels} channels have {features}"
        )
    # (positions, batch, channels), then (L, K, batch, channels) patches.
    order = (
        tuple(range(2, rank + 2)) + (0, 1) if first else tuple(range(1, rank + 1)) + (0, rank + 1)
    )
    cells = B.reshape(B.transpose(inputs, order), [int(np.prod(spatial)), -1, channels])
    patches = B.apply1("Gather", cells, inputs.graph.constant(index), axis=0)
    # Keras flattens a patch as (kernel..., channels) for channels_last, (channels, kernel...)
    # for channels_first.
    patches = B.transpose(patches, (0, 2, 3, 1) if first else (0, 2, 1, 3))
    out = B.matmul(B.reshape(patches, [len(positions), -1, features]), kernel)
    filters = kernel.shape[2] if kernel.shape[2] is not None else -1
    out = B.reshape(out, [*output_shape, -1, filters])
    perm = (rank, rank + 1, *range(rank)) if first else (rank, *range(rank), rank + 1)
    return B.transpose(out, perm)


def local_conv1d(inputs: Any, kernel: Any, kernel_size: Sequence[int], strides: Sequence[int],
                 data_format: str | None = None) -> Tensor:  # fmt: skip
    """A 1-D convolution with a separate kernel at every output position ('valid' padding).

    Args:
        inputs: `(batch, steps, input_dim)` (`(batch, input_dim, steps)` for channels_first).
        kernel: `(output_length, kernel_size * input_dim, filters)`.
        kernel_size: a tuple of one int.
        strides: a tuple of one int.
        data_format: 'channels_last' or 'channels_first' (default `image_data_format()`).

    Returns:
        `(batch, output_length, filters)` (`(batch, filters, output_length)` for channels_first).
    """
    kernel = _t(kernel)
    if kernel.shape[0] is None:
        raise ValueError(
            f"K.local_conv1d needs a kernel with a static output length, got {kernel.shape}"
        )
    return _local_conv(inputs, kernel, tuple(kernel_size), tuple(strides), (kernel.shape[0],),
                       data_format, "local_conv1d")  # fmt: skip


def local_conv2d(inputs: Any, kernel: Any, kernel_size: Sequence[int], strides: Sequence[int],
                 output_shape: Sequence[int], data_format: str | None = None) -> Tensor:  # fmt: skip
    """A 2-D convolution with a separate kernel at every output position ('valid' padding).

    Args:
        inputs: `(batch, rows, cols, channels)` or `(batch, channels, rows, cols)`.
        kernel: `(output_rows * output_cols, kh * kw * channels, filters)`, the features of a
            patch ordered (kh, kw, channels) for channels_last, (channels, kh, kw) for
            channels_first.
        kernel_size: `(kh, kw)`.
        strides: `(stride_rows, stride_cols)`.
        output_shape: `(output_rows, output_cols)`.
        data_format: 'channels_last' or 'channels_first' (default `image_data_format()`).

    Returns:
        `(batch, output_rows, output_cols, filters)` or `(batch, filters, output_rows,
        output_cols)`.
    """
    return _local_conv(inputs, kernel, tuple(kernel_size), tuple(strides), tuple(output_shape),
                       data_format, "local_conv2d")  # fmt: skip
