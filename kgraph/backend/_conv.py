"""Convolution, pooling, padding and resizing in Keras 2's backend vocabulary.

Tensors keep Keras's layout (`data_format`); kernels keep Keras's (*kernel, in, out). The
IR ops are ONNX's channels-first Conv/ConvTranspose/MaxPool/AveragePool, so channels-last
tensors are transposed around them and kernels are transposed into ONNX's (out, in, *kernel).
Keras's 'same' padding (TensorFlow's SAME: the extra cell at the end) becomes explicit pads,
or ONNX's auto_pad=SAME_UPPER (the same cells) when a strided axis has no static size, so
such models predict and train at any size (the gradient pads at run time).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from kgraph.backend._ops import _t
from kgraph.ir import Tensor
from kgraph.ir import build as B
from kgraph.ir.ops.conv import same_pads
from kgraph.utils.conv_utils import normalize_data_format, normalize_padding, normalize_tuple

__all__ = [
    "conv1d", "conv2d", "conv3d", "conv2d_transpose", "separable_conv2d", "pool2d", "pool3d",
    "bias_add", "temporal_padding", "spatial_2d_padding", "spatial_3d_padding",
    "resize_images", "resize_volumes", "repeat_elements",
]  # fmt: skip


# -- layout ------------------------------------------------------------------------------
def _to_first(x: Tensor, data_format: str) -> Tensor:
    if data_format == "channels_first":
        return x
    return B.transpose(x, (0, x.ndim - 1) + tuple(range(1, x.ndim - 1)))


def _from_first(y: Tensor, data_format: str) -> Tensor:
    if data_format == "channels_first":
        return y
    return B.transpose(y, (0,) + tuple(range(2, y.ndim)) + (1,))


def _onnx_kernel(kernel: Tensor) -> Tensor:
    """(*kernel, a, b) -> (b, a, *kernel): Keras's HWIO as ONNX's OIHW (and HWOI as IOHW)."""
    r = kernel.ndim - 2
    return B.transpose(kernel, (r + 1, r) + tuple(range(r)))


def _check_rank(x: Tensor, rank: int, fn: str) -> None:
    if x.ndim != rank + 2:
        raise ValueError(
            f"{fn} expects a rank-{rank + 2} input (batch, {rank} spatial axes, channels), got shape {x.shape}"
        )


def _pads(spatial: Sequence[int | None], kernel: Sequence[int], strides: Sequence[int],
          dilations: Sequence[int], padding: str) -> dict[str, Any]:  # fmt: skip
    """The ONNX padding attributes for Keras's 'valid' or 'same': explicit pads (begins, then
    ends), or auto_pad SAME_UPPER when a strided axis has a size known only at run time."""
    n = len(kernel)
    if padding == "valid":
        return {"pads": (0,) * (2 * n)}
    if any(d is None and s > 1 for d, s in zip(spatial, strides, strict=True)):
        return {"auto_pad": "SAME_UPPER"}  # the same cells, placed by the runtime
    pairs = [same_pads(d or 1, k, s, dl) for d, k, s, dl in zip(spatial, kernel, strides, dilations, strict=True)]
    return {"pads": tuple(p[0] for p in pairs) + tuple(p[1] for p in pairs)}


# -- convolution -------------------------------------------------------------------------
def convolve(x: Any, kernel: Any, bias: Any = None, strides: Sequence[int] = (1, 1),
             padding: str = "valid", data_format: str | None = None,
             dilation_rate: Sequence[int] = (1, 1)) -> Tensor:  # fmt: skip
    """An N-d convolution with an optional bias folded into the Conv op (rank from the kernel)."""
    x, kernel = _t(x), _t(kernel)
    rank = kernel.ndim - 2
    data_format = normalize_data_format(data_format)
    padding = normalize_padding(padding)
    strides = normalize_tuple(strides, rank, "strides")
    dilations = normalize_tuple(dilation_rate, rank, "dilation_rate")
    _check_rank(x, rank, f"conv{rank}d")
    xf = _to_first(x, data_format)
    ksize = tuple(kernel.shape[:rank])
    if padding == "causal":
        if rank != 1:
            raise ValueError("padding='causal' is only for 1D convolutions")
        padded = {"pads": (dilations[0] * (ksize[0] - 1), 0)}
    else:
        padded = _pads(xf.shape[2:], ksize, strides, dilations, padding)
    inputs = [xf, _onnx_kernel(kernel)] + ([_t(bias)] if bias is not None else [])
    y = B.apply1("Conv", *inputs, kernel_shape=ksize, strides=strides, dilations=dilations, **padded)
    return _from_first(y, data_format)


def conv1d(x: Any, kernel: Any, strides: int = 1, padding: str = "valid",
           data_format: str | None = None, dilation_rate: int = 1) -> Tensor:  # fmt: skip
    """1D convolution of (batch, steps, channels) with a (k, in, out) kernel; 'causal' pads left."""
    return convolve(
        x, kernel, None, strides, padding, data_format or "channels_last", dilation_rate
    )


def conv2d(x: Any, kernel: Any, strides: Sequence[int] = (1, 1), padding: str = "valid",
           data_format: str | None = None, dilation_rate: Sequence[int] = (1, 1)) -> Tensor:  # fmt: skip
    """2D convolution with a (kh, kw, in, out) kernel."""
    return convolve(x, kernel, None, strides, padding, data_format, dilation_rate)


def conv3d(x: Any, kernel: Any, strides: Sequence[int] = (1, 1, 1), padding: str = "valid",
           data_format: str | None = None, dilation_rate: Sequence[int] = (1, 1, 1)) -> Tensor:  # fmt: skip
    """3D convolution with a (k1, k2, k3, in, out) kernel."""
    return convolve(x, kernel, None, strides, padding, data_format, dilation_rate)


def conv2d_transpose(x: Any, kernel: Any, output_shape: Sequence[int | None],
                     strides: Sequence[int] = (1, 1), padding: str = "valid",
                     data_format: str | None = None, bias: Any = None) -> Tensor:  # fmt: skip
    """Transposed 2D convolution (the gradient of conv2d) with a (kh, kw, out, in) kernel.

    `output_shape` is the full output shape in `data_format`; its spatial sizes fix the
    output padding, as in TensorFlow.
    """
    x, kernel = _t(x), _t(kernel)
    data_format = normalize_data_format(data_format)
    padding = normalize_padding(padding)
    strides = normalize_tuple(strides, 2, "strides")
    _check_rank(x, 2, "conv2d_transpose")
    xf = _to_first(x, data_format)
    out = list(output_shape)
    out_spatial = out[2:] if data_format == "channels_first" else out[1:-1]
    ksize = tuple(kernel.shape[:2])
    pads_b, pads_e, extra = [], [], []
    for i, (size, k, s) in enumerate(zip(xf.shape[2:], ksize, strides, strict=True)):
        want = out_spatial[i]
        # The conv whose gradient this is pads a `want`-long input: SAME pads max(k - s, 0)
        # when want = size * s (Keras's own output length), whatever `size` is.
        total = 0
        if padding == "same":
            total = max(k - s, 0) if want is None else sum(same_pads(want, k, s))
        gap = max(s - k, 0) if want is None or size is None else want - ((size - 1) * s + k - total)
        if not 0 <= gap < s:
            raise ValueError(
                f"conv2d_transpose cannot produce spatial size {want} from {size} with stride {s}"
            )
        pads_b.append(total // 2)
        pads_e.append(total - total // 2)
        extra.append(gap)
    inputs = [xf, _onnx_kernel(kernel)] + ([_t(bias)] if bias is not None else [])
    y = B.apply1("ConvTranspose", *inputs, kernel_shape=ksize, strides=strides,
                 pads=tuple(pads_b + pads_e), output_padding=tuple(extra))  # fmt: skip
    return _from_first(y, data_format)


def separable_conv2d(x: Any, depthwise_kernel: Any, pointwise_kernel: Any,
                     strides: Sequence[int] = (1, 1), padding: str = "valid",
                     data_format: str | None = None, dilation_rate: Sequence[int] = (1, 1),
                     bias: Any = None) -> Tensor:  # fmt: skip
    """A depthwise conv (kh, kw, in, multiplier) then a 1x1 pointwise conv (1, 1, in*mult, out)."""
    x, depthwise_kernel, pointwise_kernel = _t(x), _t(depthwise_kernel), _t(pointwise_kernel)
    data_format = normalize_data_format(data_format)
    padding = normalize_padding(padding)
    strides = normalize_tuple(strides, 2, "strides")
    dilations = normalize_tuple(dilation_rate, 2, "dilation_rate")
    _check_rank(x, 2, "separable_conv2d")
    xf = _to_first(x, data_format)
    kh, kw, cin, mult = depthwise_kernel.shape
    # (kh, kw, C, M) -> (kh, kw, 1, C*M): output channel c*M + m, TensorFlow's order.
    depthwise = _onnx_kernel(B.reshape(depthwise_kernel, [kh, kw, 1, cin * mult]))
    padded = _pads(xf.shape[2:], (kh, kw), strides, dilations, padding)
    mid = B.apply1("Conv", xf, depthwise, group=cin, kernel_shape=(kh, kw), strides=strides,
                   dilations=dilations, **padded)  # fmt: skip
    inputs = [mid, _onnx_kernel(pointwise_kernel)] + ([_t(bias)] if bias is not None else [])
    y = B.apply1("Conv", *inputs, kernel_shape=(1, 1))
    return _from_first(y, data_format)


def bias_add(x: Any, bias: Any, data_format: str | None = None) -> Tensor:
    """Adds a per-channel bias (shape (channels,)) along the channel axis of `data_format`."""
    x, bias = _t(x), _t(bias)
    data_format = normalize_data_format(data_format)
    if bias.ndim != 1 and bias.ndim != x.ndim - 1:
        raise ValueError(
            f"Unexpected bias dimensions {bias.ndim}, expected 1 or {x.ndim - 1} dimensions"
        )
    if data_format == "channels_first" and x.ndim > 2:
        if bias.ndim == 1:
            bias = B.reshape(bias, [1, -1] + [1] * (x.ndim - 2))
        else:
            bias = B.apply1(
                "Unsqueeze",
                B.transpose(bias, (bias.ndim - 1,) + tuple(range(bias.ndim - 1))),
                axes=(0,),
            )
    return B.add(x, bias)


# -- pooling -----------------------------------------------------------------------------
def pool(x: Any, pool_size: Sequence[int], strides: Sequence[int], padding: str = "valid",
         data_format: str | None = None, pool_mode: str = "max") -> Tensor:  # fmt: skip
    """N-d max or average pooling; 'same' average pooling leaves padded cells out of the mean."""
    x = _t(x)
    rank = x.ndim - 2
    data_format = normalize_data_format(data_format)
    padding = normalize_padding(padding)
    pool_size = normalize_tuple(pool_size, rank, "pool_size")
    strides = normalize_tuple(strides, rank, "strides")
    if padding == "causal":
        raise ValueError("pooling padding must be 'valid' or 'same', not 'causal'")
    xf = _to_first(x, data_format)
    geometry = {"kernel_shape": pool_size, "strides": strides,
                **_pads(xf.shape[2:], pool_size, strides, (1,) * rank, padding)}  # fmt: skip
    if pool_mode == "max":
        y = B.apply1("MaxPool", xf, **geometry)
    elif pool_mode == "avg":
        y = B.apply1("AveragePool", xf, count_include_pad=0, **geometry)
    else:
        raise ValueError(f"Invalid pooling mode: {pool_mode!r}; valid choices: 'max', 'avg'")
    return _from_first(y, data_format)


def pool2d(x: Any, pool_size: Sequence[int], strides: Sequence[int] = (1, 1), padding: str = "valid",
           data_format: str | None = None, pool_mode: str = "max") -> Tensor:  # fmt: skip
    """2D pooling of a rank-4 tensor."""
    _check_rank(_t(x), 2, "pool2d")
    return pool(x, pool_size, strides, padding, data_format, pool_mode)


def pool3d(x: Any, pool_size: Sequence[int], strides: Sequence[int] = (1, 1, 1), padding: str = "valid",
           data_format: str | None = None, pool_mode: str = "max") -> Tensor:  # fmt: skip
    """3D pooling of a rank-5 tensor."""
    _check_rank(_t(x), 3, "pool3d")
    return pool(x, pool_size, strides, padding, data_format, pool_mode)


# -- padding and resizing ----------------------------------------------------------------
def _pad_spatial(x: Tensor, pairs: Sequence[Sequence[int]], data_format: str) -> Tensor:
    first = 2 if data_format == "channels_first" else 1
    begins, ends = [0] * x.ndim, [0] * x.ndim
    for i, (lo, hi) in enumerate(pairs):
        begins[first + i], ends[first + i] = int(lo), int(hi)
    return B.apply1("Pad", x, pads=tuple(begins + ends))


def temporal_padding(x: Any, padding: Sequence[int] = (1, 1)) -> Tensor:
    """Zero-pads the middle axis of a (batch, steps, features) tensor."""
    return _pad_spatial(_t(x), [padding], "channels_last")


def spatial_2d_padding(x: Any, padding: Sequence[Sequence[int]] = ((1, 1), (1, 1)),
                       data_format: str | None = None) -> Tensor:  # fmt: skip
    """Zero-pads the two spatial axes: ((top, bottom), (left, right))."""
    return _pad_spatial(_t(x), padding, normalize_data_format(data_format))


def spatial_3d_padding(x: Any, padding: Sequence[Sequence[int]] = ((1, 1), (1, 1), (1, 1)),
                       data_format: str | None = None) -> Tensor:  # fmt: skip
    """Zero-pads the three spatial axes."""
    return _pad_spatial(_t(x), padding, normalize_data_format(data_format))


def repeat_elements(x: Any, rep: int, axis: int) -> Tensor:
    """Repeats each element `rep` times along `axis` (like `np.repeat`)."""
    x = _t(x)
    axis = axis % x.ndim
    expanded = B.apply1("Unsqueeze", x, axes=(axis + 1,))
    tiled = B.apply1(
        "Expand",
        expanded,
        x.graph.constant(
            np.asarray([1] * (axis + 1) + [rep] + [1] * (x.ndim - axis - 1), np.int64)
        ),
    )
    size, rest = x.shape[axis], x.shape[axis + 1 :]
    if None not in rest:
        return B.reshape(tiled, [0] * axis + [-1 if size is None else size * rep] + list(rest))
    factor = np.ones(x.ndim, np.int64)
    factor[axis] = rep
    return B.reshape(tiled, B.mul(B.apply1("Shape", x), x.graph.constant(factor)))


def resize_images(
    x: Any, height_factor: int, width_factor: int, data_format: str | None = None
) -> Tensor:
    """Nearest-neighbour upsampling of the two spatial axes by integer factors."""
    x = _t(x)
    first = 2 if normalize_data_format(data_format) == "channels_first" else 1
    return repeat_elements(repeat_elements(x, height_factor, first), width_factor, first + 1)


def resize_volumes(x: Any, depth_factor: int, height_factor: int, width_factor: int,
                   data_format: str | None = None) -> Tensor:  # fmt: skip
    """Nearest-neighbour upsampling of the three spatial axes by integer factors."""
    x = _t(x)
    first = 2 if normalize_data_format(data_format) == "channels_first" else 1
    for i, factor in enumerate((depth_factor, height_factor, width_factor)):
        x = repeat_elements(x, factor, first + i)
    return x
