"""The machine's float32 GEMM rate, the yardstick of PERF.md's training-efficiency target.

`mlp_step` times the GEMMs of one mlp training step at batch 128 (per Dense layer: the
forward product, the weight gradient and, except for the first layer, the input
gradient) with numpy's BLAS, back to back; `square` times a 1024^3 product as the
machine's near-peak rate. Run it with OPENBLAS_CORETYPE unset (run.py does), or an
OpenBLAS pinned to an older core type under-reports the machine.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import Any

import numpy as np

MLP_SIZES = (784, 512, 512, 10)
MLP_BATCH = 128
ROUNDS = 7
ROUND_S = 0.15


def _rate(step: Callable[[], None], flops: float) -> float:
    """GFLOP/s of `step`: the best of ROUNDS rounds of ~ROUND_S seconds each (the machine's
    capability; on a shared machine the slower rounds measure the neighbours)."""
    step()
    single = []
    for _ in range(5):
        t0 = time.perf_counter()
        step()
        single.append(time.perf_counter() - t0)
    reps = max(1, int(ROUND_S / max(min(single), 1e-7)))
    rates = []
    for _ in range(ROUNDS):
        t0 = time.perf_counter()
        for _ in range(reps):
            step()
        rates.append(reps * flops / (time.perf_counter() - t0) / 1e9)
    return max(rates)


def _mlp_products(lib: Any, sizes: tuple[int, ...], batch: int) -> tuple[list, float]:
    """(a, b, out) triples of one training step, and their FLOPs."""
    rng = np.random.default_rng(0)

    def arr(*shape: int) -> Any:
        return lib(rng.standard_normal(shape, dtype=np.float32))

    products, flops = [], 0.0
    for layer, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        x, w, g = arr(batch, n_in), arr(n_in, n_out), arr(batch, n_out)
        products.append((x, w, arr(batch, n_out)))  # forward
        products.append((x.T, g, arr(n_in, n_out)))  # weight gradient
        flops += 2 * 2.0 * batch * n_in * n_out
        if layer:
            products.append((g, w.T, arr(batch, n_in)))  # input gradient
            flops += 2.0 * batch * n_in * n_out
    return products, flops


def _numpy_rates() -> dict[str, float]:
    products, flops = _mlp_products(lambda a: a, MLP_SIZES, MLP_BATCH)

    def step() -> None:
        for a, b, out in products:
            np.matmul(a, b, out=out)

    n = 1024
    a, b = (np.random.default_rng(1).standard_normal((n, n), dtype=np.float32) for _ in "ab")
    out = np.empty((n, n), np.float32)
    return {
        "mlp_step_gflops": _rate(step, flops),
        "square_gflops": _rate(lambda: np.matmul(a, b, out=out), 2.0 * n**3),
    }


def _torch_rates() -> dict[str, float]:
    import torch

    products, flops = _mlp_products(torch.from_numpy, MLP_SIZES, MLP_BATCH)

    def step() -> None:
        for a, b, out in products:
            torch.mm(a, b, out=out)

    return {"torch_mlp_step_gflops": _rate(step, flops)}


def measure() -> dict[str, Any]:
    result: dict[str, Any] = {"numpy": np.__version__, **_numpy_rates()}
    try:
        from threadpoolctl import threadpool_info

        result["blas"] = [
            {k: info.get(k) for k in ("internal_api", "version", "architecture", "num_threads")}
            for info in threadpool_info()
            if info.get("user_api") == "blas"
        ]
    except ImportError:
        result["blas"] = "threadpoolctl not installed"
    try:
        result.update(_torch_rates())
    except ImportError:
        pass
    return result
