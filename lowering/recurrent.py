"""Inference forms of recurrences: ONNX's fused `RNN`/`GRU`/`LSTM` where the semantics allow.

A `KerasRNN` node whose saved gate outputs nobody reads (no gradient flows through it in
this program) is rewritten:

- without a sequence mask or dropout masks, and with activations ONNX's RNN ops have, to
  the native operator (Keras's LSTM gate order i,f,c,o becomes ONNX's i,o,f,c; the 2.0.5
  GRU is `linear_before_reset=0`, the reset-after GRU `linear_before_reset=1`; Keras's
  bias goes into Wb and zeros into Rb). Two such nodes that read the same input, one of them
  reversed in time (a `Bidirectional` wrapper), become one `direction="bidirectional"` op;
- with a sequence mask, to the same Scan without the saved per-step gates, carrying the
  native op's weights as well: at run time, a right-padded mask (left-padded for a reversed
  input) runs the native op with `sequence_lens`, any other mask the Scan;
- otherwise (dropout masks, activations ONNX lacks, a convolutional cell), to the Scan
  without saved gates.

The native ops run the same equations as the Scan, so predictions agree to float rounding.
"""

from __future__ import annotations

import numpy as np

from kgraph.ir import DType, Graph, Node, Tensor, provenance_scope
from kgraph.ir import build as B
from kgraph.ir.ops.rnn import GATES, fwd_inputs, fwd_outputs

__all__ = ["lower_recurrences"]

_NATIVE_OP = {"simple": "RNN", "gru": "GRU", "lstm": "LSTM"}
# Keras's gate blocks in ONNX's order (LSTM: Keras i,f,c,o -> ONNX i,o,f,c).
_ONNX_ORDER = {"simple": [0], "gru": [0, 1, 2], "lstm": [0, 3, 1, 2]}
# ONNX activation name, alpha, beta (None where the function takes none).
_NATIVE_ACT = {
    "tanh": ("Tanh", None, None), "sigmoid": ("Sigmoid", None, None), "relu": ("Relu", None, None),
    "hard_sigmoid": ("HardSigmoid", 0.2, 0.5), "linear": ("Affine", 1.0, 0.0),
    "softsign": ("Softsign", None, None), "softplus": ("Softplus", None, None),
    "elu": ("Elu", 1.0, None),
}  # fmt: skip
_INT_MAX = np.iinfo(np.int64).max


def lower_recurrences(graph: Graph) -> dict[Tensor, Tensor]:
    """Rewrites the inference-only `KerasRNN` nodes of `graph` in place.

    Returns the replaced tensors mapped to their replacements.
    """
    replaced: dict[Tensor, Tensor] = {}
    inference = [
        n
        for n in graph.nodes()
        if n.op == "KerasRNN" and not n.attrs.get("native") and not _saved_in_use(graph, n)
    ]
    native = [n for n in inference if _native_ok(n) and not n.attrs.get("has_mask")]
    paired = _bidirectional_pairs(graph, native)
    done = {n.id for pair in paired for n in pair}
    with graph.as_default():
        for fwd, bwd in paired:
            with provenance_scope(fwd.provenance or "recurrence"):
                _to_native(graph, [fwd, bwd], replaced)
        for node in inference:
            if node.id in done:
                continue
            with provenance_scope(node.provenance or "recurrence"):
                if node in native:
                    _to_native(graph, [node], replaced)
                else:
                    _without_saved(graph, node, replaced, native=_native_ok(node))
    return replaced


def _saved_in_use(graph: Graph, node: Node) -> bool:
    outs = graph.outputs(node.id)
    names = fwd_outputs(node.attrs)
    return any(graph.consumers(t) for t, n in zip(outs, names) if n not in ("Y", "hT", "cT"))


def _native_ok(node: Node) -> bool:
    """A dense cell (ONNX has no convolutional recurrence), no dropout, activations the
    native ops have, and float32 (onnxruntime's only kernel type for them). A sequence mask
    is checked at run time: see `KerasRNN`'s native form."""
    attrs = node.attrs
    acts = (attrs["activation"], attrs["recurrent_activation"])
    if attrs.get("conv") or attrs.get("n_din") or attrs.get("n_drec"):
        return False
    if node.outputs[0].dtype is not DType.float32:
        return False
    return all(a in _NATIVE_ACT for a in acts)


def _inputs(graph: Graph, node: Node) -> dict[str, Tensor]:
    return dict(zip(fwd_inputs(node.attrs), graph.inputs(node.id)))


def _reversed_source(graph: Graph, t: Tensor) -> Tensor | None:
    """`x` when `t` is `x` reversed along axis 0 (`x[::-1]`), else None."""
    node = graph.node(t.node)
    a = node.attrs
    if (
        node.op != "Slice"
        or tuple(a.get("axes") or ()) != (0,)
        or tuple(a.get("steps") or ()) != (-1,)
    ):
        return None
    if tuple(a.get("starts") or ()) != (-1,) or tuple(a.get("ends") or ()) != (-_INT_MAX,):
        return None
    return graph.inputs(node.id)[0]


def _bidirectional_pairs(graph: Graph, nodes: list[Node]) -> list[tuple[Node, Node]]:
    by_input: dict[Tensor, list[Node]] = {}
    for n in nodes:
        by_input.setdefault(_inputs(graph, n)["x"], []).append(n)
    pairs, used = [], set()
    for bwd in nodes:
        source = _reversed_source(graph, _inputs(graph, bwd)["x"])
        if source is None or bwd.id in used:
            continue
        for fwd in by_input.get(source, []):
            same = all(
                fwd.attrs.get(k) == bwd.attrs.get(k)
                for k in ("cell", "activation", "recurrent_activation", "reset_after")
            )
            if same and fwd.id not in used and _units(graph, fwd) == _units(graph, bwd):
                pairs.append((fwd, bwd))
                used |= {fwd.id, bwd.id}
                break
    return pairs


