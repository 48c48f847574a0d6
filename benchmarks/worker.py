"""One measurement in a fresh process: `python -m benchmarks.worker MODEL SYSTEM OUT.json`.

SYSTEM is a name from `systems.SYSTEMS`, or `gemm` for the GEMM probe (MODEL ignored).
The result is written as JSON to OUT.json with a `status` of `ok`, `missing` (the system
is not installed) or `error` (it is installed and failed; the traceback is kept).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import sys
import time
import traceback
import warnings
from typing import Any


def _versions(distributions: tuple[str, ...]) -> dict[str, str]:
    """Installed versions, or a module's `__version__` (a checkout that is not installed)."""
    found = {}
    provided = importlib.metadata.packages_distributions()
    for dist in distributions:
        try:
            found[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            module = dist.replace("-", "_")
            version = getattr(sys.modules.get(module), "__version__", None)
            if version and module not in provided:
                found[dist] = f"{version} (not installed)"
    return found


def measure(model: str, system: str, quick: bool) -> dict[str, Any]:
    from benchmarks import gemm
    from benchmarks.protocol import Budget
    from benchmarks.specs import MODELS
    from benchmarks.systems import SYSTEMS, missing_modules

    record: dict[str, Any] = {"model": model, "system": system, "python": sys.version.split()[0]}
    if system == "gemm":
        return {**record, "status": "ok", "metrics": gemm.measure()}
    sys_ = SYSTEMS[system]
    missing = missing_modules(sys_)
    if missing:
        return {**record, "status": "missing", "error": "not installed: " + ", ".join(missing)}
    budget = Budget.quick() if quick else Budget()
    t0 = time.perf_counter()
    try:
        metrics = sys_.run(MODELS[model], budget)
    except Exception as exc:  # noqa: BLE001 (reported, with its traceback)
        return {
            **record,
            "status": "error",
            "error": f"{type(exc).__name__}: {exc}"[:500],
            "traceback": traceback.format_exc(),
            "versions": _versions(sys_.distributions),
        }
    metrics["wall_s"] = time.perf_counter() - t0
    return {**record, "status": "ok", "metrics": metrics, "versions": _versions(sys_.distributions)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("model")
    parser.add_argument("system")
    parser.add_argument("out")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    warnings.simplefilter("ignore")  # deprecation chatter from the peers, not results
    result = measure(args.model, args.system, args.quick)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1, default=str)


if __name__ == "__main__":
    main()
