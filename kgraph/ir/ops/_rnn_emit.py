"""ONNX emission of `KerasRNN` and `KerasRNNGrad`: a `Scan` whose body is one time step.

Everything that does not depend on the step runs once, outside the loop: the input
projection `x·W + b` for all steps (one GEMM), slices and transposes of the recurrent
kernel, the dropout masks per gate. The body reads those from the enclosing graph.

The reverse pass (`KerasRNNGrad`) is in `_rnn_emit_grad.py`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from kgraph.ir.ops.conv import same_pads
from kgraph.ir.ops.registry import EmitContext

__all__ = ["ACTIVATIONS", "emit_keras_rnn", "recurrent", "stride1_same_pads"]

ACTIVATIONS = frozenset(
    {"tanh", "sigmoid", "hard_sigmoid", "relu", "linear", "softsign", "softplus", "elu", "selu"}
)
"""Activations a recurrence can use: elementwise, with a derivative written in terms of the
activation's output (the backward pass keeps outputs, not pre-activations)."""

_GATES = {"simple": 1, "gru": 3, "lstm": 4}
# ONNX float attributes are float32: derivatives use the same rounded constants.
_HS_SLOPE = float(np.float32(0.2))
_SELU_ALPHA = float(np.float32(1.6732632423543772))
_SELU_SCALE = float(np.float32(1.0507009873554805))
_INT64_MIN = np.iinfo(np.int64).min
_INT32, _INT64 = 6, 7  # onnx.TensorProto.INT32, INT64


class _Nodes:
    """Collects ONNX nodes with fresh output names; constants go to the outermost graph."""

    def __init__(self, fresh: Callable[[str], str], dtype: np.dtype, outer: _Nodes | None = None):
        self.fresh, self.dtype, self.outer = fresh, np.dtype(dtype), outer
        self.nodes: list[Any] = []
        self._consts: dict[tuple, str] = {}

    def __call__(self, op: str, *inputs: str, n: int = 1, **attrs: Any) -> Any:
        from onnx import helper

        outs = [self.fresh(op.lower()) for _ in range(n)]
        self.nodes.append(helper.make_node(op, list(inputs), outs, **attrs))
        return outs[0] if n == 1 else outs

    def const(self, value: Any, dtype: Any = None) -> str:
        if self.outer is not None:
            return self.outer.const(value, dtype)
        from onnx import numpy_helper

        array = np.asarray(value, dtype=dtype or self.dtype)
        key = (array.dtype.str, array.shape, array.tobytes())
        if key not in self._consts:
            name = self.fresh("const")
            self.nodes.append(_constant_node(name, numpy_helper.from_array(array)))
            self._consts[key] = name
        return self._consts[key]

    def ints(self, *values: int) -> str:
        return self.const(list(values), np.int64)

    @property
    def elem(self) -> int:
        from onnx import helper

        return helper.np_dtype_to_tensor_dtype(self.dtype)


def _constant_node(name: str, tensor: Any) -> Any:
    from onnx import helper

    return helper.make_node("Constant", [], [name], value=tensor)


def _opt_mul(nb: _Nodes, a: str, b: str | None) -> str:
    return a if b is None else nb("Mul", a, b)


# -- activations and their derivatives (in terms of the output y) ------------------------
_ONNX_ACT = {"tanh": "Tanh", "sigmoid": "Sigmoid", "relu": "Relu", "softsign": "Softsign",
             "softplus": "Softplus"}  # fmt: skip


def act(nb: _Nodes, name: str, x: str) -> str:
    if name == "linear":
        return x
    if name == "hard_sigmoid":
        return nb("HardSigmoid", x, alpha=0.2, beta=0.5)
    if name == "elu":
        return nb("Elu", x, alpha=1.0)
    if name == "selu":
        return nb("Selu", x, alpha=_SELU_ALPHA, gamma=_SELU_SCALE)
    return nb(_ONNX_ACT[name], x)


