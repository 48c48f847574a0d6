"""Medians over repeats, kgraph-vs-peer ratios, PERF.md's targets, and their rendering."""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass
from typing import Any

from benchmarks.floors import step_bound_ms
from benchmarks.specs import MODELS
from benchmarks.systems import PEERS, SYSTEMS


@dataclass(frozen=True)
class Metric:
    key: str
    title: str
    higher_is_better: bool
    fmt: str


METRICS = (
    Metric("train_sps", "train/s", True, "{:,.0f}"),
    Metric("predict_sps", "predict/s", True, "{:,.0f}"),
    Metric("b1_predict_ms", "b1 predict() ms", False, "{:.3f}"),
    Metric("b1_direct_ms", "b1 direct ms", False, "{:.3f}"),
    Metric("overhead_s", "overhead s", False, "{:.2f}"),
)

# PERF.md's targets for kgraph.
TRAIN_VS_BEST_PEER = 1.5
MLP_EFFICIENCY = 0.60
PREDICT_VS_ORT = 1.0
B1_PREDICT_VS_RAW_ORT = 2.0
OVERHEAD_LIMIT_S = {"mlp": 0.3, "cnn": 0.3, "lstm": 1.0, "lstm_nord": 1.0}


def _median(values: list[Any]) -> float | None:
    nums = [v for v in values if isinstance(v, (int, float))]
    return statistics.median(nums) if nums else None


def _system_status(runs: list[dict[str, Any]], system: str) -> dict[str, Any]:
    mine = [r for r in runs if r["system"] == system]
    ok = [r for r in mine if r["status"] == "ok"]
    versions = next((r["versions"] for r in ok if r.get("versions")), {})
    if not mine:
        return {"status": "not run"}
    if ok and len(ok) == len(mine):
        return {"status": "found", "versions": versions}
    bad = next(r for r in mine if r["status"] != "ok")
    status = "missing" if bad["status"] == "missing" and not ok else "error"
    return {
        "status": status,
        "detail": f"{bad['model']}: {bad.get('error', '')}",
        "versions": versions,
    }


def summarize(runs: list[dict[str, Any]], models: list[str], systems: list[str]) -> dict[str, Any]:
    gemm_runs = [r["metrics"] for r in runs if r["system"] == "gemm" and r["status"] == "ok"]
    gemm = {
        k: _median([g.get(k) for g in gemm_runs])
        for k in ("mlp_step_gflops", "square_gflops", "torch_mlp_step_gflops")
    }
    if gemm_runs:
        gemm["blas"] = gemm_runs[0].get("blas")
        gemm["runs"] = len(gemm_runs)

    results: dict[str, dict[str, Any]] = {}
    for model in models:
        results[model] = {}
        for system in systems:
            ok = [
                r["metrics"]
                for r in runs
                if r["model"] == model and r["system"] == system and r["status"] == "ok"
            ]
            if not ok:
                continue
            row: dict[str, Any] = {"runs": len(ok)}
            for m in METRICS:
                row[m.key] = _median([o.get(m.key) for o in ok])
            paths = [o.get("b1_direct_path") for o in ok if o.get("b1_direct_path")]
            row["b1_direct_path"] = Counter(paths).most_common(1)[0][0] if paths else None
            losses = [o["loss"] for o in ok if o.get("loss")]
            if losses:
                row["loss"] = [statistics.median(e) for e in zip(*losses, strict=True)]
            # kgraph's own exported graph in a raw InferenceSession, when it offers one
            raw = [
                v
                for o in ok
                for k, v in (o.get("b1_direct_paths") or {}).items()
                if k.startswith("ort of ") and isinstance(v, (int, float))
            ]
            row["own_export_ort_ms"] = _median(raw)
            row["params"] = ok[0].get("params")
            row["train_flops"] = ok[0].get("train_flops")
            row["update_ms"] = _median([o["update_ms"] for o in ok if o.get("update_ms")])
            row["n_train"] = ok[0].get("n_train")
            rate = gemm.get("mlp_step_gflops")
            if MODELS[model].gemm_target and rate and row["train_sps"] and row["params"]:
                row["efficiency"] = 6 * row["params"] * row["train_sps"] / (rate * 1e9)
            results[model][system] = row

    return {
        "gemm": gemm,
        "systems": {s: _system_status(runs, s) for s in systems},
        "results": results,
        "ratios": _ratios(results),
        "targets": _targets(results, gemm.get("square_gflops")),
    }


def _advantage(metric: Metric, kgraph: float | None, peer: float | None) -> float | None:
    """How many times better kgraph is (>1: kgraph wins), or None if not comparable."""
    if kgraph is None or peer is None or kgraph <= 0 or peer <= 0:
        return None
    return kgraph / peer if metric.higher_is_better else peer / kgraph


