"""Recurrences: a whole Keras RNN layer as one op, its reverse pass, and ONNX's fused RNN ops.

`KerasRNN` runs a SimpleRNN, GRU or LSTM cell over time-major input `x (T, b, in)` with
Keras's semantics: the input projection `x·W + b` (per-gate input dropout masks allowed),
the recurrent product `h·U` (per-gate recurrent dropout masks allowed), and a sequence mask
under which a masked step keeps the previous state (and outputs it). It emits an ONNX
`Scan` whose per-step outputs include the gate activations the backward pass needs.

Its VJP is `KerasRNNGrad`, the same recurrence run in reverse (another `Scan`), which
yields the gradient of the gate pre-activations; the input, kernel, recurrent-kernel and
bias gradients are then a few large GEMMs and sums over all steps, outside any loop.

`LSTM`, `GRU` and `RNN` are ONNX's own operators, which the inference lowering
(`lowering/recurrent.py`) substitutes where the semantics allow; they have no VJP. A masked
recurrence can take the native op's weights too (`native=1`, inference only): it then runs
the native op with `sequence_lens` when the mask is right-padded (or left-padded, run in
reverse) and the Scan otherwise, chosen at run time with an ONNX `If`.

A convolutional LSTM (Keras's ConvLSTM2D) is the same op with `conv` = (filters, rows,
cols, kernel rows, kernel cols): states are frames (filters, rows, cols) flattened
channels-first, `U` is an ONNX Conv weight (4*filters, filters, kr, kc) applied with 'same'
padding, and `x` arrives already projected (the input convolutions and bias for every step,
gate blocks in order, each a flattened frame), so there is no `W`, `b` or `din`.

Attributes: `cell` ('simple', 'gru', 'lstm'), `activation` and `recurrent_activation`
(names in `ACTIVATIONS`), `reset_after` (GRU), `has_mask`, `n_din`/`n_drec` (0, 1 shared
or one dropout mask per gate), `save` (emit the per-step values the VJP needs), `has_dy`
(KerasRNNGrad: a cotangent for the output sequence), and for the native form `native`,
`native_op` and `native_attrs` (the ONNX op's attributes as sorted pairs). Input and
output layouts are named lists that depend on them; `fwd_inputs`, `fwd_outputs`,
`grad_inputs` and `grad_outputs` spell them out.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kgraph.ir import build as B
from kgraph.ir.dtypes import DType
from kgraph.ir.errors import LoweringError, ShapeError
from kgraph.ir.ops._rnn_emit import ACTIVATIONS, emit_keras_rnn, stride1_same_pads
from kgraph.ir.ops._rnn_emit_grad import emit_keras_rnn_grad
from kgraph.ir.ops._rules import same_dtype
from kgraph.ir.ops.conv import conv_weight_grad
from kgraph.ir.ops.registry import VjpContext, register
from kgraph.ir.spec import TensorSpec

__all__ = ["GATES", "fwd_inputs", "fwd_outputs", "grad_inputs", "grad_outputs"]

GATES = {"simple": 1, "gru": 3, "lstm": 4}
"""Gate blocks per cell, in Keras's kernel column order (GRU z,r,h; LSTM i,f,c,o)."""


# -- layouts ------------------------------------------------------------------------------
def fwd_inputs(a: dict[str, Any]) -> list[str]:
    names = ["x", "U", "h0"] if a.get("conv") else ["x", "W", "U", "b", "h0"]
    names += ["c0"] if a["cell"] == "lstm" else []
    names += ["rb"] if a.get("reset_after") else []
    names += ["mask"] if a.get("has_mask") else []
    names += ["din"] if a.get("n_din") else []
    names += ["drec"] if a.get("n_drec") else []
    names += ["Wn", "Rn", "Bn"] if a.get("native") else []
    return names


def _saved(a: dict[str, Any]) -> list[str]:
    if a["cell"] == "lstm":
        return ["gates", "C"]
    if a["cell"] == "gru":
        return ["gates"] + (["inner"] if a.get("reset_after") else [])
    return []


