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


# Attributes that only ask for (or shape) optional extra outputs: a node without them
# computes the first outputs of the node with them, so the two merge.
_EXTRA_OUTPUT_ATTRS = {"MaxPool": ("storage_order",)}


def _key(graph: Graph, nid: int):
    node = graph.node(nid)
    if node.op in ("Placeholder", "Variable"):
        return None
    attrs = []
    extra = _EXTRA_OUTPUT_ATTRS.get(node.op, ())
    for k, v in sorted(node.attrs.items()):
        if k in extra:
            continue
        if isinstance(v, np.ndarray):
            if v.size > 64:
                return None
            v = (v.dtype.str, v.shape, v.tobytes())
        attrs.append((k, v))
    ins = tuple((t.node, t.index) for t in graph.inputs(nid))
    return (node.op, tuple(attrs), ins)


def _extra_outputs_agree(graph: Graph, a: int, b: int) -> bool:
    """Whether merging keeps every output read: the attributes left out of the key shape
    only the extra outputs, so they must agree unless one node has none of those."""
    if min(len(graph.outputs(a)), len(graph.outputs(b))) == 1:
        return True
    na, nb = graph.node(a), graph.node(b)
    return all(na.attrs.get(k) == nb.attrs.get(k) for k in _EXTRA_OUTPUT_ATTRS.get(na.op, ()))


def eliminate_common_subexpressions(graph: Graph) -> dict[Tensor, Tensor]:
    """Merges nodes with the same op, attributes and inputs (small constants included).
    Of two nodes that differ only in optional extra outputs (a MaxPool and the MaxPool
    with Indices its gradient reads), the one with more outputs stays.

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
            if not _extra_outputs_agree(graph, first, nid):
                continue
            keep, drop = first, nid
            if len(graph.outputs(nid)) > len(graph.outputs(first)):
                keep, drop = nid, first
                seen[key] = nid
            for a, b in zip(graph.outputs(keep), graph.outputs(drop), strict=False):
                graph.replace_uses(b, a)
                replaced[b] = a
            dead.append(drop)
    graph.remove_nodes(dead)
    return replaced