def dact(nb: _Nodes, name: str, y: str) -> str | None:
    """d act / d x at the point where act(x) = y; None means 1."""
    if name == "linear":
        return None

    def one() -> str:
        return nb.const(1.0)

    if name == "tanh":
        return nb("Sub", one(), nb("Mul", y, y))
    if name == "sigmoid":
        return nb("Mul", y, nb("Sub", one(), y))
    if name == "softsign":
        t = nb("Sub", one(), nb("Abs", y))
        return nb("Mul", t, t)
    if name == "softplus":
        return nb("Sub", one(), nb("Exp", nb("Neg", y)))
    positive = nb("Greater", y, nb.const(0.0))
    if name == "hard_sigmoid":
        inside = nb("And", positive, nb("Less", y, one()))
        return nb("Mul", nb("Cast", inside, to=nb.elem), nb.const(_HS_SLOPE))
    if name == "relu":
        return nb("Cast", positive, to=nb.elem)
    if name == "elu":
        return nb("Where", positive, one(), nb("Add", y, one()))
    if name == "selu":
        scaled = nb.const(_SELU_SCALE * _SELU_ALPHA)
        return nb("Where", positive, nb.const(_SELU_SCALE), nb("Add", y, scaled))
    raise ValueError(f"unknown activation {name!r}")


# -- the recurrent kernel and its dropout masks ---------------------------------------------
class _Recurrent:
    """`h·U` for a range of gates (with per-gate masks on h) and its transpose, the pieces
    of `U` prepared once outside the loop."""

    def __init__(self, nb: _Nodes, u: str, drec: str | None, n_drec: int, units: int, gates: int):
        self.nb, self.u, self.drec, self.n_drec = nb, u, drec, n_drec
        self.units, self.gates = units, gates
        self.block, self.gate_axis = units, 1  # U's gate blocks: `block` rows along this axis
        self._cache: dict[tuple, str] = {}

    def _get(self, key: tuple, make: Callable[[], str]) -> str:
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    def kernel(self, lo: int, hi: int) -> str:
        nb, n = self.nb, self.block
        if (lo, hi) == (0, self.gates):
            return self.u
        return self._get(
            ("k", lo, hi),
            lambda: nb("Slice", self.u, nb.ints(lo * n), nb.ints(hi * n), nb.ints(self.gate_axis)),
        )

    def kernel_t(self, lo: int, hi: int) -> str:
        return self._get(
            ("kt", lo, hi), lambda: self.nb("Transpose", self.kernel(lo, hi), perm=[1, 0])
        )

    def _stack(self, lo: int, hi: int) -> str:
        nb = self.nb
        flat = self.kernel(lo, hi)
        return self._get(
            ("s", lo, hi),
            lambda: nb(
                "Transpose", nb("Reshape", flat, nb.ints(0, hi - lo, self.units)), perm=[1, 0, 2]
            ),
        )

    def _stack_t(self, lo: int, hi: int) -> str:
        return self._get(
            ("st", lo, hi), lambda: self.nb("Transpose", self._stack(lo, hi), perm=[0, 2, 1])
        )

    def mask(self, g: int) -> str | None:
        if not self.n_drec:
            return None
        g = 0 if self.n_drec == 1 else g
        nb = self.nb
        return self._get(("m", g), lambda: nb("Gather", self.drec, nb.const(g, np.int64), axis=0))

    def _masks(self, lo: int, hi: int) -> str:
        nb = self.nb
        return self._get(
            ("ms", lo, hi), lambda: nb("Slice", self.drec, nb.ints(lo), nb.ints(hi), nb.ints(0))
        )

    def product(self, body: _Nodes, h: str, lo: int, hi: int) -> str:
        """(h * mask_g) · U_g for gates lo..hi-1, concatenated: (batch, (hi-lo) * units)."""
        if self.n_drec == 0:
            return body("MatMul", h, self.kernel(lo, hi))
        if self.n_drec == 1 or hi - lo == 1:
            return body("MatMul", body("Mul", h, self.mask(lo)), self.kernel(lo, hi))
        stacked = body("Mul", body("Unsqueeze", h, body.ints(0)), self._masks(lo, hi))
        per_gate = body("MatMul", stacked, self._stack(lo, hi))
        return body("Reshape", body("Transpose", per_gate, perm=[1, 0, 2]), body.ints(0, -1))

    def back(self, body: _Nodes, d: str, lo: int, hi: int) -> str:
        """The transpose of `product`: sum over gates of (d_g · U_g^T) * mask_g."""
        if self.n_drec == 0:
            return body("MatMul", d, self.kernel_t(lo, hi))
        if self.n_drec == 1 or hi - lo == 1:
            return body("Mul", body("MatMul", d, self.kernel_t(lo, hi)), self.mask(lo))
        per_gate = body(
            "Transpose", body("Reshape", d, body.ints(0, hi - lo, self.units)), perm=[1, 0, 2]
        )
        masked = body("Mul", body("MatMul", per_gate, self._stack_t(lo, hi)), self._masks(lo, hi))
        return body("ReduceSum", masked, body.ints(0), keepdims=0)