def _units(graph: Graph, node: Node) -> int:
    return int(_inputs(graph, node)["U"].shape[0])


def _onnx_weights(graph: Graph, node: Node) -> tuple[Tensor, Tensor, Tensor]:
    """W (gates*units, in), R (gates*units, units) and B (2*gates*units,) in ONNX's layout."""
    ins = _inputs(graph, node)
    cell, units = node.attrs["cell"], _units(graph, node)
    order = _ONNX_ORDER[cell]
    index = None
    if order != sorted(order):
        index = graph.constant(
            np.concatenate([np.arange(g * units, (g + 1) * units) for g in order])
        )

    def reorder(t: Tensor, axis: int) -> Tensor:
        return t if index is None else B.apply1("Gather", t, index, axis=axis)

    w = B.transpose(reorder(ins["W"], 1), [1, 0])
    r = B.transpose(reorder(ins["U"], 1), [1, 0])
    rb = ins.get("rb")
    if rb is None:
        rb = graph.constant(np.zeros(GATES[cell] * units, ins["b"].dtype.numpy))
    bias = B.apply1("Concat", reorder(ins["b"], 0), reorder(rb, 0), axis=0)
    return w, r, bias


def _stack(parts: list[Tensor]) -> Tensor:
    parts = [B.apply1("Unsqueeze", p, axes=(0,)) for p in parts]
    return parts[0] if len(parts) == 1 else B.apply1("Concat", *parts, axis=0)


def _activation_attrs(attrs: dict, directions: int) -> dict:
    acts = (
        [attrs["activation"]]
        if attrs["cell"] == "simple"
        else [attrs["recurrent_activation"], attrs["activation"]]
    )
    if attrs["cell"] == "lstm":
        acts.append(attrs["activation"])
    names, alphas, betas = [], [], []
    for a in acts * directions:
        name, alpha, beta = _NATIVE_ACT[a]
        names.append(name)
        alphas += [] if alpha is None else [alpha]
        betas += [] if beta is None else [beta]
    # onnxruntime takes alphas (betas) in order, one per function that has one.
    out: dict = {"activations": tuple(names)}
    if alphas:
        out["activation_alpha"] = tuple(alphas)
    if betas:
        out["activation_beta"] = tuple(betas)
    return out


def _native_attrs(graph: Graph, node: Node, directions: int) -> dict:
    attrs = node.attrs
    out = {"hidden_size": _units(graph, node), "layout": 0}
    out.update(_activation_attrs(attrs, directions))
    if attrs["cell"] == "gru":
        out["linear_before_reset"] = int(bool(attrs.get("reset_after")))
    return out


def _to_native(graph: Graph, nodes: list[Node], replaced: dict[Tensor, Tensor]) -> None:
    """One native op for one node, or for a (forward, reversed-input) pair."""
    first = nodes[0]
    cell = first.attrs["cell"]
    ins = [_inputs(graph, n) for n in nodes]
    x = ins[0]["x"]
    weights = [_onnx_weights(graph, n) for n in nodes]
    shape = B.apply1("Shape", x)
    lens = B.apply1(
        "Expand", B.cast(B.getitem(shape, slice(0, 1)), "int32"), B.getitem(shape, slice(1, 2))
    )
    args = [x] + [_stack([w[k] for w in weights]) for k in range(3)] + [lens]
    args.append(_stack([i["h0"] for i in ins]))
    if cell == "lstm":
        args.append(_stack([i["c0"] for i in ins]))
    op_attrs = _native_attrs(graph, first, len(nodes))
    op_attrs["direction"] = "bidirectional" if len(nodes) == 2 else "forward"
    outs = B.apply(_NATIVE_OP[cell], args, **op_attrs)
    for d, node in enumerate(nodes):
        seq = B.getitem(outs[0], (slice(None), d))
        old = dict(zip(fwd_outputs(node.attrs), graph.outputs(node.id)))
        new = {"hT": B.getitem(outs[1], d)}
        if cell == "lstm":
            new["cT"] = B.getitem(outs[2], d)
        if d == 1:
            # The reversed-input node's sequence is in processing order; a consumer that
            # reverses it back reads the native op's output directly.
            for dst, _ in graph.consumers(old["Y"]):
                back = Tensor(graph, dst, 0)
                if _reversed_source(graph, back) == old["Y"]:
                    _replace(graph, back, seq, replaced)
            seq = B.getitem(seq, slice(None, None, -1))
        new["Y"] = seq
        for key, t in new.items():
            _replace(graph, old[key], t, replaced)


def _without_saved(graph: Graph, node: Node, replaced: dict[Tensor, Tensor], native: bool) -> None:
    """The Scan without saved gates; with `native`, a masked recurrence that also carries
    the native op's weights, to run it when the mask allows (decided at run time)."""
    attrs = {**node.attrs, "save": 0}
    inputs = graph.inputs(node.id)
    if native:
        inputs += [_stack([w]) for w in _onnx_weights(graph, node)]
        native_attrs = _native_attrs(graph, node, 1)
        attrs.update(native=1, native_op=_NATIVE_OP[node.attrs["cell"]],
                     native_attrs=tuple(sorted(native_attrs.items())))  # fmt: skip
    outs = graph.add_node("KerasRNN", inputs, attrs)
    for t_old, t_new in zip(graph.outputs(node.id), outs):
        _replace(graph, t_old, t_new, replaced)


def _replace(graph: Graph, old: Tensor, new: Tensor, replaced: dict[Tensor, Tensor]) -> None:
    graph.replace_uses(old, new)
    replaced[old] = new
