"""The lowering pipeline: select -> specialize -> autodiff -> updates -> row-sparse gradients ->
clean-up -> rewrites for the runtime's kernels -> inference forms of recurrences -> emit."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import onnx

from kgraph.ir import Graph, LoweringError, Tensor, Variable
from lowering.cleanup import eliminate_common_subexpressions, eliminate_dead_code
from lowering.emit import emit
from lowering.recurrent import lower_recurrences
from lowering.rewrite import gather_before_transpose, sums_as_products
from lowering.select import rebind, select
from lowering.sparse import sparsify_gradients
from lowering.specialize import specialize
from lowering.updates import collect_updates

__all__ = ["Program", "lower"]

MakeUpdates = Callable[[Tensor], Sequence[tuple[Variable, Tensor]]]
"""Given the program's loss tensor, returns the (variable, new value) pairs of one step; it
runs after mode specialization, inside the program graph, so `gradients` applies to it."""


@dataclass(frozen=True)
class Program:
    """A pure step function as an ONNX model: batch and state in, results and new state out."""

    name: str
    model: onnx.ModelProto
    feeds: tuple[str, ...]
    fetches: tuple[str, ...]
    state_in: tuple[tuple[str, Variable], ...]
    state_out: tuple[tuple[str, Variable], ...]
    graph: Graph


def lower(
    graph: Graph,
    feeds: Sequence[tuple[str, Tensor]],
    fetches: Sequence[tuple[str, Tensor]],
    *,
    training: bool,
    name: str,
    loss: Tensor | None = None,
    make_updates: MakeUpdates | None = None,
    state_updates: Sequence[tuple[Variable, Tensor]] = (),
    variables_as: str = "inputs",
    metadata: dict[str, str] | None = None,
) -> Program:
    """Lowers the part of `graph` that computes `fetches` (and, when `make_updates` is given,
    the update step that `make_updates` builds from `loss`) to one ONNX program."""
    roots = [t for _, t in fetches] + [t for _, t in state_updates]
    if loss is not None:
        roots.append(loss)
    g = select(graph, roots, name)
    chosen = specialize(g, training)
    fetches = [(n, _follow(chosen, rebind(g, t))) for n, t in fetches]
    feeds = [(n, rebind(g, t)) for n, t in feeds if t.node in g]
    updates = [(v, _follow(chosen, rebind(g, t))) for v, t in state_updates]
    if make_updates is not None:
        if loss is None:
            raise LoweringError("a training program needs a loss")
        loss = _follow(chosen, rebind(g, loss))
        with g.as_default():
            updates += list(make_updates(loss))
    updates = collect_updates(g, updates)
    state_out, taken = [], {n for n, _ in fetches}
    for v, t in updates:
        base = f"{v.op_name}__new".replace(":", "_")
        out_name, k = base, 1
        while out_name in taken:
            out_name, k = f"{base}_{k}", k + 1
        taken.add(out_name)
        state_out.append((out_name, t))
    outputs = list(fetches) + state_out
    sparse = sparsify_gradients(g)
    outputs = [(n, _follow(sparse, t)) for n, t in outputs]
    replaced = eliminate_common_subexpressions(g)
    outputs = [(n, _follow(replaced, t)) for n, t in outputs]
    moved = gather_before_transpose(g)
    outputs = [(n, _follow(moved, t)) for n, t in outputs]
    products = sums_as_products(g)
    outputs = [(n, _follow(products, t)) for n, t in outputs]
    eliminate_dead_code(g, [t for _, t in outputs])
    lowered = lower_recurrences(g)
    if lowered:
        outputs = [(n, _follow(lowered, t)) for n, t in outputs]
        eliminate_dead_code(g, [t for _, t in outputs])
    result = emit(g, feeds, outputs, variables_as=variables_as, name=name, metadata=metadata)
    onnx.checker.check_model(result.model)
    return Program(
        name=name,
        model=result.model,
        feeds=tuple(n for n, t in feeds if t.node in g),
        fetches=tuple(n for n, _ in fetches),
        state_in=tuple(result.state_inputs),
        state_out=tuple((n, v) for (n, _), (v, _) in zip(state_out, updates, strict=True)),
        graph=g,
    )


def _follow(replaced: dict[Tensor, Tensor], t: Tensor) -> Tensor:
    while t in replaced:
        t = replaced[t]
    return t
