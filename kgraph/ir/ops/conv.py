"""Convolution and pooling over channels-first tensors: Conv, ConvTranspose, MaxPool, AveragePool.

Layouts follow ONNX: inputs are (N, C, *spatial); Conv weights are (out, in/group, *kernel),
ConvTranspose weights (in, out, *kernel). Producers give explicit `pads` (begin values, then
end values), so padding is exact and the gradients can reuse it; `auto_pad` is understood
for imported graphs.

Gradients, measured on onnxruntime's CPU kernels (the choices matter for training speed):
- Conv input: `ConvTranspose` of the cotangent with the same geometry, `output_padding`
  taking up the rows a strided window never reached.
- Conv weight: im2col as one grouped Conv with one-hot kernels (patches (N, C*K, P)), then a
  batched MatMul with the cotangent summed over the batch. On the reference CNN's layers
  (batch 128) it beats a Conv with the batch as channels by 3-4x and Slice+Concat im2col
  with one Gemm by 2-7x.
- MaxPool: a second MaxPool that also returns Indices; a tie goes to the first maximum, as
  in TensorFlow. Disjoint windows (stride >= kernel, the Keras default) spread the
  cotangent with MaxUnpool: 1.1 ms against 4-6 ms for ScatterND on the reference CNN's
  pool. Overlapping windows need ScatterND(reduction="add") into a flat zero tensor, which
  sums the cells two windows share. (Equality masks over reshaped windows, and
  SpaceToDepth/DepthToSpace planes, measured 2-5x slower.)
- AveragePool: the cotangent divided by each window's cell count, spread back by a
  ConvTranspose with a ones kernel over (N*C, 1, *spatial).
- auto_pad SAME over sizes known only at run time (Keras's strided 'same' on an input of
  unknown size): ConvTranspose takes only static pads, so the Conv and AveragePool
  gradients pad the input with zeros sized from its runtime shape, differentiate the
  unpadded op, and gather the gradient's rows back out of the padding.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from kgraph.ir import build as B
from kgraph.ir.dtypes import DType
from kgraph.ir.errors import LoweringError, ShapeError
from kgraph.ir.ops._rules import same_dtype
from kgraph.ir.ops.registry import register
from kgraph.ir.spec import TensorSpec

__all__ = ["same_pads", "conv_weight_grad"]


# -- geometry ----------------------------------------------------------------------------
def same_pads(
    length: int, kernel: int, stride: int, dilation: int = 1, upper: bool = True
) -> tuple[int, int]:
    """TensorFlow's SAME padding (the extra cell at the end) for one spatial axis."""
    dk = (kernel - 1) * dilation + 1
    out = -(-length // stride)
    total = max((out - 1) * stride + dk - length, 0)
    small = total // 2
    return (small, total - small) if upper else (total - small, small)


def _geometry(
    spatial: Sequence[int | None], kernel: Sequence[int], attrs
) -> tuple[tuple, tuple, tuple | None]:
    """(strides, dilations, pads) with ONNX defaults; pads None when auto_pad needs unknown dims."""
    n = len(kernel)
    strides = tuple(attrs.get("strides") or (1,) * n)
    dilations = tuple(attrs.get("dilations") or (1,) * n)
    if len(strides) != n or len(dilations) != n:
        raise ShapeError(f"strides {strides} and dilations {dilations} need {n} values each")
    if min(strides) < 1 or min(dilations) < 1:
        raise ShapeError(f"strides {strides} and dilations {dilations} must be positive")
    auto = attrs.get("auto_pad", "NOTSET")
    if auto in ("NOTSET", None):
        pads = tuple(attrs.get("pads") or (0,) * (2 * n))
        if len(pads) != 2 * n or min(pads) < 0:
            raise ShapeError(f"pads {pads} needs {2 * n} non-negative values")
    elif auto == "VALID":
        pads = (0,) * (2 * n)
    elif auto in ("SAME_UPPER", "SAME_LOWER"):
        if any(d is None for d in spatial):
            return strides, dilations, None
        pairs = [
            same_pads(d, k, s, dl, auto == "SAME_UPPER")
            for d, k, s, dl in zip(spatial, kernel, strides, dilations, strict=True)
        ]
        pads = tuple(p[0] for p in pairs) + tuple(p[1] for p in pairs)
    else:
        raise ShapeError(f"unknown auto_pad {auto!r}")
    return strides, dilations, pads


def _out_lengths(spatial, kernel, strides, dilations, pads, attrs) -> tuple[int | None, ...]:
    if attrs.get("ceil_mode", 0):
        raise ShapeError("ceil_mode=1 is not supported; pad explicitly instead")
    n = len(kernel)
    out = []
    for i, (d, k, s, dl) in enumerate(zip(spatial, kernel, strides, dilations, strict=True)):
        if d is None or pads is None:
            out.append(None)
            continue
        dk = (k - 1) * dl + 1
        span = d + pads[i] + pads[i + n] - dk
        if span < 0:
            raise ShapeError(
                f"the window (size {k}, dilated to {dk}) is larger than spatial axis {i} "
                f"(size {d}, padded to {d + pads[i] + pads[i + n]})"
            )
        out.append(span // s + 1)
    return tuple(out)


def _resolved(x, kernel, attrs) -> tuple[tuple, tuple, tuple]:
    strides, dilations, pads = _geometry(x.shape[2:], kernel, attrs)
    if pads is None:
        raise LoweringError(
            f"auto_pad {attrs.get('auto_pad')} over spatial sizes {tuple(x.shape[2:])} known "
            "only at run time: pad explicitly (pads=...) instead"
        )
    return strides, dilations, pads


def _int64(graph, value: int):
    return graph.constant(np.asarray([value], np.int64))


def _padded_at_run_time(x, kernel, strides, dilations, attrs):
    """x with SAME_UPPER's cells made explicit, for gradients whose ops take only static
    pads: each axis of unknown size gets its begin and end cells (zeros) from its runtime
    length. Returns the padded x, its geometry with zero pads, and a function that crops a
    gradient of the padded x back to x."""
    graph = x.graph
    shape = B.apply1("Shape", x)
    n = len(kernel)
    cuts = []
    for i, (k, s, dl) in enumerate(zip(kernel, strides, dilations, strict=True)):
        axis = 2 + i
        length = x.shape[axis]
        if length is not None:
            begin, end = (_int64(graph, p) for p in same_pads(length, k, s, dl))
            length = _int64(graph, length)
        else:
            length = _dims(shape, axis, axis + 1)
            steps = B.apply1("Div", B.add(length, _int64(graph, s - 1)), _int64(graph, s))
            reach = B.add(B.mul(B.sub(steps, _int64(graph, 1)), _int64(graph, s)),
                          _int64(graph, (k - 1) * dl + 1))  # fmt: skip
            total = B.apply1("Max", B.sub(reach, length), _int64(graph, 0))
            begin = B.apply1("Div", total, _int64(graph, 2))
            end = B.sub(total, begin)
        x = _zeros_along(x, axis, begin, at_end=False)
        x = _zeros_along(x, axis, end, at_end=True)
        cuts.append((axis, begin, length))

    def crop(g):
        for axis, begin, length in cuts:
            rows = B.apply1("Range", B.reshape(begin, []), B.reshape(B.add(begin, length), []),
                            graph.constant(np.asarray(1, np.int64)))  # fmt: skip
            g = B.apply1("Gather", g, rows, axis=axis)
        return g

    geometry = {key: v for key, v in attrs.items() if key != "auto_pad"}
    geometry["pads"] = (0,) * (2 * n)
    return x, geometry, crop


def _explicit(x, kernel, attrs):
    """(x, attrs, crop): the op's input and attributes with static pads, padding x at run
    time when auto_pad needs sizes only the run knows; crop maps a gradient back to x."""
    strides, dilations, pads = _geometry(x.shape[2:], kernel, attrs)
    if pads is not None:
        return x, attrs, None
    return _padded_at_run_time(x, kernel, strides, dilations, attrs)


def _output_padding(x, y, kernel, strides, dilations, pads) -> tuple[tuple[int, ...], list[int]]:
    """What a ConvTranspose from y's spatial size needs to give back x's size: the static
    `output_padding`, and the axes whose shortfall is known only at run time."""
    n = len(kernel)
    extra, unknown = [], []
    for i, (k, s, dl) in enumerate(zip(kernel, strides, dilations, strict=True)):
        size, out = x.shape[2 + i], y.shape[2 + i]
        if s == 1:
            extra.append(0)
        elif size is None or out is None:
            extra.append(0)
            unknown.append(2 + i)
        else:
            extra.append(size + pads[i] + pads[i + n] - ((k - 1) * dl + 1) - (out - 1) * s)
    return tuple(extra), unknown


def _dims(shape, start: int, end: int):
    """Entries start..end-1 of a runtime shape vector."""
    return B.apply1("Slice", shape, starts=(start,), ends=(end,), axes=(0,), steps=(1,))


def _zeros_along(t, axis: int, count, at_end: bool = True):
    """t with `count` (a 1-element int64 tensor) zero cells added along `axis`, after its
    cells or before them."""
    have = B.apply1("Shape", t)
    shape = B.apply1("Concat", _dims(have, 0, axis), count, _dims(have, axis + 1, t.ndim), axis=0)
    zeros = B.apply1("ConstantOfShape", shape, value=np.zeros((), t.dtype.numpy))
    return B.apply1("Concat", *((t, zeros) if at_end else (zeros, t)), axis=axis)


def _grow_to(t, x, axes: Sequence[int]):
    """Appends zeros along `axes` until t's runtime size matches x's: the trailing cells
    that no strided window reached get a zero gradient."""
    want = B.apply1("Shape", x)
    for axis in axes:
        missing = B.sub(_dims(want, axis, axis + 1), _dims(B.apply1("Shape", t), axis, axis + 1))
        t = _zeros_along(t, axis, missing)
    return t


def _channel_dims(spec, what: str) -> None:
    if spec.rank < 3:
        raise ShapeError(
            f"{what} needs a (N, C, *spatial) input of rank >= 3, got rank {spec.rank}"
        )


# -- Conv --------------------------------------------------------------------------------
def _check_bias(specs, channels) -> None:
    if len(specs) == 3:
        b = specs[2]
        if b.rank != 1 or (channels is not None and b.shape[0] not in (None, channels)):
            raise ShapeError(f"the bias must have shape ({channels},), got {b.shape}")


def _conv_infer(specs, attrs, consts):
    x, w = specs[:2]
    _channel_dims(x, "Conv")
    if w.rank != x.rank:
        raise ShapeError(
            f"the weight must have rank {x.rank} (out, in/group, *kernel), got rank {w.rank}"
        )
    kernel = tuple(w.shape[2:])
    if None in kernel or attrs.get("kernel_shape") not in (None, kernel):
        raise ShapeError(
            f"kernel_shape {attrs.get('kernel_shape')} must match the weight's {kernel}"
        )
    group = attrs.get("group", 1)
    c, o = x.shape[1], w.shape[0]
    if c is not None and w.shape[1] is not None and w.shape[1] * group != c:
        raise ShapeError(
            f"the input has {c} channels but the weight expects {w.shape[1]} x group {group}"
        )
    if o is not None and o % group:
        raise ShapeError(f"{o} output channels are not divisible by group {group}")
    _check_bias(specs, o)
    strides, dilations, pads = _geometry(x.shape[2:], kernel, attrs)
    out = _out_lengths(x.shape[2:], kernel, strides, dilations, pads, attrs)
    return [TensorSpec((x.shape[0], o) + out, same_dtype(specs))]


def _block_diagonal(w, group: int):
    """A grouped weight (O, C/G, *K) as the equivalent dense (O, C, *K) weight."""
    o, cg, *kernel = w.shape
    og = o // group
    w6 = B.reshape(w, [group, og, 1, cg, *kernel])
    mask = np.eye(group, dtype=w.dtype.numpy).reshape([group, 1, group, 1] + [1] * len(kernel))
    return B.reshape(B.mul(w6, w.graph.constant(mask)), [o, group * cg, *kernel])


def conv_weight_grad(x, g, w_shape: Sequence[int], attrs, group: int = 1):
    """d<g, Conv(x, W)>/dW for a weight of shape (O, C/group, *K): im2col + batched MatMul."""
    o, cg, *kernel = (int(d) for d in w_shape)
    c, k = cg * group, math.prod(kernel)
    strides, dilations, pads = _resolved(x, kernel, attrs)
    if k == 1 and max(strides) == 1 and max(pads) == 0:
        patches = x
    else:
        eye = np.eye(k, dtype=x.dtype.numpy).reshape([k, 1, *kernel])
        onehot = x.graph.constant(np.tile(eye, (c, 1) + (1,) * len(kernel)))
        patches = B.apply1("Conv", x, onehot, group=c, kernel_shape=tuple(kernel), strides=strides,
                           pads=pads, dilations=dilations)  # fmt: skip
    p4 = B.reshape(patches, [0, group, cg * k, -1])
    g4 = B.transpose(B.reshape(g, [0, group, o // group, -1]), (0, 1, 3, 2))
    per_sample = B.matmul(p4, g4)
    total = B.apply1("ReduceSum", per_sample, axes=(0,), keepdims=0)
    return B.reshape(B.transpose(total, (0, 2, 1)), [o, cg, *kernel])


def _bias_grad(g):
    return B.apply1("ReduceSum", g, axes=(0,) + tuple(range(2, g.ndim)), keepdims=0)


def _conv_vjp(ctx, g):
    x, w = ctx.inputs[:2]
    kernel = tuple(w.shape[2:])
    group = ctx.attrs.get("group", 1)
    x, attrs, crop = _explicit(x, kernel, ctx.attrs)
    strides, dilations, pads = _resolved(x, kernel, attrs)
    gx = gw = None
    if ctx.needs[0]:
        dense = _block_diagonal(w, group) if group > 1 else w
        extra, unknown = _output_padding(x, ctx.y, kernel, strides, dilations, pads)
        gx = B.apply1("ConvTranspose", g, dense, kernel_shape=kernel, strides=strides, pads=pads,
                      dilations=dilations, output_padding=extra)  # fmt: skip
        gx = _grow_to(gx, x, unknown)
        if crop is not None:
            gx = crop(gx)
    if ctx.needs[1]:
        gw = conv_weight_grad(x, g, w.shape, attrs, group)
    grads = [gx, gw]
    if len(ctx.inputs) == 3:
        grads.append(_bias_grad(g) if ctx.needs[2] else None)
    return grads


register("Conv", _conv_infer, _conv_vjp)


# -- ConvTranspose -----------------------------------------------------------------------
def _conv_transpose_infer(specs, attrs, consts):
    x, w = specs[:2]
    _channel_dims(x, "ConvTranspose")
    if w.rank != x.rank:
        raise ShapeError(
            f"the weight must have rank {x.rank} (in, out, *kernel), got rank {w.rank}"
        )
    if (
        attrs.get("group", 1) != 1
        or attrs.get("output_shape")
        or attrs.get("auto_pad", "NOTSET") != "NOTSET"
    ):
        raise ShapeError("only group=1 with explicit pads and output_padding is supported")
    kernel = tuple(w.shape[2:])
    if x.shape[1] is not None and w.shape[0] not in (None, x.shape[1]):
        raise ShapeError(f"the input has {x.shape[1]} channels but the weight expects {w.shape[0]}")
    _check_bias(specs, w.shape[1])
    strides, dilations, pads = _geometry(x.shape[2:], kernel, attrs)
    n = len(kernel)
    extra = tuple(attrs.get("output_padding") or (0,) * n)
    if len(extra) != n or any(not 0 <= e < s for e, s in zip(extra, strides, strict=True)):
        raise ShapeError(
            f"output_padding {extra} needs {n} values, each below its stride {strides}"
        )
    out = []
    for i, (d, k, s, dl) in enumerate(zip(x.shape[2:], kernel, strides, dilations, strict=True)):
        size = (
            None if d is None else (d - 1) * s + (k - 1) * dl + 1 + extra[i] - pads[i] - pads[i + n]
        )
        if size is not None and size < 1:
            raise ShapeError(f"pads {pads} leave no output along spatial axis {i}")
        out.append(size)
    return [TensorSpec((x.shape[0], w.shape[1]) + tuple(out), same_dtype(specs))]


def _conv_transpose_vjp(ctx, g):
    # ConvTranspose is the adjoint of Conv: its input gradient is a Conv, and its weight
    # gradient is a Conv weight gradient with the roles of input and cotangent swapped.
    x, w = ctx.inputs[:2]
    kernel = tuple(w.shape[2:])
    strides, dilations, pads = _resolved(x, kernel, ctx.attrs)
    geometry = {"kernel_shape": kernel, "strides": strides, "pads": pads, "dilations": dilations}
    gx = B.apply1("Conv", g, w, **geometry) if ctx.needs[0] else None
    gw = conv_weight_grad(g, x, w.shape, geometry) if ctx.needs[1] else None
    grads = [gx, gw]
    if len(ctx.inputs) == 3:
        grads.append(_bias_grad(g) if ctx.needs[2] else None)
    return grads


register("ConvTranspose", _conv_transpose_infer, _conv_transpose_vjp)


# -- pooling -----------------------------------------------------------------------------
def _pool_infer(specs, attrs, consts):
    x = specs[0]
    _channel_dims(x, "pooling")
    kernel = tuple(attrs.get("kernel_shape") or ())
    if len(kernel) != x.rank - 2:
        raise ShapeError(
            f"kernel_shape {kernel} needs {x.rank - 2} values for a rank-{x.rank} input"
        )
    strides, dilations, pads = _geometry(x.shape[2:], kernel, attrs)
    out = TensorSpec(
        x.shape[:2] + _out_lengths(x.shape[2:], kernel, strides, dilations, pads, attrs), x.dtype
    )
    # storage_order only matters for the Indices output; the IR asks for Indices with it.
    if "storage_order" in attrs:
        return [out, TensorSpec(out.shape, DType.int64)]
    return [out]


def _unpools_exactly(x, y, kernel, strides, dilations, pads) -> bool:
    """True when MaxUnpool can carry the gradient: no input cell lies in two windows (each
    stride covers its kernel), and the windows tile x to its end, so the shape MaxUnpool
    infers from the pooled output is x's own (ONNX indexes the unpooled cells over it)."""
    if pads is None or any(
        d != 1 or s < k for k, s, d in zip(kernel, strides, dilations, strict=True)
    ):
        return False
    n = len(kernel)
    for i in range(n):
        size, out = x.shape[2 + i], y.shape[2 + i]
        if size is None or out is None:
            return False
        if (out - 1) * strides[i] - pads[i] - pads[n + i] + kernel[i] != size:
            return False
    return True


def _max_pool_vjp(ctx, g):
    x = ctx.x
    attrs = {**ctx.attrs, "storage_order": 0}
    _, where = B.apply("MaxPool", [x], **attrs)
    kernel = tuple(attrs["kernel_shape"])
    strides, dilations, pads = _geometry(x.shape[2:], kernel, attrs)
    if _unpools_exactly(x, ctx.y, kernel, strides, dilations, pads):
        # Each index appears once: MaxUnpool writes g into zeros of x's shape.
        return [B.apply1("MaxUnpool", g, where, B.shape_of(x), kernel_shape=kernel,
                         strides=strides, pads=pads)]  # fmt: skip
    zeros = B.apply1("ConstantOfShape", B.shape_of(x), value=np.zeros((), x.dtype.numpy))
    flat = B.apply1(
        "ScatterND",
        B.reshape(zeros, [-1]),
        B.reshape(where, [-1, 1]),
        B.reshape(g, [-1]),
        reduction="add",
    )
    return [B.reshape(flat, B.shape_of(x))]


def _window_counts(x, y, kernel, strides, pads) -> np.ndarray:
    """How many real (unpadded) cells each window covers, shape (1, 1, *out)."""
    counts = np.ones((), np.int64)
    for i, (k, s) in enumerate(zip(kernel, strides, strict=True)):
        size, out = x.shape[2 + i], y.shape[2 + i]
        if size is None or out is None:
            raise LoweringError(
                f"AveragePool with count_include_pad=0 and pads needs a static spatial axis {i}"
            )
        start = np.arange(out) * s - pads[i]
        counts = np.multiply.outer(counts, np.minimum(start + k, size) - np.maximum(start, 0))
    return counts[None, None]


def _planes(t):
    """(N, C, *spatial) -> (N*C, 1, *spatial), so one kernel serves every channel."""
    spatial = t.shape[2:]
    if None not in spatial:
        return B.reshape(t, [-1, 1, *spatial])
    tail = B.apply1(
        "Slice", B.apply1("Shape", t), starts=(2,), ends=(t.ndim,), axes=(0,), steps=(1,)
    )
    return B.reshape(
        t, B.apply1("Concat", t.graph.constant(np.array([-1, 1], np.int64)), tail, axis=0)
    )


def _average_pool_vjp(ctx, g):
    x, y = ctx.x, ctx.y
    kernel = tuple(ctx.attrs["kernel_shape"])
    original = x
    x, attrs, crop = _explicit(x, kernel, ctx.attrs)
    strides, dilations, pads = _resolved(x, kernel, attrs)
    if crop is not None and not ctx.attrs.get("count_include_pad", 0):
        # The padded cells do not count: a window's count is the sum of a ones tensor of
        # the input's shape, padded at run time like the input.
        ones = B.apply1(
            "ConstantOfShape", B.apply1("Shape", original), value=np.ones((), x.dtype.numpy)
        )
        ones, _, _ = _explicit(ones, kernel, ctx.attrs)
        counts = B.mul(B.apply1("AveragePool", ones, kernel_shape=kernel, strides=strides, pads=pads),
                       float(math.prod(kernel)))  # fmt: skip
        scaled = B.div(g, counts)
    elif attrs.get("count_include_pad", 0) or not any(pads):
        scaled = B.mul(g, 1.0 / math.prod(kernel))
    else:
        counts = _window_counts(x, y, kernel, strides, pads)
        scaled = B.div(g, g.graph.constant(counts.astype(g.dtype.numpy)))
    planes = _planes(scaled)
    ones = g.graph.constant(np.ones((1, 1) + kernel, g.dtype.numpy))
    extra, unknown = _output_padding(x, y, kernel, strides, dilations, pads)
    spread = B.apply1("ConvTranspose", planes, ones, kernel_shape=kernel, strides=strides, pads=pads,
                      output_padding=extra)  # fmt: skip
    if unknown:
        spread = _grow_to(spread, _planes(x), unknown)
    spread = B.reshape(spread, B.shape_of(x))
    return [spread if crop is None else crop(spread)]


def _max_unpool_infer(specs, attrs, consts):
    x, where, shape = specs
    if where.dtype != DType.int64:
        raise ShapeError(f"MaxUnpool indices must be int64, got {where.dtype}")
    if consts[2] is not None:
        dims = tuple(int(d) for d in consts[2])
    else:
        dims = (None,) * (shape.shape[0] or x.rank)
    return [TensorSpec(dims, x.dtype)]


def _max_unpool_vjp(ctx, g):
    # The value at flat index i of the output came from the input cell holding index i.
    x, where = ctx.inputs[:2]
    picked = B.apply1("Gather", B.reshape(g, [-1]), B.reshape(where, [-1]), axis=0)
    return [B.reshape(picked, B.shape_of(x)), None, None]


register("MaxPool", _pool_infer, _max_pool_vjp)
register("MaxUnpool", _max_unpool_infer, _max_unpool_vjp)
register("AveragePool", _pool_infer, _average_pool_vjp)