def fwd_outputs(a: dict[str, Any]) -> list[str]:
    names = ["Y", "hT"] + (["cT"] if a["cell"] == "lstm" else [])
    return names + (_saved(a) if a.get("save") else [])


def grad_inputs(a: dict[str, Any]) -> list[str]:
    names = (["dY"] if a.get("has_dy") else []) + ["dh"]
    names += ["dc"] if a["cell"] == "lstm" else []
    names += ["U"]
    if a["cell"] == "lstm":
        names += ["gates", "C", "Cprev"]
    elif a["cell"] == "gru":
        names += ["gates", "Hprev"] + (["inner"] if a.get("reset_after") else [])
    else:
        names += ["Y"]
    names += ["mask"] if a.get("has_mask") else []
    names += ["drec"] if a.get("n_drec") else []
    return names


def grad_outputs(a: dict[str, Any]) -> list[str]:
    return ["d_pre", "dh0"] + (["dc0"] if a["cell"] == "lstm" else [])


# -- shape rules ----------------------------------------------------------------------------
def _merge(what: str, *dims: int | None) -> int | None:
    known = {d for d in dims if d is not None}
    if len(known) > 1:
        raise ShapeError(f"{what} sizes disagree: {sorted(known)}")
    return known.pop() if known else None


def _check_attrs(a: dict[str, Any]) -> int:
    if a.get("cell") not in GATES:
        raise ShapeError(f"cell must be one of {sorted(GATES)}, got {a.get('cell')!r}")
    for key in ("activation", "recurrent_activation"):
        if a.get(key) not in ACTIVATIONS:
            raise ShapeError(f"{key} {a.get(key)!r} is not one of {sorted(ACTIVATIONS)}")
    gates = GATES[a["cell"]]
    for key in ("n_din", "n_drec"):
        if a.get(key, 0) not in (0, 1, gates):
            raise ShapeError(f"{key} must be 0, 1 or {gates} (one mask per gate), got {a[key]}")
    return gates


def _conv_units(a: dict[str, Any], gates: int, s: dict[str, TensorSpec]) -> int:
    conv = tuple(a["conv"])
    if len(conv) != 5 or min(conv) < 1 or a["cell"] != "lstm":
        raise ShapeError(
            f"conv must be (filters, rows, cols, kernel rows, kernel cols) of an lstm cell, got {conv}"
        )
    filters, rows, cols, kr, kc = conv
    want = (gates * filters, filters, kr, kc)
    u = s["U"]
    if u.rank != 4 or any(d not in (None, w) for d, w in zip(u.shape, want, strict=True)):
        raise ShapeError(f"the recurrent kernel must be a Conv weight {want}, got {u.shape}")
    return _merge("units", filters * rows * cols, s["h0" if "h0" in s else "dh"].shape[-1])


