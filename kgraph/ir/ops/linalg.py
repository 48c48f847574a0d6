"""Matrix products."""

from __future__ import annotations

from kgraph.ir import build as B
from kgraph.ir.errors import ShapeError
from kgraph.ir.ops._rules import broadcast_shapes, same_dtype
from kgraph.ir.ops.registry import register
from kgraph.ir.spec import TensorSpec


def _matmul_infer(specs, attrs, consts):
    a, b = specs
    if a.rank < 2 or b.rank < 2:
        raise ShapeError("MatMul operands need rank >= 2 (reshape vectors first)")
    k1, k2 = a.shape[-1], b.shape[-2]
    if k1 is not None and k2 is not None and k1 != k2:
        raise ShapeError(f"inner dimensions differ: {k1} vs {k2}")
    batch = broadcast_shapes(a.shape[:-2], b.shape[:-2])
    return [TensorSpec(batch + (a.shape[-2], b.shape[-1]), same_dtype(specs))]


def _swap_last(t):
    perm = list(range(t.ndim))
    perm[-2], perm[-1] = perm[-1], perm[-2]
    return B.transpose(t, perm)


def _matmul_vjp(ctx, g):
    a, b = ctx.inputs
    ga = B.matmul(g, _swap_last(b)) if ctx.needs[0] else None
    gb = None
    if ctx.needs[1]:
        # The contracted and output widths: b's static shape knows them even when a
        # cotangent that came back through a reshape or slice has lost its own.
        k = a.shape[-1] if a.shape[-1] is not None else b.shape[-2]
        n = g.shape[-1] if g.shape[-1] is not None else b.shape[-1]
        if b.ndim == 2 and a.ndim > 2 and k is not None and n is not None:
            # Fold the batch axes into rows: one big GEMM instead of a batched one + sum.
            a2 = B.reshape(a, [-1, k])
            g2 = B.reshape(g, [-1, n])
            gb = B.matmul(_swap_last(a2), g2)
        else:
            gb = B.matmul(_swap_last(a), g)
    return [ga, gb]


register("MatMul", _matmul_infer, _matmul_vjp)
