"""Program selection: copy out the part of the model graph one program needs."""

from __future__ import annotations

from collections.abc import Sequence

from kgraph.ir import Graph, Tensor

__all__ = ["select", "rebind"]


def select(graph: Graph, outputs: Sequence[Tensor], name: str) -> Graph:
    """A new graph holding copies of every node that `outputs` depend on (same node ids)."""
    return graph.subgraph(graph.ancestors(outputs), name=name)


def rebind(graph: Graph, t: Tensor) -> Tensor:
    """The tensor of `graph` that stands for `t` of the graph it was selected from."""
    return Tensor(graph, t.node, t.index)
