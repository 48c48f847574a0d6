"""kgraph's IR: a networkx-backed graph of ONNX-vocabulary ops with shape and VJP rules."""

from __future__ import annotations

from kgraph.ir import ops
from kgraph.ir.dtypes import DType, as_dtype
from kgraph.ir.errors import IRError, LoweringError, RegistryError, ShapeError
from kgraph.ir.graph import (
    Graph,
    Node,
    Tensor,
    current_provenance,
    get_default_graph,
    provenance_scope,
    reset_default_graph,
)
from kgraph.ir.spec import TensorSpec
from kgraph.ir.variable import Variable

__all__ = [
    "DType",
    "Graph",
    "IRError",
    "LoweringError",
    "Node",
    "RegistryError",
    "ShapeError",
    "Tensor",
    "TensorSpec",
    "Variable",
    "as_dtype",
    "current_provenance",
    "get_default_graph",
    "ops",
    "provenance_scope",
    "reset_default_graph",
]