def _best_peer(metric: Metric, rows: dict[str, Any]) -> tuple[str, float] | None:
    values = {
        p: rows[p][metric.key]
        for p in PEERS
        if p in rows and isinstance(rows[p].get(metric.key), (int, float))
    }
    if metric.key == "overhead_s":
        values = {p: v for p, v in values.items() if v > 0}
    if not values:
        return None
    pick = max if metric.higher_is_better else min
    best = pick(values, key=values.__getitem__)
    return best, values[best]


def _ratios(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    ratios: dict[str, Any] = {}
    for model, rows in results.items():
        kg = rows.get("kgraph")
        if not kg:
            continue
        ratios[model] = {}
        for peer in PEERS:
            if peer in rows:
                ratios[model][peer] = {
                    m.key: _advantage(m, kg[m.key], rows[peer][m.key]) for m in METRICS
                }
        best: dict[str, Any] = {}
        for m in METRICS:
            found = _best_peer(m, rows)
            best[m.key] = (
                None
                if found is None
                else {"peer": found[0], "ratio": _advantage(m, kg[m.key], found[1])}
            )
        ratios[model]["best peer"] = best
    return ratios


def _ceiling_note(kg: dict[str, Any], needed: float | None, peak_gflops: float | None) -> str | None:
    """How the training target compares with the products' FLOPs at the peak GEMM rate."""
    flops = kg.get("train_flops")
    if not (flops and needed and peak_gflops):
        return None
    ceiling = peak_gflops * 1e9 / flops
    return (
        f"{flops / 1e6:.1f} MFLOP of products per sample: at the machine's peak GEMM rate "
        f"({peak_gflops:.0f} GFLOP/s) no system passes {ceiling:,.0f}/s; the target needs "
        f"{needed:,.0f}/s ({needed / ceiling:.0%} of that), kgraph runs at "
        f"{kg['train_sps'] / ceiling:.0%}"
    )


def _floor_note(model: str, kg: dict[str, Any], needed: float | None, peak_gflops: float | None) -> str | None:
    """How the training target compares with the products plus the optimizer's update."""
    flops, update = kg.get("train_flops"), kg.get("update_ms")
    if not (flops and update and needed and peak_gflops):
        return None
    batch = MODELS[model].batch_size
    step_ms = step_bound_ms(flops, batch, peak_gflops, update)
    floor = batch / step_ms * 1e3
    return (
        f"with the optimizer's update ({update:.2f} ms a step, one onnxruntime kernel per "
        f"operation of its formula) a step takes at least {step_ms:.2f} ms: at most "
        f"{floor:,.0f}/s, and the target needs {needed / floor:.0%} of that"
    )


def _targets(
    results: dict[str, dict[str, Any]], peak_gflops: float | None = None
) -> list[dict[str, Any]]:
    checks: list[dict[str, Any]] = []

    def check(
        model: str, what: str, value: float | None, limit: float, higher: bool,
        note: str | None = None,
    ) -> None:
        met = None if value is None else (value >= limit if higher else value <= limit)
        checks.append({"model": model, "target": what, "value": value, "met": met, "note": note})

    for model, rows in results.items():
        kg = rows.get("kgraph")
        if not kg:
            continue
        best = _best_peer(METRICS[0], rows)
        check(
            model,
            f"train >= {TRAIN_VS_BEST_PEER}x best peer" + (f" ({best[0]})" if best else ""),
            kg["train_sps"] / best[1] if best and kg["train_sps"] else None,
            TRAIN_VS_BEST_PEER,
            True,
            "\n".join(filter(None, (
                _ceiling_note(kg, TRAIN_VS_BEST_PEER * best[1] if best else None, peak_gflops),
                _floor_note(model, kg, TRAIN_VS_BEST_PEER * best[1] if best else None, peak_gflops),
            ))) or None,  # fmt: skip
        )
        if "efficiency" in kg:
            check(
                model,
                f"training efficiency >= {MLP_EFFICIENCY:.0%} of GEMM rate",
                kg["efficiency"],
                MLP_EFFICIENCY,
                True,
            )
        ort = rows.get("ort-tf2onnx", {})
        check(
            model,
            f"predict >= {PREDICT_VS_ORT}x ort-tf2onnx",
            kg["predict_sps"] / ort["predict_sps"]
            if kg["predict_sps"] and ort.get("predict_sps")
            else None,
            PREDICT_VS_ORT,
            True,
        )
        raw, graph = kg.get("own_export_ort_ms"), "kgraph's export"
        if raw is None:
            raw, graph = ort.get("b1_direct_ms"), "the tf2onnx export"
        check(
            model,
            f"b1 predict() <= {B1_PREDICT_VS_RAW_ORT}x raw InferenceSession.run ({graph})",
            kg["b1_predict_ms"] / raw if kg["b1_predict_ms"] and raw else None,
            B1_PREDICT_VS_RAW_ORT,
            False,
        )
        if model in OVERHEAD_LIMIT_S:
            check(
                model,
                f"first-epoch overhead <= {OVERHEAD_LIMIT_S[model]} s",
                kg["overhead_s"],
                OVERHEAD_LIMIT_S[model],
                False,
            )
    return checks


# ---------------------------------------------------------------------------- rendering


def _fmt(value: Any, fmt: str) -> str:
    return "–" if value is None else fmt.format(value)


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in [header, *rows]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def render(
    summary: dict[str, Any], models: list[str], systems: list[str], *, quick: bool, repeats: int
) -> str:
    out: list[str] = []
    what = "QUICK smoke run: numbers are not comparable to PERF.md" if quick else "medians"
    out.append(f"\n# kgraph benchmarks ({what}; {repeats} repeat(s), interleaved)")

    gemm = summary["gemm"]
    if gemm.get("mlp_step_gflops"):
        line = (
            f"\nfloat32 GEMM (numpy): {gemm['mlp_step_gflops']:.1f} GFLOP/s on the mlp's "
            f"training-step shapes (batch 128), {gemm['square_gflops']:.1f} GFLOP/s at 1024^3"
        )
        if gemm.get("torch_mlp_step_gflops"):
            line += f"; torch.mm on the mlp shapes: {gemm['torch_mlp_step_gflops']:.1f} GFLOP/s"
        out.append(line)
        blas = gemm.get("blas")
        if isinstance(blas, list) and blas:
            out.append(
                "  BLAS: "
                + ", ".join(
                    f"{b.get('internal_api')} {b.get('version')} {b.get('architecture')} "
                    f"x{b.get('num_threads')}"
                    for b in blas
                )
            )
        elif blas:
            out.append(f"  BLAS: {blas}")

    for model in models:
        rows = summary["results"].get(model, {})
        if not rows:
            out.append(f"\n## {model}: no results")
            continue
        spec = MODELS[model]
        n_train = next((r["n_train"] for r in rows.values() if r.get("n_train")), spec.n_train)
        out.append(
            f"\n## {model} (train {n_train:,} samples at batch {spec.batch_size}; "
            f"predict at batch 128; latency at batch 1)"
        )
        header = ["system", *(m.title for m in METRICS), "direct path", "loss e1->e4"]
        if spec.gemm_target:
            header.append("6*params/GEMM")
        table = []
        for system in systems:
            row = rows.get(system)
            if row is None:
                continue
            loss = row.get("loss")
            cells = [
                SYSTEMS[system].label,
                *(_fmt(row[m.key], m.fmt) for m in METRICS),
                row.get("b1_direct_path") or "–",
                f"{loss[0]:.3f}->{loss[-1]:.3f}" if loss else "–",
            ]
            if spec.gemm_target:
                cells.append(_fmt(row.get("efficiency"), "{:.0%}"))
            table.append(cells)
        out.append(_table(header, table))

    if summary["ratios"]:
        out.append("\n## kgraph vs peers (x = how many times better kgraph is; >1: kgraph wins)")
        header = ["model / vs", *(m.title for m in METRICS)]
        table = []
        for model, by_peer in summary["ratios"].items():
            for peer, ratios in by_peer.items():
                if peer == "best peer":
                    cells = [f"{model} / best peer"]
                    for m in METRICS:
                        b = ratios[m.key]
                        cells.append(
                            "–"
                            if b is None or b["ratio"] is None
                            else f"{b['ratio']:.2f} ({b['peer']})"
                        )
                else:
                    cells = [f"{model} / {peer}", *(_fmt(ratios[m.key], "{:.2f}") for m in METRICS)]
                table.append(cells)
        out.append(_table(header, table))
    elif "kgraph" in systems:
        out.append("\n## kgraph vs peers: no kgraph result to compare")

    if summary["targets"]:
        out.append("\n## PERF.md targets")
        for t in summary["targets"]:
            mark = {True: "met", False: "MISSED", None: "n/a"}[t["met"]]
            value = "–" if t["value"] is None else f"{t['value']:.3g}"
            out.append(f"  [{mark:6}] {t['model']}: {t['target']}: {value}")
            if t.get("note"):
                out.extend(f"           {line}" for line in t["note"].splitlines())

    out.append("\n## systems")
    for system, st in summary["systems"].items():
        versions = ", ".join(f"{k} {v}" for k, v in st.get("versions", {}).items())
        line = f"  {system:12} {st['status']}"
        if versions:
            line += f" ({versions})"
        if st.get("detail"):
            line += f": {st['detail']}"
        out.append(line)
    return "\n".join(out)
