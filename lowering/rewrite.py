"""Rewrites that move data movement onto smaller tensors, before emission.

`gather_before_transpose`: an embedding lookup followed by a transpose that keeps the
embedding axis last (the batch-major to time-major step in front of every recurrence) is
the lookup of transposed indices: `Transpose(Gather(T, I), p) == Gather(T, Transpose(I,
p[:k]))` for k index axes. The transpose then moves k-axis integer indices instead of the
looked-up vectors (for the reference LSTM: 40 KB instead of 5 MB a batch). A `Shape` of
the lookup is rebuilt from the indices and the table, so the original lookup goes dead.

`sums_as_products`: onnxruntime's CPU ReduceSum and ReduceMean are slow over leading axes
(a bias gradient, the batch statistics of a channels-last BatchNormalization): summing a
(128, 512) cotangent over its rows takes 80 us, a (73728, 64) one 2.5 ms. The same sum is a
row of ones times the matrix, which the GEMM kernel does in 12 us and 0.33 ms. A reduction
over leading and trailing axes (a channels-first conv bias gradient) first sums the trailing,
contiguous axes, where ReduceSum is fast, then the leading ones as a product.
"""

from __future__ import annotations

import math

import numpy as np

from kgraph.ir import DType, Graph, Tensor
from kgraph.ir import build as B

__all__ = ["gather_before_transpose", "sums_as_products"]


def _lookup_shape(graph: Graph, table: Tensor, idx: Tensor) -> Tensor:
    """Shape(Gather(table, idx)) from its inputs: idx's shape, then the table's rows'."""
    tail = table.shape[1:]
    if None in tail:
        rows = B.apply1("Slice", B.apply1("Shape", table), starts=(1,), ends=(table.ndim,), axes=(0,), steps=(1,))
    else:
        rows = graph.constant(np.asarray(tail, np.int64))
    return B.apply1("Concat", B.apply1("Shape", idx), rows, axis=0)


def gather_before_transpose(graph: Graph) -> dict[Tensor, Tensor]:
    """Applies the rewrite wherever it fits; returns replaced tensors -> replacements."""
    replaced: dict[Tensor, Tensor] = {}
    with graph.as_default():
        for node in list(graph.nodes()):
            if node.op != "Transpose" or node.id not in graph:
                continue
            looked_up = graph.inputs(node.id)[0]
            lookup = graph.node(looked_up.node)
            if lookup.op != "Gather" or lookup.attrs.get("axis", 0) != 0:
                continue
            table, idx = graph.inputs(lookup.id)
            k, perm = idx.ndim, tuple(node.attrs["perm"])
            if perm[k:] != tuple(range(k, len(perm))):
                continue
            others = [graph.node(dst) for dst, _ in graph.consumers(looked_up) if dst != node.id]
            if any(o.op != "Shape" or o.attrs.get("start") or o.attrs.get("end") for o in others):
                continue  # the lookup is needed anyway: moving the transpose gains nothing
            out = Tensor(graph, node.id)
            new = B.apply1("Gather", table, B.apply1("Transpose", idx, perm=perm[:k]), axis=0)
            graph.replace_uses(out, new)
            replaced[out] = new
            for other in others:
                shape_out = Tensor(graph, other.id)
                rebuilt = _lookup_shape(graph, table, idx)
                graph.replace_uses(shape_out, rebuilt)
                replaced[shape_out] = rebuilt
    return replaced


_PRODUCT_SUMS = ("ReduceSum", "ReduceMean")
_MIN_ELEMENTS = 4096
"""A reduction of fewer elements (when the size is known) stays as it is: no time to gain."""
_MAX_CONSTANT_ROWS = 1 << 16
"""A ones row longer than this is built at run time rather than stored in the model."""


def sums_as_products(graph: Graph) -> dict[Tensor, Tensor]:
    """Rewrites float ReduceSum/ReduceMean over leading axes as a ones-row MatMul; returns
    replaced tensors -> replacements."""
    replaced: dict[Tensor, Tensor] = {}
    with graph.as_default():
        for node in list(graph.nodes()):
            if node.op not in _PRODUCT_SUMS or node.id not in graph:
                continue
            x = graph.inputs(node.id)[0]
            plan = _leading_plan(x, node.attrs.get("axes"))
            if plan is None:
                continue
            lead, kept, trail = plan
            out = Tensor(graph, node.id)
            new = _product_sum(graph, x, node.op, lead, kept, trail, bool(node.attrs.get("keepdims", 1)))
            graph.replace_uses(out, new)
            replaced[out] = new
    return replaced


def _leading_plan(x: Tensor, axes) -> tuple[int, int, int] | None:
    """(leading, kept, trailing) axis counts when `axes` are the first `leading` (at least one)
    and the last `trailing` axes of a float `x`, and the axes between them, at least one, have
    static sizes; else None."""
    if x.dtype not in (DType.float32, DType.float64) or x.ndim < 2:
        return None
    rank = x.ndim
    reduced = set(range(rank)) if not axes else {int(a) % rank for a in axes}
    lead = 0
    while lead in reduced:
        lead += 1
    trail = len(reduced) - lead
    kept = rank - lead - trail
    if lead == 0 or kept <= 0 or reduced != set(range(lead)) | set(range(rank - trail, rank)):
        return None
    if any(d is None for d in x.shape[lead : lead + kept]):
        return None
    if all(d is not None for d in x.shape) and math.prod(x.shape) < _MIN_ELEMENTS:
        return None
    return lead, kept, trail


def _product_sum(graph: Graph, x: Tensor, op: str, lead: int, kept: int, trail: int, keepdims: bool) -> Tensor:
    rank = x.ndim
    kept_dims = [int(d) for d in x.shape[lead : lead + kept]]
    if trail:
        x = B.reduce(op, x, list(range(rank - trail, rank)), keepdims=False)
    rows = B.reshape(x, [-1, math.prod(kept_dims)])
    n_rows = math.prod(x.shape[:lead]) if all(d is not None for d in x.shape[:lead]) else None
    if n_rows is not None and n_rows <= _MAX_CONSTANT_ROWS:
        ones = graph.constant(np.ones((1, n_rows), x.dtype.numpy))
        count = graph.constant(np.asarray(n_rows, x.dtype.numpy))
    else:
        m = B.apply1("Slice", B.apply1("Shape", rows), starts=(0,), ends=(1,), axes=(0,), steps=(1,))
        size = B.apply1("Concat", graph.constant(np.array([1], np.int64)), m, axis=0)
        ones = B.apply1("Expand", graph.constant(np.ones((1, 1), x.dtype.numpy)), size)
        count = B.cast(m, x.dtype)
    total = B.matmul(ones, rows)  # (1, N)
    if op == "ReduceMean":
        total = B.div(total, count)
    shape = [1] * lead + kept_dims + [1] * trail if keepdims else kept_dims
    return B.reshape(total, shape)
