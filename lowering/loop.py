"""Loop lowering: many steps of a program in one ONNX `Loop` over stacked feeds.

A lowered program is a pure step function (feeds and state in, fetches and new state out).
`loop_steps` wraps its graph as the body of an ONNX `Loop`: each feed becomes a stack of
feeds along a new leading axis, iteration `i` reads slice `i`, the updated state is carried
from one iteration to the next, and each fetch is collected per iteration (the Loop's scan
outputs). One onnxruntime call then runs as many steps as the feeds have slices, with the
same results as that many calls of the step program, in the same order.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from kgraph.ir import LoweringError
from lowering.pipeline import Program

__all__ = ["loop_steps", "STEPS_DIM"]

STEPS_DIM = "steps"
"""The symbolic name of the new leading axis of stacked feeds and fetches."""

_P = "loop/"  # prefix of every name inside the body, so none shadows an outer-scope name


def _typed(vi: onnx.ValueInfoProto, name: str, lead: str | None = None) -> onnx.ValueInfoProto:
    """A copy of `vi` renamed, with an optional new leading symbolic axis."""
    out = onnx.ValueInfoProto()
    out.CopyFrom(vi)
    out.name = name
    if lead is not None:
        dims = out.type.tensor_type.shape.dim
        new = onnx.TensorShapeProto.Dimension(dim_param=lead)
        dims.insert(0, new)
    return out


def _rename_free_names(graph: onnx.GraphProto, rename: Callable[[str], str]) -> None:
    """Renames, in place, the names a subgraph reads from enclosing scopes; names it defines
    itself (inputs, initializers, node outputs) stay."""
    local = {vi.name for vi in graph.input} | {t.name for t in graph.initializer}
    local |= {o for node in graph.node for o in node.output}

    def inner(n: str) -> str:
        return n if not n or n in local else rename(n)

    for node in graph.node:
        node.input[:] = [inner(n) for n in node.input]
        _rename_subgraphs(node, inner)
    for vi in graph.output:
        vi.name = inner(vi.name)


def _rename_subgraphs(node: onnx.NodeProto, rename: Callable[[str], str]) -> None:
    for attr in node.attribute:
        if attr.type == onnx.AttributeProto.GRAPH:
            _rename_free_names(attr.g, rename)
        elif attr.type == onnx.AttributeProto.GRAPHS:
            for g in attr.graphs:
                _rename_free_names(g, rename)


def _rename_graph(graph: onnx.GraphProto, rename: Callable[[str], str]) -> tuple[list, list]:
    """Copies of the graph's nodes and initializers with every value name passed through
    `rename`, including the outer-scope names that subgraphs (an RNN's Scan) read."""
    nodes = []
    for node in graph.node:
        copy = onnx.NodeProto()
        copy.CopyFrom(node)
        copy.name = _P + node.name if node.name else ""
        copy.input[:] = [rename(n) if n else "" for n in node.input]
        copy.output[:] = [rename(n) if n else "" for n in node.output]
        _rename_subgraphs(copy, rename)
        nodes.append(copy)
    inits = []
    for init in graph.initializer:
        copy = onnx.TensorProto()
        copy.CopyFrom(init)
        copy.name = rename(init.name)
        inits.append(copy)
    return nodes, inits


def loop_steps(program: Program, name: str | None = None) -> Program:
    """Wraps a step program so that one call runs one step per slice of its stacked feeds.

    Each feed `f` of shape `(batch, ...)` becomes an input `f` of shape `(steps, batch,
    ...)`; each fetch becomes `(steps, ...)`, holding every step's value; state inputs and
    outputs keep their names, so the same device buffers serve both programs. State that a
    step updates is carried between iterations; state it only reads is read from the outer
    scope (the Loop body sees the caller's value). The number of steps is the leading size
    of the first feed.

    Args:
        program: a lowered program with at least one feed.
        name: the new program's name (default: the program's name + "_loop").

    Returns:
        A Program whose `state_in` also lists the variables the step writes without reading
        (their current values seed the loop).

    Raises:
        LoweringError: the program has no feeds.
    """
    if not program.feeds:
        raise LoweringError(f"loop_steps needs a program with feeds; {program.name!r} has none")
    graph = program.model.graph
    inputs = {vi.name: vi for vi in graph.input}
    outputs = {vi.name: vi for vi in graph.output}
    state_in = {id(var): n for n, var in program.state_in}
    # Carried state: (outer initial value, body input, body output, outer final value).
    carried, extra_in = [], []
    for out_name, var in program.state_out:
        init = state_in.get(id(var))
        if init is None:  # written but never read: its current value seeds the loop
            init = f"{out_name}__init"
            extra_in.append((init, var))
            inputs[init] = _typed(outputs[out_name], init)
        carried.append((init, _P + "carry/" + init, _P + out_name, out_name))
    body_in = {init: b for init, b, _, _ in carried}
    read_only = {n for n, _ in program.state_in} - set(body_in)

    def rename(n: str) -> str:
        if n in read_only:
            return n  # outer scope
        if n in body_in:
            return body_in[n]
        return _P + n

    nodes, inits = _rename_graph(graph, rename)
    step, cond = _P + "iteration", _P + "cond"
    gathers = [
        helper.make_node("Gather", [f, step], [_P + f], name=f"{_P}slice_{f}", axis=0)
        for f in program.feeds
    ]
    keep = helper.make_node("Identity", [cond], [_P + "cond_out"], name=_P + "cond_out")
    body = helper.make_graph(
        gathers + nodes + [keep],
        f"{program.name}_step",
        [helper.make_tensor_value_info(step, TensorProto.INT64, []),
         helper.make_tensor_value_info(cond, TensorProto.BOOL, [])]
        + [_typed(inputs[init], b) for init, b, _, _ in carried],
        [helper.make_tensor_value_info(_P + "cond_out", TensorProto.BOOL, [])]
        + [_typed(outputs[out], b_out) for _, _, b_out, out in carried]
        + [_typed(outputs[f], _P + f) for f in program.fetches],
        initializer=inits,
    )  # fmt: skip

    first = program.feeds[0]
    outer_nodes = [
        helper.make_node("Shape", [first], ["loop_steps_shape"], name="loop_steps_shape", start=0, end=1),
        helper.make_node("Squeeze", ["loop_steps_shape", "loop_axis0"], ["loop_trip_count"], name="loop_trip_count"),
        helper.make_node(
            "Loop", ["loop_trip_count", "loop_true"] + [init for init, _, _, _ in carried],
            [out for _, _, _, out in carried] + list(program.fetches), name="loop", body=body,
        ),
    ]  # fmt: skip
    outer_inits = [
        numpy_helper.from_array(np.asarray([0], dtype=np.int64), "loop_axis0"),
        helper.make_tensor("loop_true", TensorProto.BOOL, [], [True]),
    ]
    state_names = [n for n, _ in program.state_in] + [n for n, _ in extra_in]
    outer = helper.make_graph(
        outer_nodes,
        name or f"{program.name}_loop",
        [_typed(inputs[f], f, STEPS_DIM) for f in program.feeds] + [inputs[n] for n in state_names],
        [_typed(outputs[f], f, STEPS_DIM) for f in program.fetches]
        + [outputs[out] for _, _, _, out in carried],
        initializer=outer_inits,
    )  # fmt: skip
    model = helper.make_model(outer, opset_imports=list(program.model.opset_import),
                              producer_name="kgraph", ir_version=program.model.ir_version)  # fmt: skip
    model.metadata_props.extend(program.model.metadata_props)
    onnx.checker.check_model(model)
    return Program(
        name=name or f"{program.name}_loop",
        model=model,
        feeds=program.feeds,
        fetches=program.fetches,
        state_in=tuple(program.state_in) + tuple(extra_in),
        state_out=tuple(program.state_out),
        graph=program.graph,
    )
