"""Re-targets an emitted ONNX model to an older opset, for runtimes that load only those.

kgraph emits opset 18. Between opsets 11 and 18 most operator revisions added optional
inputs or attributes, or widened type lists, leaving a node's meaning unchanged when it
does not use them (Pad's `axes`, Shape's `start`, Reshape's `allowzero`, Add on bfloat16,
...). A few moved an attribute to a constant input (Reduce* `axes` at 18; ReduceSum,
Squeeze and Unsqueeze `axes` and Split `split` at 13), Split gained `num_outputs` at 18,
and Softmax-like ops worked on a 2-D view before 13. `downgrade` rewrites those, keeps
every other node as it is when the older schema accepts it, and refuses (naming the node)
when it does not, for instance the bitwise ops of dropout's hash, which opset 18 added.
(`onnx.version_converter` lacks adapters for several of these steps, such as Pad 18->17.)
"""

from __future__ import annotations

import onnx
from onnx import defs, helper, numpy_helper

__all__ = ["MIN_OPSET", "downgrade"]

MIN_OPSET = 11

# (op, the opset that made an attribute a constant input) -> (input position, attribute)
_INPUT_WAS_ATTRIBUTE = {
    **{(op, 18): (1, "axes") for op in (
        "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
        "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare")},
    ("ReduceSum", 13): (1, "axes"),
    ("Squeeze", 13): (1, "axes"),
    ("Unsqueeze", 13): (1, "axes"),
    ("Split", 13): (1, "split"),
}  # fmt: skip
# Opset 12 added these comparisons; before it they are the negated strict one.
_NEGATED = {"GreaterOrEqual": "Less", "LessOrEqual": "Greater"}
# Before opset 13 these flattened their input to 2-D at `axis`: the same only on the last axis.
_COERCED_TO_2D = {"Softmax", "LogSoftmax", "Hardmax"}


class _Constants:
    """The constant tensors a graph (and the graphs around it) define: initializers and
    Constant nodes, so a rewritten node can read an input as an attribute."""

    def __init__(self, graph: onnx.GraphProto, outer: _Constants | None = None):
        self.values = dict(outer.values) if outer is not None else {}
        for init in graph.initializer:
            self.values[init.name] = numpy_helper.to_array(init)
        for node in graph.node:
            if node.op_type == "Constant" and not node.domain:
                for attr in node.attribute:
                    if attr.name == "value":
                        self.values[node.output[0]] = numpy_helper.to_array(attr.t)

    def ints(self, name: str, node: onnx.NodeProto) -> list[int]:
        if name not in self.values:
            raise ValueError(
                f"{node.op_type} node {node.name or node.output[0]!r}: its input {name!r} must be "
                "a constant to be written as an attribute of the older opset"
            )
        return [int(v) for v in self.values[name].reshape(-1)]


def _default(schema: defs.OpSchema, name: str):
    attr = schema.attributes.get(name)
    if attr is None or not attr.default_value.name:
        return None
    return helper.get_attribute_value(attr.default_value)