def _units(
    gates: int, s: dict[str, TensorSpec], state: str, a: dict[str, Any] | None = None
) -> int | None:
    if a is not None and a.get("conv"):
        return _conv_units(a, gates, s)
    u = s["U"]
    if u.rank != 2:
        raise ShapeError(f"the recurrent kernel must be 2-D, got {u.shape}")
    cols = u.shape[1]
    if cols is not None and cols % gates:
        raise ShapeError(
            f"the recurrent kernel has {cols} columns, not a multiple of {gates} gates"
        )
    return _merge("units", None if cols is None else cols // gates, u.shape[0], s[state].shape[-1])


def _rnn_infer(specs, attrs, consts):
    gates = _check_attrs(attrs)
    names = fwd_inputs(attrs)
    if len(specs) != len(names):
        raise ShapeError(f"expects inputs ({', '.join(names)}), got {len(specs)}")
    s = dict(zip(names, specs))
    x = s["x"]
    if x.rank != 3:
        raise ShapeError(f"x must be (time, batch, features), got rank {x.rank}")
    dtype = same_dtype([s[k] for k in names if k != "mask"])
    if not dtype.is_float:
        raise ShapeError(f"expects float tensors, got {dtype}")
    units = _units(gates, s, "h0", attrs)
    width = None if units is None else gates * units
    if attrs.get("conv"):
        if attrs.get("n_din") or attrs.get("native"):
            raise ShapeError(
                "a convolutional cell takes its input projected: no din, no native form"
            )
        _merge("projected input feature", x.shape[2], width)
    else:
        w = s["W"]
        if w.rank != 2:
            raise ShapeError(f"the kernel must be 2-D, got {w.shape}")
        _merge("input feature", x.shape[2], w.shape[0])
        _merge("kernel column", w.shape[1], width)
    for key in ("b", "rb"):
        if key in s:
            if s[key].rank != 1:
                raise ShapeError(f"{key} must be 1-D, got {s[key].shape}")
            _merge(f"{key} length", s[key].shape[0], width)
    batch = [x.shape[1]]
    for key in ("h0", "c0"):
        if key in s:
            if s[key].rank != 2:
                raise ShapeError(f"{key} must be (batch, units), got {s[key].shape}")
            batch.append(s[key].shape[0])
    if "mask" in s:
        m = s["mask"]
        if m.dtype is not DType.bool or m.rank != 2:
            raise ShapeError(f"mask must be a bool (time, batch) tensor, got {m}")
        _merge("time", x.shape[0], m.shape[0])
        batch.append(m.shape[1])
    for key, feat in (("din", x.shape[2]), ("drec", units)):
        if key in s:
            d = s[key]
            if d.rank != 3:
                raise ShapeError(f"{key} must be (masks, batch, features), got {d.shape}")
            _merge(f"{key} count", d.shape[0], attrs[f"n_{key}"])
            _merge(f"{key} feature", d.shape[2], feat)
            batch.append(d.shape[1])
    if attrs.get("native"):
        if (
            attrs.get("save")
            or not attrs.get("has_mask")
            or attrs.get("native_op") not in _NATIVE_GATES
        ):
            raise ShapeError(
                "the native form is for masked inference (save=0, has_mask=1, native_op)"
            )
        if s["Wn"].rank != 3 or s["Rn"].rank != 3 or s["Bn"].rank != 2:
            raise ShapeError(
                "Wn, Rn and Bn must be in ONNX's layout: (1, G*u, in), (1, G*u, u), (1, 2*G*u)"
            )
    b = _merge("batch", *batch)
    seq, state = TensorSpec((x.shape[0], b, units), dtype), TensorSpec((b, units), dtype)
    out = {"Y": seq, "hT": state, "cT": state, "C": seq, "inner": seq}
    out["gates"] = TensorSpec((x.shape[0], b, width), dtype)
    return [out[n] for n in fwd_outputs(attrs)]


def _grad_infer(specs, attrs, consts):
    gates = _check_attrs(attrs)
    names = grad_inputs(attrs)
    if len(specs) != len(names):
        raise ShapeError(f"expects inputs ({', '.join(names)}), got {len(specs)}")
    s = dict(zip(names, specs))
    dtype = same_dtype([s[k] for k in names if k != "mask"])
    units = _units(gates, s, "dh", attrs)
    seqs = [s[k] for k in ("dY", "gates", "C", "Cprev", "Hprev", "inner", "Y") if k in s]
    for t in seqs:
        if t.rank != 3:
            raise ShapeError(f"saved sequences must be (time, batch, features), got {t.shape}")
    steps = _merge(
        "time", *(t.shape[0] for t in seqs), *([s["mask"].shape[0]] if "mask" in s else [])
    )
    b = _merge("batch", *(t.shape[1] for t in seqs), s["dh"].shape[0])
    width = None if units is None else gates * units
    state = TensorSpec((b, units), dtype)
    return [TensorSpec((steps, b, width), dtype), state] + (
        [state] if attrs["cell"] == "lstm" else []
    )


# -- the VJP: a reverse recurrence, then big GEMMs ----------------------------------------
def _flat(t):
    return B.reshape(t, [-1, t.shape[-1]])


def _gate(t, g: int, n: int, units: int):
    """Gate blocks g..g+n-1 of the last axis."""
    return B.getitem(t, (Ellipsis, slice(g * units, (g + n) * units)))


def _groups(masks: list) -> list[tuple[int, int, Any]]:
    """Runs of consecutive gates that share one mask (or none): (first, count, mask)."""
    out: list[tuple[int, int, Any]] = []
    for g, m in enumerate(masks):
        if out and out[-1][2] is m:
            out[-1] = (out[-1][0], out[-1][1] + 1, m)
        else:
            out.append((g, 1, m))
    return out


def _gate_masks(stack, count: int, gates: int) -> list:
    """One (batch, features) mask per gate (the same one when `count` is 1), or Nones."""
    if not count:
        return [None] * gates
    picked = [B.getitem(stack, k) for k in range(count)]
    return picked * gates if count == 1 else picked


def _input_grads(ctx: VjpContext, s: dict, d_pre, gates: int, units: int):
    x, w = s["x"], s["W"]
    masks = _gate_masks(s.get("din"), ctx.attrs.get("n_din", 0), gates)
    dx, dw = None, []
    for g, n, m in _groups(masks):
        d = d_pre if n == gates else _gate(d_pre, g, n, units)
        if ctx.needs[0]:
            wg = w if n == gates else B.getitem(w, (slice(None), slice(g * units, (g + n) * units)))
            part = B.matmul(d, B.transpose(wg, [1, 0]))
            part = part if m is None else B.mul(part, m)
            dx = part if dx is None else B.add(dx, part)
        if ctx.needs[1]:
            xin = x if m is None else B.mul(x, m)
            dw.append(B.matmul(B.transpose(_flat(xin), [1, 0]), _flat(d)))
    dw_total = None
    if ctx.needs[1]:
        dw_total = dw[0] if len(dw) == 1 else B.apply1("Concat", *dw, axis=1)
    return dx, dw_total


def _recurrent_grad(ctx: VjpContext, s: dict, outs: dict, d_pre, hprev, gates: int, units: int):
    a = ctx.attrs
    masks = _gate_masks(s.get("drec"), a.get("n_drec", 0), gates)
    masked = {id(m): hprev if m is None else B.mul(hprev, m) for m in masks}
    rec_in = [masked[id(m)] for m in masks]
    d_rec = d_pre
    if a["cell"] == "gru":
        r = _gate(outs["gates"], 1, 1, units)
        if a.get("reset_after"):
            d_rec = B.apply1(
                "Concat", _gate(d_pre, 0, 2, units), B.mul(_gate(d_pre, 2, 1, units), r), axis=2
            )
        else:
            rec_in[2] = B.mul(rec_in[2], r)
    parts = []
    for g, n, _ in _groups(rec_in):
        d = d_rec if n == gates else _gate(d_rec, g, n, units)
        if a.get("conv"):
            parts.append(_conv_kernel_grad(a["conv"], rec_in[g], d, n))
        else:
            parts.append(B.matmul(B.transpose(_flat(rec_in[g]), [1, 0]), _flat(d)))
    du = parts[0] if len(parts) == 1 else B.apply1("Concat", *parts, axis=0 if a.get("conv") else 1)
    return du, d_rec


def _conv_kernel_grad(conv, hprev, d, n: int):
    """The recurrent Conv weight's gradient for n gate blocks: every (step, sample) frame is
    one image of a single weight-gradient convolution over time * batch."""
    filters, rows, cols, kr, kc = conv
    images = B.reshape(hprev, [-1, filters, rows, cols])
    grads = B.reshape(d, [-1, n * filters, rows, cols])
    geometry = {"kernel_shape": (kr, kc), "pads": tuple(stride1_same_pads((rows, cols), (kr, kc)))}
    return conv_weight_grad(images, grads, (n * filters, filters, kr, kc), geometry)


def _prev(seq, first):
    """The sequence shifted one step later: `first` at step 0, then seq[:-1]."""
    head = B.apply1("Unsqueeze", first, axes=(0,))
    return B.apply1("Concat", head, B.getitem(seq, slice(0, -1)), axis=0)


def _rnn_vjp(ctx: VjpContext, *cots):
    a = ctx.attrs
    if not a.get("save"):
        raise LoweringError("KerasRNN without saved gates (an inference form) has no VJP")
    gates = GATES[a["cell"]]
    in_names, out_names = fwd_inputs(a), fwd_outputs(a)
    s = dict(zip(in_names, ctx.inputs))
    outs = dict(zip(out_names, ctx.outputs))
    cot = dict(zip(out_names, cots))
    conv = a.get("conv")
    units = conv[0] * conv[1] * conv[2] if conv else s["U"].shape[0]
    h0 = s["h0"]
    hprev = _prev(outs["Y"], h0)

    def zeros_like(t):
        return B.apply1("ConstantOfShape", B.shape_of(t), value=_zero(t.dtype))

    ga = {
        k: a.get(k, 0)
        for k in (
            "cell",
            "activation",
            "recurrent_activation",
            "reset_after",
            "has_mask",
            "n_drec",
            "conv",
        )
        if k != "conv" or a.get("conv")
    }
    ga["has_dy"] = int(cot["Y"] is not None)
    feed = {
        "dY": cot["Y"],
        "dh": cot["hT"] if cot["hT"] is not None else zeros_like(h0),
        "U": s["U"],
    }
    feed.update(Y=outs["Y"], gates=outs.get("gates"), Hprev=hprev, inner=outs.get("inner"))
    feed.update(mask=s.get("mask"), drec=s.get("drec"))
    if a["cell"] == "lstm":
        feed["dc"] = cot["cT"] if cot["cT"] is not None else zeros_like(s["c0"])
        feed.update(C=outs["C"], Cprev=_prev(outs["C"], s["c0"]))
    res = dict(
        zip(grad_outputs(ga), B.apply("KerasRNNGrad", [feed[k] for k in grad_inputs(ga)], **ga))
    )
    d_pre = res["d_pre"]
    need = dict(zip(in_names, ctx.needs))
    grads: dict[str, Any] = {"h0": res["dh0"], "c0": res.get("dc0")}
    if a.get("conv"):
        grads["x"] = d_pre  # the projected input: its gradient is the pre-activations'
    else:
        grads["x"], grads["W"] = _input_grads(ctx, s, d_pre, gates, units)
    if need["U"] or need.get("rb"):
        grads["U"], d_rec = _recurrent_grad(ctx, s, outs, d_pre, hprev, gates, units)
        grads["rb"] = B.reduce("ReduceSum", d_rec, (0, 1)) if need.get("rb") else None
    if need.get("b"):
        grads["b"] = B.reduce("ReduceSum", d_pre, (0, 1))
    return [grads.get(n) if need[n] else None for n in in_names]


def _zero(dtype: DType) -> np.ndarray:
    return np.zeros((), dtype.numpy)


register("KerasRNN", _rnn_infer, _rnn_vjp, emit=emit_keras_rnn)
register("KerasRNNGrad", _grad_infer, None, emit=emit_keras_rnn_grad)


# -- ONNX's fused recurrent ops (inference only) -------------------------------------------
_NATIVE_GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}


def _native_infer(op: str):
    gates = _NATIVE_GATES[op]

    def infer(specs, attrs, consts):
        x, w, r = specs[:3]
        if x.rank != 3 or w.rank != 3 or r.rank != 3:
            raise ShapeError("X, W and R must be 3-D (layout 0: X is (time, batch, features))")
        if attrs.get("layout", 0) != 0:
            raise ShapeError("only layout=0 (time-major) is used")
        dirs = 2 if attrs.get("direction", "forward") == "bidirectional" else 1
        units = int(attrs["hidden_size"])
        _merge("direction", w.shape[0], r.shape[0], dirs)
        _merge("gate rows", w.shape[1], r.shape[1], gates * units)
        _merge("input feature", x.shape[2], w.shape[2])
        dtype = same_dtype([x, w, r])
        batch = [x.shape[1]] + [s.shape[1] for s in specs[5:7] if s.rank == 3]
        b = _merge("batch", *batch)
        state = TensorSpec((dirs, b, units), dtype)
        outs = [TensorSpec((x.shape[0], dirs, b, units), dtype), state]
        return outs + ([state] if op == "LSTM" else [])

    return infer


for _op in _NATIVE_GATES:
    register(_op, _native_infer(_op))
