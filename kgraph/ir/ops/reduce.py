"""Reductions (axes and keepdims as attributes; ONNX takes axes as an input) and arg-reductions."""

from __future__ import annotations

from kgraph.ir import build as B
from kgraph.ir.dtypes import DType
from kgraph.ir.ops._rules import norm_axes, norm_axis
from kgraph.ir.ops.registry import register
from kgraph.ir.spec import TensorSpec


def _reduce_infer(specs, attrs, consts):
    x = specs[0]
    axes = norm_axes(attrs.get("axes"), x.rank)
    keep = bool(attrs.get("keepdims", 1))
    shape = tuple(
        (1 if keep else None) if i in axes else d for i, d in enumerate(x.shape)
    )
    shape = tuple(d for i, d in enumerate(shape) if keep or i not in axes)
    return [TensorSpec(shape, x.dtype)]


def _expand_back(ctx, t):
    """Broadcasts a reduced tensor back to the input's shape."""
    x = ctx.x
    axes = norm_axes(ctx.attrs.get("axes"), x.ndim)
    if not ctx.attrs.get("keepdims", 1) and axes:
        t = B.apply1("Unsqueeze", t, axes=axes)
    return B.apply1("Expand", t, B.shape_of(x))


def _sum_vjp(ctx, g):
    return [_expand_back(ctx, g)]


def _mean_vjp(ctx, g):
    axes = norm_axes(ctx.attrs.get("axes"), ctx.x.ndim)
    count = B.dim_size(ctx.x, axes, g.dtype)
    return [_expand_back(ctx, B.div(g, count))]


def _extreme_vjp(ctx, g):
    # Ties share the cotangent equally, as TensorFlow's reduce_max gradient does.
    y = ctx.y
    if not ctx.attrs.get("keepdims", 1):
        axes = norm_axes(ctx.attrs.get("axes"), ctx.x.ndim)
        y = B.apply1("Unsqueeze", y, axes=axes)
        g = B.apply1("Unsqueeze", g, axes=axes)
    hit = B.binary("Equal", ctx.x, y)
    ties = B.apply1("ReduceSum", B.cast(hit, g.dtype), axes=ctx.attrs.get("axes"), keepdims=1)
    return [B.where(hit, B.div(g, ties), 0.0)]


_AXES = ("axes",)
register("ReduceSum", _reduce_infer, _sum_vjp, const_inputs=_AXES)
register("ReduceMean", _reduce_infer, _mean_vjp, const_inputs=_AXES)
register("ReduceMax", _reduce_infer, _extreme_vjp, const_inputs=_AXES)
register("ReduceMin", _reduce_infer, _extreme_vjp, const_inputs=_AXES)
register("ReduceProd", _reduce_infer, const_inputs=_AXES)


def _arg_infer(specs, attrs, consts):
    x = specs[0]
    axis = norm_axis(attrs.get("axis", 0), x.rank)
    keep = bool(attrs.get("keepdims", 1))
    shape = tuple(1 if i == axis else d for i, d in enumerate(x.shape) if keep or i != axis)
    return [TensorSpec(shape, DType.int64)]


register("ArgMax", _arg_infer)
register("ArgMin", _arg_infer)

__all__: list[str] = []

