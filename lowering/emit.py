"""Emission: an IR graph becomes an ONNX ModelProto (nearly 1:1 with the IR vocabulary)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import helper, numpy_helper

from kgraph.ir import Graph, LoweringError, Tensor
from kgraph.ir.dtypes import DType
from kgraph.ir.ops import OPSET, get_op
from kgraph.ir.ops.registry import EmitContext

__all__ = ["emit", "EmitResult", "IR_VERSION"]

IR_VERSION = 9
"""ONNX IR version of emitted files: old enough for every maintained onnxruntime."""


@dataclass(frozen=True)
class EmitResult:
    model: onnx.ModelProto
    state_inputs: list[tuple[str, object]]
    """(graph input name, Variable) for each variable read, when variables are inputs."""


def _attr_value(value):
    if isinstance(value, DType):
        return value.onnx
    if isinstance(value, np.ndarray):
        # ONNX tensor attributes (ConstantOfShape's value) are one-element 1-D tensors.
        return numpy_helper.from_array(value.reshape(1) if value.ndim == 0 else value)
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple):
        return list(value)
    return value


def _value_info(name: str, spec, batch_param: str | None) -> onnx.ValueInfoProto:
    dims = [
        (batch_param if i == 0 and batch_param else None) if d is None else d
        for i, d in enumerate(spec.shape)
    ]
    return helper.make_tensor_value_info(name, spec.dtype.onnx, dims)


def emit(
    graph: Graph,
    inputs: Sequence[tuple[str, Tensor]],
    outputs: Sequence[tuple[str, Tensor]],
    *,
    variables_as: str = "inputs",
    name: str = "kgraph",
    opset: int = OPSET,
    batch_param: str | None = "batch",
    metadata: dict[str, str] | None = None,
) -> EmitResult:
    """Emits `graph` with the named Placeholder inputs and named outputs.

    `variables_as` is "inputs" (state fed at run time) or "initializers" (weights baked in).
    """
    if variables_as not in ("inputs", "initializers"):
        raise ValueError(f"variables_as must be 'inputs' or 'initializers', got {variables_as!r}")
    names: dict[Tensor, str] = {}
    used: set[str] = set()

    def unique(base: str) -> str:
        base = base.replace(":", "_") or "t"
        cand, k = base, 1
        while cand in used:
            cand, k = f"{base}_{k}", k + 1
        used.add(cand)
        return cand

    graph_inputs, initializers, nodes = [], [], []
    # The rank of every intermediate: onnxruntime's transpose optimizer moves a Transpose
    # past an op only when it knows the rank, and ONNX inference cannot give it for ops
    # whose output shape is a runtime input (MaxUnpool). Sizes stay to ONNX inference.
    ranks: list[onnx.ValueInfoProto] = []
    state_inputs: list[tuple[str, object]] = []
    feed_nodes = {t.node: n for n, t in inputs}
    direct: dict[Tensor, str] = {}
    for out_name, t in outputs:
        if t not in direct and graph.node(t.node).op not in ("Placeholder", "Variable", "Constant"):
            direct[t] = out_name
            used.add(out_name)
    for node in graph.nodes():
        out = Tensor(graph, node.id, 0)
        if node.op == "Placeholder":
            if node.id not in feed_nodes:
                raise LoweringError(
                    f"the program needs input {node.attrs['name']!r}, which was not provided"
                )
            names[out] = unique(feed_nodes[node.id])
            graph_inputs.append(_value_info(names[out], node.outputs[0], batch_param))
        elif node.op == "Variable":
            var = node.attrs["var"]
            names[out] = unique(var.op_name)
            if variables_as == "inputs":
                graph_inputs.append(_value_info(names[out], node.outputs[0], None))
                state_inputs.append((names[out], var))
            else:
                initializers.append(numpy_helper.from_array(var.value, names[out]))
        elif node.op == "Constant":
            names[out] = unique(f"const_{node.id}")
            initializers.append(numpy_helper.from_array(np.asarray(node.attrs["value"]), names[out]))
        else:
            op = get_op(node.op)
            if op.meta:
                raise LoweringError(f"meta op {node.op} (node %{node.id}) reached emission")
            args = [names[t] for t in graph.inputs(node.id)]
            outs = []
            for t in graph.outputs(node.id):
                names[t] = direct.get(t) or unique(f"t{node.id}" + (f"_{t.index}" if t.index else ""))
                outs.append(names[t])
            if op.emit is not None:
                specs = [t.spec for t in graph.inputs(node.id)]
                ctx = EmitContext(dict(node.attrs), args, outs, specs, list(node.outputs), unique)
                nodes.extend(op.emit(ctx))
                continue
            attrs = {}
            for key, value in node.attrs.items():
                if key in op.const_inputs:
                    continue
                if value is not None:
                    attrs[key] = _attr_value(value)
            for key in op.const_inputs:
                value = node.attrs.get(key)
                if value is None:
                    args.append("")
                    continue
                cname = unique(f"{key}_{node.id}")
                initializers.append(numpy_helper.from_array(np.asarray(value, np.int64), cname))
                args.append(cname)
            while args and args[-1] == "":
                args.pop()
            nodes.append(helper.make_node(op.emit_as or node.op, args, outs, name=f"n{node.id}", **attrs))
            ranks.extend(
                helper.make_tensor_value_info(names[t], t.spec.dtype.onnx, [None] * t.spec.rank)
                for t in graph.outputs(node.id)
                if t.spec.rank is not None and t not in direct
            )

    graph_outputs = []
    for out_name, t in outputs:
        if direct.get(t) != out_name:
            if out_name in used:
                raise LoweringError(f"output name {out_name!r} clashes with another tensor")
            used.add(out_name)
            nodes.append(helper.make_node("Identity", [names[t]], [out_name], name=f"out_{out_name}"))
        graph_outputs.append(_value_info(out_name, t.spec, batch_param))

    onnx_graph = helper.make_graph(
        nodes, name, graph_inputs, graph_outputs, initializer=initializers, value_info=ranks
    )
    model = helper.make_model(
        onnx_graph,
        opset_imports=[helper.make_opsetid("", opset)],
        producer_name="kgraph",
        ir_version=IR_VERSION,
    )
    for key, value in (metadata or {}).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    return EmitResult(model, state_inputs)
