"""Reverse-mode autodiff over the IR: VJP rules applied in reverse topological order."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from kgraph.ir import Graph, Tensor, provenance_scope
from kgraph.ir import build as B
from kgraph.ir.ops import VjpContext, get_op

__all__ = ["gradients"]


def gradients(
    graph: Graph, y: Tensor, wrt: Sequence[Tensor], seed: Tensor | None = None
) -> list[Tensor | None]:
    """Cotangents of `wrt` for the scalar (or `seed`-weighted) output `y`.

    Only nodes on a path from `wrt` to `y` are visited; fan-out contributions are summed;
    broadcasting is undone here, once, not in each rule. An input that does not influence
    `y` gets None, never a zero tensor.
    """
    sources = {t.node for t in wrt}
    relevant = graph.ancestors([y]) & _differentiable_descendants(graph, sources)
    contributions: dict[Tensor, list[Tensor]] = {}
    with graph.as_default():
        if seed is None:
            seed = graph.constant(np.ones(y.shape, dtype=y.dtype.numpy))
        contributions[y] = [seed]
        order = [n for n in graph.topo_order() if n in relevant]
        for nid in reversed(order):
            node = graph.node(nid)
            if nid in sources and not graph.inputs(nid):
                continue
            outs = graph.outputs(nid)
            cots = [_total(contributions.get(t)) for t in outs]
            if all(c is None for c in cots):
                continue
            rule = get_op(node.op).vjp
            if rule is None:
                continue
            ins = graph.inputs(nid)
            ctx = VjpContext(ins, outs, node.attrs, [t.node in relevant for t in ins])
            with provenance_scope(f"grad/{node.provenance or node.op}"):
                # A multi-output rule gets one cotangent per output (None where unused).
                grads = rule(ctx, *cots)
                for t, g, need in zip(ins, grads, ctx.needs):
                    if g is None or not need:
                        continue
                    if g.shape != t.shape:
                        g = B.unbroadcast(g, t)
                    contributions.setdefault(t, []).append(g)
        return [_total(contributions.get(t)) for t in wrt]


def _total(parts: list[Tensor] | None) -> Tensor | None:
    if not parts:
        return None
    total = parts[0]
    for p in parts[1:]:
        total = B.add(total, p)
    parts[:] = [total]
    return total


def _differentiable_descendants(graph: Graph, sources: set[int]) -> set[int]:
    """The nodes a gradient can flow back to `sources` from: reached from them only through
    ops with a VJP. A value computed from a source's shape (Shape has none), such as a
    dropout mask, is not on such a path, so no rule is asked for its cotangent."""
    found = set(sources)
    for nid in graph.topo_order():
        if nid in found:
            continue
        node = graph.node(nid)
        if get_op(node.op).vjp is not None and any(t.node in found for t in graph.inputs(nid)):
            found.add(nid)
    return found
