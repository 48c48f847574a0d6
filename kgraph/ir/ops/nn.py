"""Normalized exponentials along one axis."""

from __future__ import annotations

from kgraph.ir import build as B
from kgraph.ir.ops._rules import norm_axis
from kgraph.ir.ops.registry import register
from kgraph.ir.spec import TensorSpec


def _axis_infer(specs, attrs, consts):
    x = specs[0]
    norm_axis(attrs.get("axis", -1), x.rank)
    return [TensorSpec(x.shape, x.dtype)]


def _softmax_vjp(ctx, g):
    y = ctx.y
    axis = ctx.attrs.get("axis", -1)
    dot = B.apply1("ReduceSum", B.mul(g, y), axes=(axis % y.ndim,), keepdims=1)
    return [B.mul(y, B.sub(g, dot))]


def _log_softmax_vjp(ctx, g):
    axis = ctx.attrs.get("axis", -1)
    total = B.apply1("ReduceSum", g, axes=(axis % g.ndim,), keepdims=1)
    return [B.sub(g, B.mul(B.unary("Exp", ctx.y), total))]


register("Softmax", _axis_infer, _softmax_vjp)
register("LogSoftmax", _axis_infer, _log_softmax_vjp)
