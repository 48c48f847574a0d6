"""Clean-up passes: dead-code elimination and common-subexpression elimination."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from kgraph.ir import Graph, Tensor

__all__ = ["eliminate_dead_code", "eliminate_common_subexpressions"]


def eliminate_dead_code(graph: Graph, keep: Sequence[Tensor]) -> Graph:
    """Removes every node that none of `keep` depends on."""
    live = graph.ancestors(keep)
    graph.remove_nodes([n.id for n in graph.nodes() if n.id not in live])
    return graph


def _key(graph: Graph, nid: int):
    node = graph.node(nid)
    if node.op in ("Placeholder", "Variable"):
        return None
    attrs = []
    for k, v in sorted(node.attrs.items()):
        if isinstance(v, np.ndarray):
            if v.size > 64:
                return None
            v = (v.dtype.str, v.shape, v.tobytes())
        attrs.append((k, v))
    ins = tuple((t.node, t.index) for t in graph.inputs(nid))
    return (node.op, tuple(attrs), ins)


def eliminate_common_subexpressions(graph: Graph) -> dict[Tensor, Tensor]:
    """Merges nodes with the same op, attributes and inputs (small constants included).

    Returns the replaced tensors mapped to the tensors that now stand for them.
    """
    seen: dict[tuple, int] = {}
    replaced: dict[Tensor, Tensor] = {}
    dead = []
    for nid in graph.topo_order():
        key = _key(graph, nid)
        if key is None:
            continue
        try:
            first = seen.setdefault(key, nid)
        except TypeError:
            continue
        if first != nid:
            for a, b in zip(graph.outputs(first), graph.outputs(nid)):
                graph.replace_uses(b, a)
                replaced[b] = a
            dead.append(nid)
    graph.remove_nodes(dead)
    return replaced
