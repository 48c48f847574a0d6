"""Row-sparse gradients: the gradient of a Gather (an Embedding lookup) touches only the
rows the batch looked up, yet as a dense tensor it is a zero-filled copy of the whole table
that every optimizer formula then reads and writes in full.

This pass finds those gradients — `ScatterND(zeros, rows, updates, reduction="add")`, the
form the Gather VJP builds — and carries them as (unique rows, row values) through the
zero-preserving arithmetic an optimizer applies to a gradient (scaling, squaring, division
by a dense tensor), until they meet a dense tensor in an Add or Sub, which becomes a
ScatterND of the few rows into that tensor. The results are the same numbers the dense
formulas give (each touched row sees the same float operations in the same order; every
other row adds an exact zero), but the table-sized passes that remain are the ones the
formulas need on their own (Adam's decay of its moments, the parameter step), not the
ones that only handled zeros. Any other consumer keeps reading the dense tensor, which
dead-code elimination removes once nothing needs it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from kgraph.ir import Graph, Tensor, provenance_scope
from kgraph.ir import build as B

__all__ = ["sparsify_gradients", "MIN_ELEMENTS"]

MIN_ELEMENTS = 1 << 14
"""Dense gradients smaller than this stay dense: for a small table, the row-finding and scatter
steps cost more than the passes they save."""


@dataclass(frozen=True)
class _Rows:
    """A dense (n, *rest) tensor that is zero except at `rows` (unique), where it is `values`."""

    rows: Tensor  # (k,) int64
    values: Tensor  # (k, *rest)


def sparsify_gradients(graph: Graph, min_elements: int | None = None) -> dict[Tensor, Tensor]:
    """Rewrites the dense uses of row-sparse gradients; returns replaced -> replacement."""
    limit = MIN_ELEMENTS if min_elements is None else min_elements
    replaced: dict[Tensor, Tensor] = {}
    for nid in graph.topo_order():
        if nid not in graph:
            continue
        dense = _dense_scatter(graph, nid)
        if dense is None or _numel(dense.shape) < limit:
            continue
        with graph.as_default(), provenance_scope("sparse_gradient"):
            _propagate(graph, dense, _coalesce(graph, nid, dense), replaced)
    return replaced


def _numel(shape) -> int:
    return -1 if any(d is None for d in shape) else math.prod(shape)


def _dense_scatter(graph: Graph, nid: int) -> Tensor | None:
    """The output of a `ScatterND(zeros, rows[..., 1], updates, add)` node, else None."""
    node = graph.node(nid)
    if node.op != "ScatterND" or node.attrs.get("reduction") != "add":
        return None
    data, where, _ = graph.inputs(nid)
    source = graph.node(data.node)
    if source.op != "ConstantOfShape" or np.any(np.asarray(source.attrs.get("value", 0)) != 0):
        return None
    out = graph.outputs(nid)[0]
    if where.shape[-1] != 1 or _numel(out.shape[1:]) < 0 or not out.dtype.is_float:
        return None
    return out


def _coalesce(graph: Graph, nid: int, dense: Tensor) -> _Rows:
    """Unique rows, each with its updates summed in the order the dense scatter sums them.

    The rows are found through a table-length marker vector (NonZero of the per-row hit
    counts), which is far cheaper than a hash-based Unique for the few thousand indices
    of a batch.
    """
    _, where, updates = graph.inputs(nid)
    n, rest = dense.shape[0], list(dense.shape[1:])
    flat_rows = B.reshape(where, [-1])
    ones = B.apply1("ConstantOfShape", B.shape_of(flat_rows), value=np.ones((), np.float32))
    counts = B.apply1(
        "ScatterND",
        B.apply1("ConstantOfShape", graph.constant(np.array([n], np.int64)), value=np.zeros((), np.float32)),
        _as_slots(flat_rows),
        ones,
        reduction="add",
    )
    rows = B.reshape(B.apply1("NonZero", counts), [-1])  # ascending, each once
    k = B.reshape(B.shape_of(rows), [])
    position = B.apply1(
        "ScatterND",
        B.apply1("ConstantOfShape", graph.constant(np.array([n], np.int64)), value=np.zeros((), np.int64)),
        _as_slots(rows),
        B.apply1("Range", graph.constant(np.array(0, np.int64)), k, graph.constant(np.array(1, np.int64))),
    )
    inverse = B.apply1("Gather", position, flat_rows, axis=0)
    size = B.apply1("Concat", B.shape_of(rows), graph.constant(np.array(rest, np.int64)), axis=0)
    zeros = B.apply1("ConstantOfShape", size, value=np.zeros((), dense.dtype.numpy))
    values = B.apply1("ScatterND", zeros, _as_slots(inverse), B.reshape(updates, [-1, *rest]), reduction="add")
    return _Rows(rows, values)


def _as_slots(rows: Tensor) -> Tensor:
    """Row numbers (k,) as ScatterND indices (k, 1)."""
    return B.apply1("Unsqueeze", rows, axes=(1,))


def _scalar_like(t: Tensor, like: Tensor) -> bool:
    return t.ndim <= like.ndim and all(d == 1 for d in t.shape)


def _same_shape(t: Tensor, like: Tensor) -> bool:
    return t.shape == like.shape and _numel(t.shape) >= 0 and t.dtype == like.dtype


def _propagate(graph: Graph, dense: Tensor, sparse: _Rows, replaced: dict[Tensor, Tensor]) -> None:
    work = [(dense, sparse)]
    while work:
        t, sp = work.pop()
        for dst, slot in list(graph.consumers(t)):
            node = graph.node(dst)
            ins = graph.inputs(dst)
            out = graph.outputs(dst)[0]
            other = ins[1 - slot] if len(ins) == 2 else None
            new = _elementwise(graph, node.op, slot, t, other, sp)
            if new is not None:
                work.append((out, new))
            elif node.op in ("Add", "Sub") and other is not None and other != t and _same_shape(other, t):
                result = _scatter_into(graph, node.op, slot, other, sp)
                graph.replace_uses(out, result)
                replaced[out] = result


def _elementwise(graph, op: str, slot: int, t: Tensor, other, sp: _Rows) -> _Rows | None:
    """The sparse form of a zero-preserving op on `t`, or None when it has none."""
    if op == "Neg":
        return _Rows(sp.rows, B.unary("Neg", sp.values))
    if other is None or op not in ("Mul", "Div"):
        return None
    if other == t:
        return _Rows(sp.rows, B.mul(sp.values, sp.values)) if op == "Mul" else None
    if op == "Div" and slot != 0:
        return None
    if _scalar_like(other, t):
        factor = other
    elif _same_shape(other, t):
        factor = B.apply1("Gather", other, sp.rows, axis=0)
    else:
        return None
    if op == "Div":
        return _Rows(sp.rows, B.div(sp.values, factor))
    # Keep the operand order: the product is the same either way, but the graph reads as written.
    values = B.mul(sp.values, factor) if slot == 0 else B.mul(factor, sp.values)
    return _Rows(sp.rows, values)


def _scatter_into(graph, op: str, slot: int, other: Tensor, sp: _Rows) -> Tensor:
    """`other + t`, `other - t` or `t - other` with `t` given by its rows."""
    values = sp.values
    base = other
    if op == "Sub":
        if slot == 1:
            values = B.unary("Neg", values)  # other - t == other + (-t), exactly
        else:
            base = B.unary("Neg", other)  # t - other == (-other) + t, exactly
    return B.apply1("ScatterND", base, _as_slots(sp.rows), values, reduction="add")

