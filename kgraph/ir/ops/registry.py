"""The op registry: one entry per op type with its shape rule and its VJP rule side by side."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from kgraph.ir.errors import RegistryError, ShapeError
from kgraph.ir.spec import TensorSpec, format_shape

if TYPE_CHECKING:
    from kgraph.ir.graph import Graph, Tensor

__all__ = [
    "OpDef", "VjpContext", "EmitContext", "register", "get_op", "registered_ops", "infer_outputs",
]  # fmt: skip

InferFn = Callable[[list[TensorSpec], dict[str, Any], list["np.ndarray | None"]], list[TensorSpec]]


@dataclass
class VjpContext:
    """What a VJP rule sees: the node's inputs, outputs and attributes, and which inputs
    need a cotangent (rules may skip the others)."""

    inputs: list[Tensor]
    outputs: list[Tensor]
    attrs: dict[str, Any]
    needs: list[bool] = field(default_factory=list)

    @property
    def x(self) -> Tensor:
        return self.inputs[0]

    @property
    def y(self) -> Tensor:
        return self.outputs[0]


VjpFn = Callable[..., Sequence["Tensor | None"]]


@dataclass(frozen=True)
class EmitContext:
    """What an emission rule sees: the node's attributes, the ONNX names of its inputs and
    the names its outputs must get, their specs, and `fresh(base)`, which returns a new
    graph-unique name for any intermediate (subgraph names included)."""

    attrs: dict[str, Any]
    inputs: list[str]
    outputs: list[str]
    input_specs: list[TensorSpec]
    output_specs: list[TensorSpec]
    fresh: Callable[[str], str]


EmitFn = Callable[[EmitContext], list[Any]]
"""Returns the ONNX NodeProtos (in order) that compute the node's outputs."""


@dataclass(frozen=True)
class OpDef:
    """An op type of the IR vocabulary.

    `infer` maps input specs, attributes and constant input values to output specs.
    `vjp(ctx, *cotangents)` returns one cotangent (or None) per input; None as the rule
    itself marks the op as not differentiable. `const_inputs` names attributes that ONNX
    takes as int64 inputs (appended after the tensor inputs at emission). `meta` ops exist
    only in the IR and must be gone before emission.
    """

    name: str
    infer: InferFn
    vjp: VjpFn | None = None
    const_inputs: tuple[str, ...] = ()
    meta: bool = False
    domain: str = ""
    emit_as: str | None = None
    """The ONNX op emitted for an IR op that exists only to carry a different rule
    (StopGradient is emitted as Identity)."""
    emit: EmitFn | None = None
    """For an IR op that is not one ONNX node (a whole recurrence becomes a Scan with a
    body graph): builds its ONNX nodes."""


_REGISTRY: dict[str, OpDef] = {}


def register(
    name: str,
    infer: InferFn,
    vjp: VjpFn | None = None,
    *,
    const_inputs: tuple[str, ...] = (),
    meta: bool = False,
    emit_as: str | None = None,
    emit: EmitFn | None = None,
) -> OpDef:
    """Registers an op type. Registering a name twice is an error."""
    if name in _REGISTRY:
        raise RegistryError(f"op {name!r} is already registered")
    op = OpDef(name, infer, vjp, const_inputs, meta, emit_as=emit_as, emit=emit)
    _REGISTRY[name] = op
    return op


def get_op(name: str) -> OpDef:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise RegistryError(f"unknown op {name!r}") from None


def registered_ops() -> dict[str, OpDef]:
    return dict(_REGISTRY)


def infer_outputs(
    op: str, graph: Graph, inputs: list[Tensor], attrs: dict[str, Any]
) -> list[TensorSpec]:
    """Runs the shape rule; a failure becomes a ShapeError naming the op, specs and layer."""
    from kgraph.ir.graph import current_provenance

    definition = get_op(op)
    specs = [t.spec for t in inputs]
    consts = [graph.const_value(t) for t in inputs]
    try:
        return list(definition.infer(specs, attrs, consts))
    except ShapeError as err:
        where = current_provenance()
        layer = f' in layer "{where}"' if where else ""
        shown = ", ".join(f"{s.dtype.short}{format_shape(s.shape)}" for s in specs)
        raise ShapeError(f"{op}{layer}: {err} (inputs: {shown})") from None