def _retarget(node: onnx.NodeProto, target: int, consts: _Constants, ranks: dict[str, int]) -> list[onnx.NodeProto]:
    """`node` rewritten in place for opset `target` (11 to 17), plus any node it now needs
    after it; or raises ValueError."""
    if node.domain not in ("", "ai.onnx"):
        return [node]
    where = f"{node.op_type} node {node.name or node.output[0]!r}"
    if node.op_type in _NEGATED and target < 12:  # a >= b is not (a < b) for ordered numbers
        out = node.output[0]
        node.op_type, node.output[0] = _NEGATED[node.op_type], f"{out}__negated"
        return [node, helper.make_node("Not", [node.output[0]], [out], name=f"{node.name or out}__not")]
    try:
        old = defs.get_schema(node.op_type, target, "")
    except defs.SchemaError:
        first = min(sc.since_version for sc in defs.get_all_schemas_with_history()
                    if sc.name == node.op_type and sc.domain == "")  # fmt: skip
        raise ValueError(f"{where} needs opset {first} or later") from None
    new = defs.get_schema(node.op_type, 18, "")
    if old.since_version == new.since_version:
        return [node]
    inputs = list(node.input)
    while inputs and not inputs[-1]:
        inputs.pop()
    attrs = {a.name: a for a in node.attribute}
    for (op, since), (pos, attr_name) in _INPUT_WAS_ATTRIBUTE.items():
        if op != node.op_type or target >= since:
            continue
        if len(inputs) > pos:
            values = consts.ints(inputs.pop(pos), node)
            if values:
                attrs[attr_name] = helper.make_attribute(attr_name, values)
            elif "noop_with_empty_axes" in attrs and attrs["noop_with_empty_axes"].i:
                raise ValueError(f"{where}: an empty axes list that reduces nothing has no opset {target} form")
        noop = attrs.pop("noop_with_empty_axes", None)
        if noop is not None and noop.i and attr_name not in attrs:
            raise ValueError(f"{where}: reducing nothing has no opset {target} form")
    if node.op_type == "Split" and "num_outputs" in attrs:
        attrs.pop("num_outputs")  # opsets 13-17 split evenly over the outputs when no sizes are given
    if node.op_type in _COERCED_TO_2D and target < 13:
        axis = helper.get_attribute_value(attrs["axis"]) if "axis" in attrs else -1
        if axis != -1 and axis != ranks.get(node.input[0], 0) - 1:
            raise ValueError(f"{where}: before opset 13 {node.op_type} works on the last axis only (axis={axis})")
    for name in list(attrs):  # an attribute the older schema lacks is fine at its default value
        if name not in old.attributes:
            if helper.get_attribute_value(attrs[name]) != _default(new, name):
                raise ValueError(f"{where} uses attribute {name!r}, which opset {target} does not have")
            del attrs[name]
    if len(inputs) > old.max_input:
        raise ValueError(f"{where} has {len(inputs)} inputs; opset {target} takes at most {old.max_input}")
    del node.input[:]
    node.input.extend(inputs)
    del node.attribute[:]
    node.attribute.extend(attrs[name] for name in sorted(attrs))
    return [node]


def _subgraphs(node: onnx.NodeProto):
    for attr in node.attribute:
        if attr.type == onnx.AttributeProto.GRAPH:
            yield attr.g
        yield from attr.graphs


def _walk(graph: onnx.GraphProto, target: int, ranks: dict[str, int], outer: _Constants | None = None) -> None:
    consts = _Constants(graph, outer)
    nodes = []
    for node in graph.node:
        for sub in _subgraphs(node):
            _walk(sub, target, ranks, consts)
        nodes.extend(_retarget(node, target, consts, ranks))
    del graph.node[:]
    graph.node.extend(nodes)


def _used_names(graph: onnx.GraphProto, used: set[str]) -> set[str]:
    for node in graph.node:
        used.update(node.input)
        for sub in _subgraphs(node):
            _used_names(sub, used)
            used.update(o.name for o in sub.output)
    used.update(o.name for o in graph.output)
    return used


def _drop_unused_constants(graph: onnx.GraphProto) -> None:
    """Initializers (and Constant nodes) that only fed an input turned into an attribute."""
    used = _used_names(graph, set())
    kept = [t for t in graph.initializer if t.name in used]
    if len(kept) != len(graph.initializer):
        del graph.initializer[:]
        graph.initializer.extend(kept)
    nodes = [n for n in graph.node if n.op_type != "Constant" or n.domain or n.output[0] in used]
    if len(nodes) != len(graph.node):
        del graph.node[:]
        graph.node.extend(nodes)


def downgrade(model: onnx.ModelProto, target: int) -> onnx.ModelProto:
    """A copy of `model` (opset 18) for the default-domain opset `target`.

    The caller checks the result (`onnx.checker.check_model(..., full_check=True)` also
    checks every node's types against the older schemas).

    Raises:
        ValueError: a node that has no equivalent in `target`, naming it.
    """
    if not isinstance(target, int) or isinstance(target, bool) or target < MIN_OPSET:
        raise ValueError(f"opset must be an integer >= {MIN_OPSET}, got {target!r}")
    current = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    if current is None or target >= current:
        raise ValueError(f"downgrade goes from opset {current} to an older one, not to {target}")
    out = onnx.ModelProto()
    out.CopyFrom(model)
    ranks = {}
    if target < 13:  # Softmax's axis needs its input's rank
        try:
            inferred = onnx.shape_inference.infer_shapes(model).graph
        except Exception:  # noqa: BLE001 - without ranks, only axis=-1 is accepted
            inferred = onnx.GraphProto()
        for info in list(inferred.value_info) + list(inferred.input) + list(inferred.output):
            if info.type.tensor_type.HasField("shape"):
                ranks[info.name] = len(info.type.tensor_type.shape.dim)
    _walk(out.graph, target, ranks)
    _drop_unused_constants(out.graph)
    for entry in out.opset_import:
        if entry.domain in ("", "ai.onnx"):
            entry.version = target
    out.ir_version = helper.find_min_ir_version_for(list(out.opset_import))
    return out
