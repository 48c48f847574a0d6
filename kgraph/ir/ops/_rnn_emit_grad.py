"""ONNX emission of `KerasRNNGrad`: the reverse recurrence as a `Scan`.

Every factor of a step that does not depend on the carried gradient (activation
derivatives, the saved gates' products) is computed for all steps at once, outside the
loop, so a reverse step is a handful of Muls and one GEMM.

The loop walks the saved sequences in reverse. onnxruntime could reverse them itself
(`scan_input_directions`), but onnx's reference evaluator cannot, and the op harness checks
every op against it, so the sequences are reversed with `Slice` around the loop.
"""

from __future__ import annotations

from typing import Any

from kgraph.ir.ops._rnn_emit import (
    _INT64_MIN,
    _Nodes,
    _opt_mul,
    _Recurrent,
    _reverse,
    _scan,
    _setup,
    act,
    dact,
    recurrent,
)
from kgraph.ir.ops.registry import EmitContext

__all__ = ["emit_keras_rnn_grad"]


def _factor(nb: _Nodes, name: str, y: str) -> str:
    """dact at y as a tensor (ones for the identity)."""
    d = dact(nb, name, y)
    return nb("Expand", nb.const(1.0), nb("Shape", y)) if d is None else d


def _step_inputs(nb: _Nodes, a: dict, ins: dict[str, str], rec: _Recurrent) -> dict[str, str]:
    """Every per-step factor that does not depend on the carried gradient, computed for all
    steps at once (already in reverse time order), so the loop body is a few Muls and one
    GEMM per step."""
    ra, ac, cell = a["recurrent_activation"], a["activation"], a["cell"]
    rev = {
        k: _reverse(nb, ins[k]) for k in ("gates", "C", "Cprev", "Hprev", "inner", "Y") if k in ins
    }
    if cell == "simple":
        return {"da": _factor(nb, ac, rev["Y"])}
    if cell == "lstm":
        # d_pre = [dc * g * i', dc * c_prev * f', dc * i * g', dh * act(c) * o'] = [dc, dc, dc, dh] * q
        i, f, g, o = nb("Split", rev["gates"], n=4, axis=2, num_outputs=4)
        tc = act(nb, ac, rev["C"])
        q = [_opt_mul(nb, g, dact(nb, ra, i)), _opt_mul(nb, rev["Cprev"], dact(nb, ra, f)),
             _opt_mul(nb, i, dact(nb, ac, g)), _opt_mul(nb, tc, dact(nb, ra, o))]  # fmt: skip
        return {"q": nb("Concat", *q, axis=2), "f": f, "odtc": _opt_mul(nb, o, dact(nb, ac, tc))}
    z, r, hh = nb("Split", rev["gates"], n=3, axis=2, num_outputs=3)
    hp = rev["Hprev"]
    dz = _opt_mul(nb, nb("Sub", hp, hh), dact(nb, ra, z))
    dhh = _opt_mul(nb, nb("Sub", nb.const(1.0), z), dact(nb, ac, hh))
    if a.get("reset_after"):
        # The input-side and recurrent-side gradients are dh times these, gate by gate.
        dr = nb("Mul", dhh, _opt_mul(nb, rev["inner"], dact(nb, ra, r)))
        return {"z": z, "q_pre": nb("Concat", dz, dr, dhh, axis=2),
                "q_rec": nb("Concat", dz, dr, nb("Mul", dhh, r), axis=2)}  # fmt: skip
    # hh = act(ph + (r * h_prev * mask_h)·U_h): mask_h is the same at every step.
    mask = rec.mask(2)
    dr = _opt_mul(nb, _opt_mul(nb, hp, dact(nb, ra, r)), mask)
    return {"z": z, "dz": dz, "dhh": dhh, "r": _opt_mul(nb, r, mask), "dr": dr}


