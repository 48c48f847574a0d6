"""Running sums along one axis (ONNX CumSum; the axis is an input in ONNX, an attribute here)."""

from __future__ import annotations

from kgraph.ir import build as B
from kgraph.ir.ops._rules import norm_axis
from kgraph.ir.ops.registry import register


def _cumsum_infer(specs, attrs, consts):
    x = specs[0]
    norm_axis(attrs["axis"], x.rank)
    return [x]


def _cumsum_vjp(ctx, g):
    # y_j = sum over i <= j of x_i, so dx_i = sum over j >= i of dy_j: the same running
    # sum taken from the other end (an exclusive sum stays exclusive).
    attrs = dict(ctx.attrs)
    attrs["reverse"] = 1 - int(attrs.get("reverse", 0))
    return [B.apply1("CumSum", g, **attrs)]


register("CumSum", _cumsum_infer, _cumsum_vjp, const_inputs=("axis",))