def stride1_same_pads(frame: tuple[int, ...], kernel: tuple[int, ...]) -> list[int]:
    """A stride-1 'same' convolution's pads over `frame`: begins, then ends."""
    pairs = [same_pads(d, k, 1) for d, k in zip(frame, kernel, strict=True)]
    return [p[0] for p in pairs] + [p[1] for p in pairs]


class _ConvRecurrent(_Recurrent):
    """The recurrent product of a convolutional LSTM: a stride-1 'same' Conv of the state
    frame (filters, rows, cols) by the gate blocks of the Conv weight `U` (4*filters,
    filters, kr, kc); its transpose is the ConvTranspose with the same weight and pads."""

    def __init__(self, nb: _Nodes, u: str, drec: str | None, n_drec: int, conv: tuple, gates: int):
        filters, rows, cols, kr, kc = conv
        super().__init__(nb, u, drec, n_drec, filters * rows * cols, gates)
        self.filters, self.frame, self.kernel_shape = filters, (rows, cols), [kr, kc]
        self.pads = stride1_same_pads((rows, cols), (kr, kc))
        self.block, self.gate_axis = filters, 0  # U's gate blocks are its output channels

    def _conv(self, body: _Nodes, h: str, lo: int, hi: int) -> str:
        img = body("Reshape", h, body.ints(0, self.filters, *self.frame))
        y = body("Conv", img, self.kernel(lo, hi), kernel_shape=self.kernel_shape, pads=self.pads)
        return body("Reshape", y, body.ints(0, -1))

    def _conv_t(self, body: _Nodes, d: str, lo: int, hi: int) -> str:
        img = body("Reshape", d, body.ints(0, (hi - lo) * self.filters, *self.frame))
        y = body(
            "ConvTranspose",
            img,
            self.kernel(lo, hi),
            kernel_shape=self.kernel_shape,
            pads=self.pads,
        )
        return body("Reshape", y, body.ints(0, -1))

    def product(self, body: _Nodes, h: str, lo: int, hi: int) -> str:
        if self.n_drec == 0:
            return self._conv(body, h, lo, hi)
        if self.n_drec == 1 or hi - lo == 1:
            return self._conv(body, body("Mul", h, self.mask(lo)), lo, hi)
        parts = [self._conv(body, body("Mul", h, self.mask(g)), g, g + 1) for g in range(lo, hi)]
        return body("Concat", *parts, axis=1)

    def back(self, body: _Nodes, d: str, lo: int, hi: int) -> str:
        if self.n_drec == 0:
            return self._conv_t(body, d, lo, hi)
        if self.n_drec == 1 or hi - lo == 1:
            return body("Mul", self._conv_t(body, d, lo, hi), self.mask(lo))
        u, total = self.units, None
        for g in range(lo, hi):
            d_g = body(
                "Slice", d, body.ints((g - lo) * u), body.ints((g - lo + 1) * u), body.ints(1)
            )
            part = body("Mul", self._conv_t(body, d_g, g, g + 1), self.mask(g))
            total = part if total is None else body("Add", total, part)
        return total