def _backward_step(body: _Nodes, a: dict, rec: _Recurrent, dh: str, dc: str | None,
                   seq: dict[str, str]) -> tuple[str, str | None, str]:  # fmt: skip
    """One reverse step: the gradient of the gate pre-activations and of the previous state."""
    cell = a["cell"]
    if cell == "simple":
        d_pre = body("Mul", dh, seq["da"])
        return d_pre, None, rec.back(body, d_pre, 0, 1)
    if cell == "lstm":
        dc = body("Add", dc, body("Mul", dh, seq["odtc"]))
        d_pre = body("Mul", body("Concat", dc, dc, dc, dh, axis=1), seq["q"])
        return d_pre, body("Mul", dc, seq["f"]), rec.back(body, d_pre, 0, 4)
    direct = body("Mul", dh, seq["z"])
    if a.get("reset_after"):
        dh3 = body("Concat", dh, dh, dh, axis=1)
        d_rec = body("Mul", dh3, seq["q_rec"])
        return (
            body("Mul", dh3, seq["q_pre"]),
            None,
            body("Add", direct, rec.back(body, d_rec, 0, 3)),
        )
    # 2.0.5's GRU: t is the gradient of (r * h_prev * mask_h), the recurrent product's input.
    dpz, dph = body("Mul", dh, seq["dz"]), body("Mul", dh, seq["dhh"])
    t = body("MatMul", dph, rec.kernel_t(2, 3))
    dpr = body("Mul", t, seq["dr"])
    zr = body("Concat", dpz, dpr, axis=1)
    dh_prev = body("Add", body("Add", direct, body("Mul", t, seq["r"])), rec.back(body, zr, 0, 2))
    return body("Concat", dpz, dpr, dph, axis=1), None, dh_prev


def emit_keras_rnn_grad(ctx: EmitContext) -> list[Any]:
    from kgraph.ir.ops.rnn import grad_inputs

    a = ctx.attrs
    nb, ins, gates, units = _setup(ctx, grad_inputs(a))
    lstm = a["cell"] == "lstm"
    rec = recurrent(nb, a, ins, units, gates)
    outer = _step_inputs(nb, a, ins, rec)
    if a.get("has_dy"):
        outer["dY"] = _reverse(nb, ins["dY"])
    body = _Nodes(ctx.fresh, nb.dtype, outer=nb)
    dh, dc = ctx.fresh("dh"), ctx.fresh("dc") if lstm else None
    seq = {k: ctx.fresh(k) for k in outer}
    scans = [(seq[k], outer[k], False) for k in outer]
    dh_t = body("Add", dh, seq["dY"]) if a.get("has_dy") else dh
    d_pre, dc_prev, dh_prev = _backward_step(body, a, rec, dh_t, dc, seq)
    if a.get("has_mask"):
        m = ctx.fresh("m_t")
        scans.append((m, _reverse(nb, nb("Unsqueeze", ins["mask"], nb.ints(2))), True))
        d_pre = body("Where", m, d_pre, nb.const(0.0))
        dh_prev = body("Where", m, dh_prev, dh_t)
        if lstm:
            # A masked step passed c through untouched: its cotangent flows back as it came.
            dc_prev = body("Where", m, dc_prev, dc)
    states = [(dh, dh_prev)] + ([(dc, dc_prev)] if lstm else [])
    d_rev = ctx.fresh("d_pre_rev")
    outer_in = [ins["dh"]] + ([ins["dc"]] if lstm else []) + [s for _, s, _ in scans]
    _scan(nb, body, states, scans, [d_pre], outer_in, ctx.outputs[1:] + [d_rev])
    nb.nodes.append(_identity_reverse(nb, d_rev, ctx.outputs[0]))
    return nb.nodes


def _identity_reverse(nb: _Nodes, src: str, dst: str) -> Any:
    from onnx import helper

    return helper.make_node(
        "Slice", [src, nb.ints(-1), nb.ints(_INT64_MIN), nb.ints(0), nb.ints(-1)], [dst]
    )
