"""Reductions (axes and keepdims as attributes; ONNX takes axes as an input) and arg-reductions."""

from __future__ import annotations

from kgraph.ir import build as B
from kgraph.ir.dtypes import DType
from kgraph.ir.errors import ShapeError
from kgraph.ir.ops._rules import norm_axes, norm_axis
from kgraph.ir.ops.registry import register
from kgraph.ir.spec import TensorSpec


def _axes_of(attrs, rank):
    """The reduced axes; as in ONNX, an empty list (like None) means every axis."""
    return norm_axes(attrs.get("axes") or None, rank)


def _reduce_infer(specs, attrs, consts):
    x = specs[0]
    if attrs.get("noop_with_empty_axes"):
        raise ShapeError("noop_with_empty_axes is not part of the IR: reducing nothing is no op")
    axes = _axes_of(attrs, x.rank)
    keep = bool(attrs.get("keepdims", 1))
    shape = tuple(
        (1 if keep else None) if i in axes else d for i, d in enumerate(x.shape)
    )
    shape = tuple(d for i, d in enumerate(shape) if keep or i not in axes)
    return [TensorSpec(shape, x.dtype)]


def _expand_back(ctx, t):
    """Broadcasts a reduced tensor back to the input's shape."""
    x = ctx.x
    axes = _axes_of(ctx.attrs, x.ndim)
    if not ctx.attrs.get("keepdims", 1) and axes:
        t = B.apply1("Unsqueeze", t, axes=axes)
    return B.apply1("Expand", t, B.shape_of(x))


def _sum_vjp(ctx, g):
    return [_expand_back(ctx, g)]


def _mean_vjp(ctx, g):
    axes = _axes_of(ctx.attrs, ctx.x.ndim)
    count = B.dim_size(ctx.x, axes, g.dtype)
    return [_expand_back(ctx, B.div(g, count))]


def _kept(ctx, t):
    """A reduced tensor with the reduced axes back as size 1 (it broadcasts against x)."""
    if not ctx.attrs.get("keepdims", 1):
        t = B.apply1("Unsqueeze", t, axes=_axes_of(ctx.attrs, ctx.x.ndim))
    return t


def _extreme_vjp(ctx, g):
    # TensorFlow's reduce_max gradient: (indicators / their count) * g, so ties share the
    # cotangent equally. A product (as TF's), not a select: onnxruntime's Where is slow.
    y, g = _kept(ctx, ctx.y), _kept(ctx, g)
    hit = B.cast(B.binary("Equal", ctx.x, y), g.dtype)
    ties = B.apply1("ReduceSum", hit, axes=ctx.attrs.get("axes"), keepdims=1)
    return [B.mul(B.div(hit, ties), g)]


def _prod_vjp(ctx, g):
    # Each entry's slope is the product of the others in its group. Dividing the product
    # by the entry fails at zeros, so zeros are set aside: the product of the nonzero
    # entries over the entry itself (when it is nonzero), and 0 wherever another entry
    # of the group is zero.
    x, axes = ctx.x, ctx.attrs.get("axes")
    zero = B.binary("Equal", x, 0.0)
    safe = B.where(zero, 1.0, x)
    nonzero_product = B.apply1("ReduceProd", safe, axes=axes, keepdims=1)
    is_zero = B.cast(zero, x.dtype)
    zeros_elsewhere = B.sub(B.apply1("ReduceSum", is_zero, axes=axes, keepdims=1), is_zero)
    others = B.where(B.binary("Equal", zeros_elsewhere, 0.0), B.div(nonzero_product, safe), 0.0)
    return [B.mul(others, _kept(ctx, g))]


_AXES = ("axes",)
register("ReduceSum", _reduce_infer, _sum_vjp, const_inputs=_AXES)
register("ReduceMean", _reduce_infer, _mean_vjp, const_inputs=_AXES)
register("ReduceMax", _reduce_infer, _extreme_vjp, const_inputs=_AXES)
register("ReduceMin", _reduce_infer, _extreme_vjp, const_inputs=_AXES)
register("ReduceProd", _reduce_infer, _prod_vjp, const_inputs=_AXES)


def _arg_infer(specs, attrs, consts):
    x = specs[0]
    axis = norm_axis(attrs.get("axis", 0), x.rank)
    keep = bool(attrs.get("keepdims", 1))
    shape = tuple(1 if i == axis else d for i, d in enumerate(x.shape) if keep or i != axis)
    return [TensorSpec(shape, DType.int64)]


register("ArgMax", _arg_infer)
register("ArgMin", _arg_infer)

__all__: list[str] = []