def recurrent(nb: _Nodes, a: dict, ins: dict[str, str], units: int, gates: int) -> _Recurrent:
    """The recurrent product of the op's cell: a GEMM, or a Conv for a convolutional cell."""
    if a.get("conv"):
        return _ConvRecurrent(
            nb, ins["U"], ins.get("drec"), a.get("n_drec", 0), tuple(a["conv"]), gates
        )
    return _Recurrent(nb, ins["U"], ins.get("drec"), a.get("n_drec", 0), units, gates)


# -- shared pieces ----------------------------------------------------------------------------
def _value_info(name: str, elem: int, rank: int) -> Any:
    from onnx import helper

    return helper.make_tensor_value_info(name, elem, [None] * rank)


def _scan(nb: _Nodes, body: _Nodes, states: list[tuple[str, str]], scans: list[tuple[str, str, bool]],
          outs: list[str], outer_in: list[str], outer_out: list[str]) -> None:  # fmt: skip
    """Appends the Scan: `states` are (body input, body output) pairs of (batch, features)
    states, `scans` (body input, outer input, is a bool mask) and `outs` body outputs; every
    per-step slice is 2-D."""
    from onnx import TensorProto, helper

    inputs = [_value_info(i, nb.elem, 2) for i, _ in states]
    inputs += [
        _value_info(i, TensorProto.BOOL if is_mask else nb.elem, 2) for i, _, is_mask in scans
    ]
    outputs = [_value_info(o, nb.elem, 2) for _, o in states]
    outputs += [_value_info(o, nb.elem, 2) for o in outs]
    graph = helper.make_graph(body.nodes, nb.fresh("step"), inputs, outputs)
    nb.nodes.append(
        helper.make_node(
            "Scan",
            outer_in,
            outer_out,
            name=nb.fresh("scan"),
            body=graph,
            num_scan_inputs=len(scans),
        )
    )


def _reverse(nb: _Nodes, t: str) -> str:
    return nb("Slice", t, nb.ints(-1), nb.ints(_INT64_MIN), nb.ints(0), nb.ints(-1))


def _setup(ctx: EmitContext, names: list[str]) -> tuple[_Nodes, dict[str, str], int, int]:
    nb = _Nodes(ctx.fresh, ctx.output_specs[0].dtype.numpy)
    ins = dict(zip(names, ctx.inputs))
    specs = dict(zip(names, ctx.input_specs))
    gates = _GATES[ctx.attrs["cell"]]
    conv = ctx.attrs.get("conv")
    units = conv[0] * conv[1] * conv[2] if conv else int(specs["U"].shape[1]) // gates
    return nb, ins, gates, units


# -- forward ---------------------------------------------------------------------------------
def _project(nb: _Nodes, ins: dict[str, str], n_din: int, gates: int, units: int) -> str:
    """x·W + b for every step, each gate's input under its own dropout mask."""
    x, w = ins["x"], ins["W"]
    if n_din == 0:
        proj = nb("MatMul", x, w)
    elif n_din == 1:
        proj = nb("MatMul", nb("Mul", x, ins["din"]), w)
    else:
        parts = []
        for g in range(gates):
            mask = nb("Gather", ins["din"], nb.const(g, np.int64), axis=0)
            wg = nb("Slice", w, nb.ints(g * units), nb.ints((g + 1) * units), nb.ints(1))
            parts.append(nb("MatMul", nb("Mul", x, mask), wg))
        proj = nb("Concat", *parts, axis=2)
    return nb("Add", proj, ins["b"])


