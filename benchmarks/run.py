"""Run kgraph and its peers side by side on PERF.md's reference models.

    python benchmarks/run.py [--models mlp] [--systems kgraph,tf-keras,torch,...]
                             [--repeats 3] [--quick] [--json out.json]

Each (model, system) runs in its own subprocess (fresh thread pools, default thread
settings); repeats are interleaved (A, B, C, A, B, C, ...) so that drift on a shared
machine hits every system alike; the tables show medians over repeats. A system that is
not installed is reported as missing, never as a failure.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import report  # noqa: E402
from benchmarks.specs import MODELS  # noqa: E402
from benchmarks.systems import SYSTEMS  # noqa: E402

# numpy's OpenBLAS pinned to an older core type under-reports the machine's GEMM rate.
_GEMM_UNSET = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def _csv(names: str, known: dict[str, Any], what: str) -> list[str]:
    chosen = [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in chosen if n not in known]
    if unknown:
        raise SystemExit(f"unknown {what}: {', '.join(unknown)} (known: {', '.join(known)})")
    return chosen


def _spawn(python: str, model: str, system: str, quick: bool, timeout: float) -> dict[str, Any]:
    env = dict(os.environ)
    if system == "gemm":
        for var in _GEMM_UNSET:
            env.pop(var, None)
    else:
        env.update(SYSTEMS[system].env)
    with tempfile.TemporaryDirectory(prefix="kgraph-bench-") as tmp:
        out = Path(tmp) / "result.json"
        cmd = [python, "-m", "benchmarks.worker", model, system, str(out)]
        if quick:
            cmd.append("--quick")
        try:
            proc = subprocess.run(
                cmd, check=False, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
            )
        except subprocess.TimeoutExpired:
            return {
                "model": model,
                "system": system,
                "status": "error",
                "error": f"timed out after {timeout:.0f} s",
            }
        if out.exists():
            return json.loads(out.read_text())
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
        return {
            "model": model,
            "system": system,
            "status": "error",
            "error": f"worker exited {proc.returncode} without a result",
            "stderr": tail,
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", default="mlp", help=f"comma list of {', '.join(MODELS)}")
    parser.add_argument(
        "--systems", default=",".join(SYSTEMS), help=f"comma list of {', '.join(SYSTEMS)}"
    )
    parser.add_argument("--repeats", type=int, default=None, help="3, or 1 with --quick")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a smoke run: 1/5 of the training set, fewer predict passes and latency calls",
    )
    parser.add_argument("--no-gemm", action="store_true", help="skip the GEMM-rate probe")
    parser.add_argument("--json", type=Path, help="write every run and the summary here")
    parser.add_argument(
        "--python",
        default=sys.executable,
        help="the interpreter of the workers (default: this one)",
    )
    parser.add_argument("--timeout", type=float, default=1200, help="seconds per run")
    args = parser.parse_args(argv)
    models = _csv(args.models, MODELS, "models")
    systems = _csv(args.systems, SYSTEMS, "systems")
    repeats = args.repeats or (1 if args.quick else 3)

    jobs = [(m, s) for m in models for s in systems]
    if not args.no_gemm:
        jobs.insert(0, ("-", "gemm"))
    runs: list[dict[str, Any]] = []
    dropped: set[tuple[str, str]] = set()  # missing or failed: not repeated
    for r in range(repeats):
        for model, system in jobs:
            if (model, system) in dropped:
                continue
            t0 = time.perf_counter()
            result = _spawn(args.python, model, system, args.quick, args.timeout)
            result["repeat"] = r
            runs.append(result)
            status = result["status"]
            note = "" if status == "ok" else f": {result.get('error', '')}"
            print(
                f"[{r + 1}/{repeats}] {model:9} {system:12} {status}"
                f" ({time.perf_counter() - t0:.1f} s){note}",
                file=sys.stderr,
                flush=True,
            )
            if status != "ok":
                dropped.add((model, system))

    summary = report.summarize(runs, models, systems)
    print(report.render(summary, models, systems, quick=args.quick, repeats=repeats))
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "machine": {
                        "platform": platform.platform(),
                        "processor": platform.processor(),
                        "cpus": os.cpu_count(),
                        "python": args.python,
                    },
                    "args": {
                        "models": models,
                        "systems": systems,
                        "repeats": repeats,
                        "quick": args.quick,
                    },
                    "summary": summary,
                    "runs": runs,
                },
                indent=1,
                default=str,
            )
        )
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
