"""The IR graph: one node per op application, one edge per tensor use, over networkx."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import numpy as np

from kgraph.ir.dtypes import DType, as_dtype
from kgraph.ir.spec import TensorSpec
from kgraph.ir.variable import Variable

__all__ = [
    "Graph",
    "Node",
    "Tensor",
    "get_default_graph",
    "reset_default_graph",
    "provenance_scope",
    "current_provenance",
]


@dataclass(frozen=True)
class Node:
    """One op application: its type, attributes, output specs and where it came from."""

    id: int
    op: str
    attrs: dict[str, Any] = field(hash=False, compare=False)
    outputs: tuple[TensorSpec, ...]
    provenance: str | None = None


@dataclass(eq=False)
class Tensor:
    """A symbolic tensor: output `index` of node `node` in `graph`.

    Not frozen: the Keras front end records layer-call history on the tensors it returns.
    """

    graph: Graph
    node: int
    index: int = 0

    @property
    def spec(self) -> TensorSpec:
        return self.graph.node(self.node).outputs[self.index]

    @property
    def shape(self) -> tuple[int | None, ...]:
        return self.spec.shape

    @property
    def dtype(self) -> DType:
        return self.spec.dtype

    @property
    def ndim(self) -> int:
        return len(self.spec.shape)

    @property
    def op(self) -> str:
        return self.graph.node(self.node).op

    def __hash__(self) -> int:
        return hash((id(self.graph), self.node, self.index))

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Tensor)
            and other.graph is self.graph
            and other.node == self.node
            and other.index == self.index
        )

    def __repr__(self) -> str:
        return f"<Tensor %{self.node}:{self.index} {self.spec}>"

    def __bool__(self) -> bool:
        raise TypeError(
            "A symbolic kgraph tensor has no truth value; use kgraph.backend.switch or "
            "comparisons that build graph ops instead of Python `if`."
        )

    # Operators build IR through the op builders (imported lazily to avoid a cycle).
    def __add__(self, o):
        return _b().add(self, o)

    def __radd__(self, o):
        return _b().add(o, self)

    def __sub__(self, o):
        return _b().sub(self, o)

    def __rsub__(self, o):
        return _b().sub(o, self)

    def __mul__(self, o):
        return _b().mul(self, o)

    def __rmul__(self, o):
        return _b().mul(o, self)

    def __truediv__(self, o):
        return _b().div(self, o)

    def __rtruediv__(self, o):
        return _b().div(o, self)

    def __floordiv__(self, o):
        return _b().floordiv(self, o)

    def __rfloordiv__(self, o):
        return _b().floordiv(o, self)

    def __mod__(self, o):
        return _b().floormod(self, o)

    def __rmod__(self, o):
        return _b().floormod(o, self)

    def __pow__(self, o):
        return _b().pow(self, o)

    def __rpow__(self, o):
        return _b().pow(o, self)

    def __neg__(self):
        return _b().unary("Neg", self)

    def __abs__(self):
        return _b().unary("Abs", self)

    def __lt__(self, o):
        return _b().binary("Less", self, o)

    def __le__(self, o):
        return _b().binary("LessOrEqual", self, o)

    def __gt__(self, o):
        return _b().binary("Greater", self, o)

    def __ge__(self, o):
        return _b().binary("GreaterOrEqual", self, o)

    def __getitem__(self, key):
        return _b().getitem(self, key)

    def __iter__(self):
        # Without this, Python iterates through __getitem__ until an IndexError that a
        # runtime-sized axis never raises.
        if not self.shape or self.shape[0] is None:
            raise TypeError(
                f"A tensor is iterable only along a first axis of known size; this one has shape "
                f"{self.shape}"
            )
        return (self[i] for i in range(self.shape[0]))


def _b():
    from kgraph.ir import build

    return build


_provenance: list[str] = []


@contextlib.contextmanager
def provenance_scope(name: str) -> Iterator[None]:
    """Nodes added inside this block record `name` (a layer name) as their provenance."""
    _provenance.append(name)
    try:
        yield
    finally:
        _provenance.pop()


def current_provenance() -> str | None:
    return _provenance[-1] if _provenance else None


class Graph:
    """A dataflow graph of IR nodes. Rule code uses these methods, never networkx itself."""

    def __init__(self, name: str = "graph") -> None:
        self.name = name
        self._g = nx.MultiDiGraph()
        self._ids = itertools.count()
        self._reads: dict[Variable, Tensor] = {}

    # -- building -------------------------------------------------------------------------
    def add_node(
        self,
        op: str,
        inputs: Sequence[Tensor],
        attrs: dict[str, Any] | None = None,
        outputs: Sequence[TensorSpec] | None = None,
        provenance: str | None = None,
    ) -> list[Tensor]:
        """Adds one op application; runs the op's shape rule unless `outputs` is given."""
        from kgraph.ir.ops.registry import infer_outputs

        attrs = dict(attrs or {})
        for t in inputs:
            if t.graph is not self:
                raise ValueError(f"{op}: input {t} belongs to another graph")
        if outputs is None:
            outputs = infer_outputs(op, self, list(inputs), attrs)
        nid = next(self._ids)
        node = Node(nid, op, attrs, tuple(outputs), provenance or current_provenance())
        self._g.add_node(nid, node=node)
        for slot, t in enumerate(inputs):
            self._g.add_edge(t.node, nid, key=slot, out=t.index)
        return [Tensor(self, nid, i) for i in range(len(outputs))]

    def read(self, var: Variable) -> Tensor:
        """The tensor holding `var`'s value in this graph (one read node per variable)."""
        t = self._reads.get(var)
        if t is None or t.node not in self._g:
            (t,) = self.add_node("Variable", [], {"var": var}, [var.spec], provenance=None)
            self._reads[var] = t
        return t

    def constant(self, value: Any, dtype: Any = None) -> Tensor:
        array = np.asarray(value, dtype=None if dtype is None else as_dtype(dtype).numpy)
        spec = TensorSpec(tuple(array.shape), as_dtype(array.dtype))
        (t,) = self.add_node("Constant", [], {"value": array}, [spec])
        return t

    def placeholder(self, shape: Sequence[int | None], dtype: Any, name: str) -> Tensor:
        spec = TensorSpec(tuple(shape), as_dtype(dtype))
        (t,) = self.add_node("Placeholder", [], {"name": name}, [spec], provenance=name)
        return t

    @contextlib.contextmanager
    def as_default(self) -> Iterator[Graph]:
        _default_stack.append(self)
        try:
            yield self
        finally:
            _default_stack.pop()

    # -- queries --------------------------------------------------------------------------
    def node(self, nid: int) -> Node:
        return self._g.nodes[nid]["node"]

    def __contains__(self, nid: int) -> bool:
        return nid in self._g

    def __len__(self) -> int:
        return self._g.number_of_nodes()

    def nodes(self) -> list[Node]:
        return [self.node(n) for n in self.topo_order()]

    def inputs(self, nid: int) -> list[Tensor]:
        """The node's input tensors, in input order."""
        edges = sorted(self._g.in_edges(nid, keys=True, data="out"), key=lambda e: e[2])
        return [Tensor(self, src, out) for src, _, _, out in edges]

    def consumers(self, t: Tensor) -> list[tuple[int, int]]:
        """(node, input slot) pairs that use tensor `t`."""
        return [
            (dst, slot)
            for _, dst, slot, out in self._g.out_edges(t.node, keys=True, data="out")
            if out == t.index
        ]

    def outputs(self, nid: int) -> list[Tensor]:
        return [Tensor(self, nid, i) for i in range(len(self.node(nid).outputs))]

    def topo_order(self) -> list[int]:
        return list(nx.lexicographical_topological_sort(self._g))

    def ancestors(self, tensors: Iterable[Tensor]) -> set[int]:
        """Every node that the given tensors depend on, themselves included."""
        found: set[int] = set()
        for t in tensors:
            if t.node not in found:
                found |= nx.ancestors(self._g, t.node) | {t.node}
        return found

    def descendants(self, nodes: Iterable[int]) -> set[int]:
        found: set[int] = set()
        for n in nodes:
            if n not in found:
                found |= nx.descendants(self._g, n) | {n}
        return found

    def const_value(self, t: Tensor) -> np.ndarray | None:
        """The value of `t` if it is a Constant node's output, else None."""
        node = self.node(t.node)
        return node.attrs["value"] if node.op == "Constant" else None

    def variables(self) -> list[Variable]:
        return [n.attrs["var"] for n in self.nodes() if n.op == "Variable"]

    # -- rewriting ------------------------------------------------------------------------
    def subgraph(self, keep: Iterable[int], name: str | None = None) -> Graph:
        """A new graph with copies of the given nodes (same ids, same edges between them)."""
        g = Graph(name or self.name)
        g._g = self._g.subgraph(set(keep)).copy()
        g._ids = itertools.count(max(self._g.nodes, default=-1) + 1)
        g._reads = {
            v: Tensor(g, t.node, t.index) for v, t in self._reads.items() if t.node in g._g
        }
        return g

    def replace_uses(self, old: Tensor, new: Tensor) -> None:
        """Makes every consumer of `old` read `new` instead."""
        if old == new:
            return
        for dst, slot in self.consumers(old):
            self._g.remove_edge(old.node, dst, key=slot)
            self._g.add_edge(new.node, dst, key=slot, out=new.index)

    def remove_nodes(self, nids: Iterable[int]) -> None:
        nids = set(nids)
        self._g.remove_nodes_from(nids)
        self._reads = {v: t for v, t in self._reads.items() if t.node not in nids}

    def __str__(self) -> str:
        lines = [f"graph {self.name}:"]
        for node in self.nodes():
            outs = ", ".join(f"%{node.id}:{i}: {s}" for i, s in enumerate(node.outputs))
            if len(node.outputs) == 1:
                outs = f"%{node.id}: {node.outputs[0]}"
            args = " ".join(f"%{t.node}" + (f":{t.index}" if t.index else "") for t in self.inputs(node.id))
            attrs = _format_attrs(node.attrs)
            where = f"   # {node.provenance}" if node.provenance else ""
            lines.append(f"  {outs} = {node.op}{attrs} {args}".rstrip() + where)
        return "\n".join(lines)


def _format_attrs(attrs: dict[str, Any]) -> str:
    if not attrs:
        return ""
    parts = []
    for k, v in attrs.items():
        if isinstance(v, np.ndarray):
            v = repr(v.item()) if v.size == 1 else f"<{v.dtype}{list(v.shape)}>"
        elif isinstance(v, Variable):
            v = v.name
        parts.append(f"{k}={v}")
    return "{" + ", ".join(parts) + "}"


_root_graph = Graph("default")
_default_stack: list[Graph] = []


def get_default_graph() -> Graph:
    """The graph that layer calls and backend ops build into."""
    return _default_stack[-1] if _default_stack else _root_graph


def reset_default_graph() -> None:
    global _root_graph
    _root_graph = Graph("default")