def _forward_step(body: _Nodes, a: dict, rec: _Recurrent, p: str, h: str, c: str | None,
                  rb: str | None) -> tuple[str, str | None, list[str]]:  # fmt: skip
    """One step: new h, new c (LSTM) and the values saved for the backward pass."""
    ra, ac, cell = a["recurrent_activation"], a["activation"], a["cell"]
    if cell == "simple":
        return act(body, ac, body("Add", p, rec.product(body, h, 0, 1))), None, []
    if cell == "lstm":
        z = body("Add", p, rec.product(body, h, 0, 4))
        zi, zf, zc, zo = body("Split", z, n=4, axis=1, num_outputs=4)
        i, f, g, o = act(body, ra, zi), act(body, ra, zf), act(body, ac, zc), act(body, ra, zo)
        c_new = body("Add", body("Mul", f, c), body("Mul", i, g))
        h_new = body("Mul", o, act(body, ac, c_new))
        return h_new, c_new, [body("Concat", i, f, g, o, axis=1)]
    pz, pr, ph = body("Split", p, n=3, axis=1, num_outputs=3)
    if a.get("reset_after"):
        inner = body("Add", rec.product(body, h, 0, 3), rb)
        iz, ir, ih = body("Split", inner, n=3, axis=1, num_outputs=3)
        z, r = act(body, ra, body("Add", pz, iz)), act(body, ra, body("Add", pr, ir))
        hh = act(body, ac, body("Add", ph, body("Mul", r, ih)))
        saved = [body("Concat", z, r, hh, axis=1), body("Identity", ih)]
    else:
        rz, rr = body("Split", rec.product(body, h, 0, 2), n=2, axis=1, num_outputs=2)
        z, r = act(body, ra, body("Add", pz, rz)), act(body, ra, body("Add", pr, rr))
        hh = act(body, ac, body("Add", ph, rec.product(body, body("Mul", r, h), 2, 3)))
        saved = [body("Concat", z, r, hh, axis=1)]
    h_new = body("Add", hh, body("Mul", z, body("Sub", h, hh)))
    return h_new, None, saved


def emit_keras_rnn(ctx: EmitContext) -> list[Any]:
    from kgraph.ir.ops.rnn import fwd_inputs, fwd_outputs

    a = ctx.attrs
    nb, ins, gates, units = _setup(ctx, fwd_inputs(a))
    outs = dict(zip(fwd_outputs(a), ctx.outputs))
    if a.get("native"):
        _native_or_scan(nb, a, ins, outs, gates, units)
    else:
        _emit_scan(nb, a, ins, outs, gates, units)
    return nb.nodes


def _emit_scan(nb: _Nodes, a: dict, ins: dict[str, str], outs: dict[str, str], gates: int,
               units: int) -> None:  # fmt: skip
    """The projection and the Scan, appended to `nb` (the main graph or an If branch)."""
    lstm = a["cell"] == "lstm"
    proj = ins["x"] if a.get("conv") else _project(nb, ins, a.get("n_din", 0), gates, units)
    rec = recurrent(nb, a, ins, units, gates)
    body = _Nodes(nb.fresh, nb.dtype, outer=nb)
    h, p = nb.fresh("h"), nb.fresh("p")
    c = nb.fresh("c") if lstm else None
    h_new, c_new, saved = _forward_step(body, a, rec, p, h, c, ins.get("rb"))
    scans = [(p, proj, False)]
    outer_in = [ins["h0"]] + ([ins["c0"]] if lstm else []) + [proj]
    if a.get("has_mask"):
        m = nb.fresh("m_t")
        scans.append((m, nb("Unsqueeze", ins["mask"], nb.ints(2)), True))
        outer_in.append(scans[-1][1])
        h_new = body("Where", m, h_new, h)
        c_new = body("Where", m, c_new, c) if lstm else None
    states = [(h, h_new)] + ([(c, c_new)] if lstm else [])
    step_outs = [body("Identity", h_new)]
    outer_out = [outs["hT"]] + ([outs["cT"]] if lstm else []) + [outs["Y"]]
    if a.get("save"):
        # In fwd_outputs order: gates, then C (LSTM) or the reset-after inner product (GRU).
        step_outs += saved + ([body("Identity", c_new)] if lstm else [])
        outer_out += [outs[k] for k in ("gates", "C", "inner") if k in outs]
    _scan(nb, body, states, scans, step_outs, outer_in, outer_out)


# -- masked inference: the native op where the mask is a prefix (or a suffix) ------------------
def _all_equal(nb: _Nodes, a: str, b: str) -> str:
    mismatches = nb("ReduceSum", nb("Cast", nb("Xor", a, b), to=_INT64), keepdims=0)
    return nb("Equal", mismatches, nb.const(0, np.int64))


