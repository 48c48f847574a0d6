"""State updates: optimizer slots, counters and moving averages, with weight constraints."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from kgraph.ir import Graph, LoweringError, Tensor, Variable, provenance_scope
from kgraph.ir import build as B

__all__ = ["collect_updates"]

Update = tuple[Variable, Tensor]


def collect_updates(graph: Graph, updates: Sequence[Update]) -> list[Update]:
    """Checks and finishes the update list of a train program.

    Each variable may be updated once; new values are cast to the variable's dtype and
    checked against its shape; a variable's `constraint` is applied to its new value (Keras
    applies constraints after the optimizer step).
    """
    done: dict[Variable, Tensor] = {}
    with graph.as_default():
        for var, value in updates:
            if var in done:
                raise LoweringError(f"variable {var.name} is updated twice in one step")
            value = B.as_tensor(value, graph, var.dtype)
            value = B.cast(value, var.dtype)
            if value.shape != var.shape:
                if len(value.shape) != len(var.shape) or any(
                    d is not None and d != v for d, v in zip(value.shape, var.shape)
                ):
                    raise LoweringError(
                        f"update of {var.name}: new value {value.spec} does not match {var.spec}"
                    )
                value = B.reshape(value, list(var.shape))
            constraint: Callable | None = var.constraint
            if constraint is not None:
                with provenance_scope(f"constraint/{var.op_name}"):
                    value = B.cast(B.as_tensor(constraint(value), graph), var.dtype)
            done[var] = value
    return list(done.items())
