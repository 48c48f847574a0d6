"""Ops that move, select or reshape data without arithmetic."""

from __future__ import annotations

import math

import numpy as np

from kgraph.ir import build as B
from kgraph.ir.dtypes import DType
from kgraph.ir.errors import LoweringError, ShapeError
from kgraph.ir.ops._rules import broadcast_shapes, norm_axes, norm_axis, same_dtype
from kgraph.ir.ops.registry import register
from kgraph.ir.spec import TensorSpec

_INT_MAX = np.iinfo(np.int64).max


def _prod(dims):
    return None if any(d is None for d in dims) else int(math.prod(dims))


def _back_to_input(ctx, g):
    return [B.reshape(g, B.shape_of(ctx.x))] + [None] * (len(ctx.inputs) - 1)


# -- Reshape / Flatten / Squeeze / Unsqueeze ---------------------------------------------
def _reshape_infer(specs, attrs, consts):
    x, shape = specs
    target = consts[1]
    if target is None:
        if shape.rank != 1 or shape.shape[0] is None:
            raise ShapeError("the shape input must be a 1-D tensor of known length")
        return [TensorSpec((None,) * shape.shape[0], x.dtype)]
    dims = [x.shape[i] if int(d) == 0 else int(d) for i, d in enumerate(target)]
    if dims.count(-1) > 1:
        raise ShapeError(f"at most one -1 in the target shape, got {list(target)}")
    total = _prod(x.shape)
    if -1 in dims:
        rest = _prod([d for d in dims if d != -1])
        inferred = None if total is None or rest is None else (total // rest if rest else 0)
        if inferred is not None and rest and total != inferred * rest:
            raise ShapeError(f"cannot reshape {total} elements into {list(target)}")
        dims = [inferred if d == -1 else d for d in dims]
    elif total is not None and _prod(dims) is not None and total != _prod(dims):
        raise ShapeError(f"cannot reshape {total} elements into {list(target)}")
    return [TensorSpec(tuple(dims), x.dtype)]


register("Reshape", _reshape_infer, _back_to_input)


def _flatten_infer(specs, attrs, consts):
    x = specs[0]
    axis = attrs.get("axis", 1)
    return [TensorSpec((_prod(x.shape[:axis]), _prod(x.shape[axis:])), x.dtype)]


register("Flatten", _flatten_infer, _back_to_input)


def _squeeze_infer(specs, attrs, consts):
    x = specs[0]
    axes = norm_axes(attrs["axes"], x.rank)
    for a in axes:
        if x.shape[a] not in (1, None):
            raise ShapeError(f"cannot squeeze axis {a} of size {x.shape[a]}")
    return [TensorSpec(tuple(d for i, d in enumerate(x.shape) if i not in axes), x.dtype)]


def _unsqueeze_infer(specs, attrs, consts):
    x = specs[0]
    rank = x.rank + len(attrs["axes"])
    axes = norm_axes(attrs["axes"], rank)
    dims = iter(x.shape)
    return [TensorSpec(tuple(1 if i in axes else next(dims) for i in range(rank)), x.dtype)]


register("Squeeze", _squeeze_infer, _back_to_input, const_inputs=("axes",))
register("Unsqueeze", _unsqueeze_infer, _back_to_input, const_inputs=("axes",))


# -- Tile ----------------------------------------------------------------------------------
def _tile_infer(specs, attrs, consts):
    x, repeats = specs
    if not repeats.dtype.is_integer or repeats.rank != 1:
        shown = f"{repeats.dtype}{list(repeats.shape)}"
        raise ShapeError(f"repeats must be a 1-D integer tensor, got {shown}")
    if repeats.shape[0] not in (None, x.rank):
        raise ShapeError(f"repeats has {repeats.shape[0]} entries for a tensor of rank {x.rank}")
    reps = consts[1]
    if reps is None:
        return [TensorSpec((None,) * x.rank, x.dtype)]
    dims = (None if d is None else d * int(r) for d, r in zip(x.shape, reps, strict=True))
    return [TensorSpec(tuple(dims), x.dtype)]


def _tile_vjp(ctx, g):
    # The output holds repeats[i] copies of each axis i: view it as (r0, d0, r1, d1, ...)
    # and sum the copies.
    x, repeats = ctx.inputs
    rank = x.ndim
    pairs = B.apply1(
        "Concat",
        B.apply1("Unsqueeze", B.cast(repeats, DType.int64), axes=(1,)),
        B.apply1("Unsqueeze", B.shape_of(x), axes=(1,)),
        axis=1,
    )
    split = B.reshape(g, B.reshape(pairs, [2 * rank]))
    total = B.apply1("ReduceSum", split, axes=tuple(range(0, 2 * rank, 2)), keepdims=0)
    return [B.reshape(total, B.shape_of(x)), None]


register("Tile", _tile_infer, _tile_vjp)


# -- Transpose / Expand / Concat ---------------------------------------------------------
def _transpose_infer(specs, attrs, consts):
    x = specs[0]
    perm = attrs["perm"]
    if sorted(perm) != list(range(x.rank)):
        raise ShapeError(f"perm {list(perm)} is not a permutation of {x.rank} axes")
    return [TensorSpec(tuple(x.shape[p] for p in perm), x.dtype)]


def _transpose_vjp(ctx, g):
    return [B.transpose(g, np.argsort(ctx.attrs["perm"]).tolist())]


register("Transpose", _transpose_infer, _transpose_vjp)


def _expand_infer(specs, attrs, consts):
    x, shape = specs
    target = consts[1]
    dims = (None,) * (shape.shape[0] or 0) if target is None else tuple(int(d) for d in target)
    return [TensorSpec(broadcast_shapes(x.shape, dims), x.dtype)]


register("Expand", _expand_infer, lambda ctx, g: [g, None])


def _concat_infer(specs, attrs, consts):
    rank = specs[0].rank
    if any(s.rank != rank for s in specs):
        raise ShapeError("all inputs must have the same rank")
    axis = norm_axis(attrs["axis"], rank)
    dims = []
    for i in range(rank):
        col = [s.shape[i] for s in specs]
        if i == axis:
            dims.append(sum(col) if None not in col else None)
        else:
            known = {d for d in col if d is not None}
            if len(known) > 1:
                raise ShapeError(f"dimension {i} differs between inputs: {col}")
            dims.append(known.pop() if known else None)
    return [TensorSpec(tuple(dims), same_dtype(specs))]


def _concat_vjp(ctx, g):
    axis = norm_axis(ctx.attrs["axis"], g.ndim)
    sizes = [t.shape[axis] for t in ctx.inputs]
    if None in sizes:
        return _concat_vjp_runtime(ctx, g, axis)
    grads, start = [], 0
    for need, size in zip(ctx.needs, sizes):
        if need:
            grads.append(
                B.apply1("Slice", g, starts=(start,), ends=(start + size,), axes=(axis,), steps=(1,))
            )
        else:
            grads.append(None)
        start += size
    return grads


def _concat_vjp_runtime(ctx, g, axis: int):
    """Concat's gradient when a size along the axis (often the batch) is known only at run
    time: each piece gathers its index range, counted from the inputs' runtime shapes."""
    graph = g.graph
    where = graph.constant(np.asarray(axis, np.int64))
    one = graph.constant(np.asarray(1, np.int64))
    grads, start = [], graph.constant(np.asarray(0, np.int64))
    for need, t in zip(ctx.needs, ctx.inputs):
        size = t.shape[axis]
        size = graph.constant(np.asarray(size, np.int64)) if size is not None else B.apply1(
            "Gather", B.shape_of(t), where, axis=0
        )  # fmt: skip
        end = B.add(start, size)
        grads.append(B.apply1("Gather", g, B.apply1("Range", start, end, one), axis=axis) if need else None)
        start = end
    return grads


register("Concat", _concat_infer, _concat_vjp)


# -- Slice / Pad -------------------------------------------------------------------------
def _slice_len(dim, start, end, step):
    if dim is not None:
        return len(range(*slice(start, end, step).indices(dim)))
    if step > 0 and 0 <= start and 0 <= end < _INT_MAX:
        return max(0, -(-(end - start) // step))
    return None


def _slice_infer(specs, attrs, consts):
    x = specs[0]
    dims = list(x.shape)
    for s, e, a, st in zip(attrs["starts"], attrs["ends"], attrs["axes"], attrs["steps"]):
        if st == 0:
            raise ShapeError("slice step cannot be zero")
        a = norm_axis(a, x.rank)
        dims[a] = _slice_len(x.shape[a], s, e, st)
    return [TensorSpec(tuple(dims), x.dtype)]


def _slice_vjp(ctx, g):
    x = ctx.x
    starts, ends, steps = (ctx.attrs[k] for k in ("starts", "ends", "steps"))
    if all(st == -1 and s == -1 and e <= -_INT_MAX for s, e, st in zip(starts, ends, steps)):
        # Reversing whole axes (x[::-1]) is its own inverse.
        return [B.apply1("Slice", g, **ctx.attrs)]
    pads = [0] * (2 * x.ndim)
    for s, e, a, st in zip(*(ctx.attrs[k] for k in ("starts", "ends", "axes", "steps"))):
        a = norm_axis(a, x.ndim)
        dim = x.shape[a]
        if st == 1 and dim is None and s >= 0 and (e < 0 or e == _INT_MAX):
            # Offsets from both ends (a crop) need no static size.
            pads[a], pads[a + x.ndim] = s, (0 if e == _INT_MAX else -e)
            continue
        if st != 1 or dim is None:
            raise LoweringError("the gradient of Slice needs step 1 and a static sliced axis")
        lo, hi, _ = slice(s, e, st).indices(dim)
        pads[a], pads[a + x.ndim] = lo, dim - max(hi, lo)
    return [B.apply1("Pad", g, pads=tuple(pads))]


register(
    "Slice", _slice_infer, _slice_vjp, const_inputs=("starts", "ends", "axes", "steps")
)


def _pad_infer(specs, attrs, consts):
    x = specs[0]
    pads = attrs["pads"]
    if len(pads) != 2 * x.rank:
        raise ShapeError(f"pads needs {2 * x.rank} values, got {len(pads)}")
    dims = tuple(
        None if d is None else d + pads[i] + pads[i + x.rank] for i, d in enumerate(x.shape)
    )
    return [TensorSpec(dims, x.dtype)]


def _pad_vjp(ctx, g):
    n = ctx.x.ndim
    pads = ctx.attrs["pads"]
    starts = tuple(pads[:n])
    ends = tuple(-p if p else _INT_MAX for p in pads[n:])
    return [B.apply1("Slice", g, starts=starts, ends=ends, axes=tuple(range(n)), steps=(1,) * n)]


register("Pad", _pad_infer, _pad_vjp, const_inputs=("pads",))


# -- Gather / ScatterND ------------------------------------------------------------------
def _gather_infer(specs, attrs, consts):
    x, idx = specs
    if idx.dtype not in (DType.int32, DType.int64):
        raise ShapeError(f"indices must be int32 or int64, got {idx.dtype}")
    axis = norm_axis(attrs.get("axis", 0), x.rank)
    return [TensorSpec(x.shape[:axis] + idx.shape + x.shape[axis + 1 :], x.dtype)]


def _gather_vjp(ctx, g):
    x, idx = ctx.inputs
    if norm_axis(ctx.attrs.get("axis", 0), x.ndim) != 0:
        raise LoweringError("the gradient of Gather is implemented for axis 0")
    zeros = B.apply1("ConstantOfShape", B.shape_of(x), value=np.zeros((), x.dtype.numpy))
    where = B.apply1("Unsqueeze", B.cast(idx, DType.int64), axes=(idx.ndim,))
    return [B.apply1("ScatterND", zeros, where, g, reduction="add"), None]


register("Gather", _gather_infer, _gather_vjp)
register("ScatterND", lambda specs, attrs, consts: [specs[0]])


def _nonzero_infer(specs, attrs, consts):
    # How many entries are nonzero depends on the values: the count stays unknown.
    return [TensorSpec((specs[0].rank, None), DType.int64)]


register("NonZero", _nonzero_infer)


# -- Shape arithmetic --------------------------------------------------------------------
def _shape_infer(specs, attrs, consts):
    return [TensorSpec((specs[0].rank,), DType.int64)]


register("Shape", _shape_infer)


def _range_infer(specs, attrs, consts):
    n = None
    if all(c is not None for c in consts):
        start, limit, delta = (c.item() for c in consts)
        n = max(0, math.ceil((limit - start) / delta))
    return [TensorSpec((n,), same_dtype(specs))]


register("Range", _range_infer)


def _constant_of_shape_infer(specs, attrs, consts):
    value = np.asarray(attrs["value"])
    shape = consts[0]
    dims = (None,) * (specs[0].shape[0] or 0) if shape is None else tuple(int(d) for d in shape)
    return [TensorSpec(dims, DType(value.dtype.name))]


register("ConstantOfShape", _constant_of_shape_infer)