def _native_or_scan(nb: _Nodes, a: dict, ins: dict[str, str], outs: dict[str, str], gates: int,
                    units: int) -> None:  # fmt: skip
    """If the mask keeps a prefix of every sequence (right padding), ONNX's op with
    `sequence_lens` computes Keras's result; a kept suffix (left padding, e.g. the reversed
    input of go_backwards) is the same op run in reverse on the un-reversed input. Any
    other mask runs the Scan. Keras repeats the last state over padded steps, where the
    native op writes zeros: a Where restores them."""
    mask = ins["mask"]
    lens = nb("ReduceSum", nb("Cast", mask, to=_INT64), nb.ints(0), keepdims=0)
    steps = nb("Gather", nb("Shape", mask), nb.const(0, np.int64), axis=0)
    pos = nb(
        "Unsqueeze", nb("Range", nb.const(0, np.int64), steps, nb.const(1, np.int64)), nb.ints(1)
    )
    some = nb("Greater", nb("ReduceMin", lens, keepdims=0), nb.const(0, np.int64))
    prefix = nb("And", some, _all_equal(nb, nb("Less", pos, lens), mask))
    suffix = nb(
        "And", some, _all_equal(nb, nb("GreaterOrEqual", pos, nb("Sub", steps, lens)), mask)
    )
    lens32 = nb("Cast", lens, to=_INT32)
    mask3 = nb("Unsqueeze", mask, nb.ints(2))
    names = ["Y", "hT"] + (["cT"] if a["cell"] == "lstm" else [])
    forward = _native_branch(nb, a, ins, lens32, mask3, names, reverse=False)
    backward = _native_branch(nb, a, ins, lens32, mask3, names, reverse=True)
    scan = _Nodes(nb.fresh, nb.dtype, outer=nb)
    scan_outs = {k: nb.fresh(k) for k in names}
    _emit_scan(scan, a, ins, scan_outs, gates, units)
    scan_graph = _branch_graph(nb, scan, [scan_outs[k] for k in names])
    inner = _Nodes(nb.fresh, nb.dtype, outer=nb)
    inner_outs = [nb.fresh(k) for k in names]
    inner.nodes.append(_if_node(suffix, inner_outs, backward, scan_graph))
    nb.nodes.append(
        _if_node(prefix, [outs[k] for k in names], forward, _branch_graph(nb, inner, inner_outs))
    )


def _native_branch(nb: _Nodes, a: dict, ins: dict[str, str], lens: str, mask3: str,
                   names: list[str], reverse: bool) -> Any:  # fmt: skip
    br = _Nodes(nb.fresh, nb.dtype, outer=nb)
    lstm = a["cell"] == "lstm"
    x = _reverse(br, ins["x"]) if reverse else ins["x"]
    args = [x, ins["Wn"], ins["Rn"], ins["Bn"], lens, br("Unsqueeze", ins["h0"], br.ints(0))]
    args += [br("Unsqueeze", ins["c0"], br.ints(0))] if lstm else []
    attrs = dict(a["native_attrs"])
    attrs["direction"] = "reverse" if reverse else "forward"
    res = br(a["native_op"], *args, n=len(names), **attrs)
    seq = br("Squeeze", res[0], br.ints(1))
    final = [br("Squeeze", t, br.ints(0)) for t in res[1:]]
    # Padded steps repeat the state: the initial one before a suffix, the last one after a prefix.
    fill = br("Unsqueeze", ins["h0"] if reverse else final[0], br.ints(0))
    seq = br("Where", mask3, _reverse(br, seq) if reverse else seq, fill)
    return _branch_graph(nb, br, [seq] + final)


def _branch_graph(nb: _Nodes, br: _Nodes, outputs: list[str]) -> Any:
    from onnx import helper

    infos = [_value_info(name, nb.elem, 3 if k == 0 else 2) for k, name in enumerate(outputs)]
    return helper.make_graph(br.nodes, nb.fresh("branch"), [], infos)


def _if_node(cond: str, outputs: list[str], then_graph: Any, else_graph: Any) -> Any:
    from onnx import helper

    return helper.make_node("If", [cond], outputs, then_branch=then_graph, else_branch=else_graph)
