"""PERF.md's measurement protocol, shared by every system.

- Training: 4 epochs. Epoch k's time runs from the end of epoch k-1 to the end of epoch k
  (so nothing a system does between epochs escapes the clock); epoch 1 runs from the
  start of `compile` to its end (so lowering done in `compile` counts as overhead too).
  train samples/s = 3 * N / (epochs 2-4); first-epoch overhead = epoch 1 - median of
  epochs 2-4.
- Predict: N_PREDICT samples at batch 128, one untimed pass, then the median of 3.
- Batch-1 latency: p50 of 200 single-sample calls after 10 untimed ones.
"""

from __future__ import annotations

import itertools
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

EPOCHS = 4
PREDICT_BATCH = 128


@dataclass(frozen=True)
class Budget:
    """How much of the protocol to run: the full one, or a quick smoke run."""

    train_fraction: float = 1.0
    n_predict: int = 10_000
    predict_passes: int = 3
    latency_calls: int = 200
    latency_warmup: int = 10

    @classmethod
    def quick(cls) -> Budget:
        return cls(
            train_fraction=0.2,
            n_predict=2_560,
            predict_passes=1,
            latency_calls=20,
            latency_warmup=3,
        )

    def n_train(self, full: int) -> int:
        return max(PREDICT_BATCH, int(full * self.train_fraction))


def train_stats(start: float, epoch_ends: list[float], n: int) -> dict[str, Any]:
    """Throughput and overhead from the start time and the wall clock at each epoch end."""
    if len(epoch_ends) != EPOCHS:
        raise RuntimeError(f"expected {EPOCHS} epoch ends, got {len(epoch_ends)}")
    bounds = [start, *epoch_ends]
    epochs = [b - a for a, b in itertools.pairwise(bounds)]
    steady = epochs[1:]
    return {
        "n_train": n,
        "epoch_s": epochs,
        "train_sps": len(steady) * n / sum(steady),
        "train_sps_best_epoch": n / min(steady),  # a noise diagnostic, not PERF.md's number
        "overhead_s": epochs[0] - statistics.median(steady),
    }


def time_predict(predict: Callable[[np.ndarray], Any], x: np.ndarray, passes: int) -> float:
    """Samples/s of `predict(x)` over the whole array: median of `passes` after a warm-up."""
    predict(x)
    times = []
    for _ in range(passes):
        t0 = time.perf_counter()
        predict(x)
        times.append(time.perf_counter() - t0)
    return len(x) / statistics.median(times)


def time_latency(call: Callable[[np.ndarray], Any], x: np.ndarray, budget: Budget) -> float:
    """p50 in milliseconds of `call(x[i:i+1])` over distinct rows of `x`."""
    for i in range(budget.latency_warmup):
        call(x[i : i + 1])
    times = []
    for i in range(budget.latency_calls):
        row = x[i % len(x) : i % len(x) + 1]
        t0 = time.perf_counter()
        call(row)
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)


def fastest_latency(
    candidates: dict[str, Any], x: np.ndarray, budget: Budget
) -> tuple[float | None, str | None, dict[str, Any]]:
    """Time each direct path (a callable, or a string saying why it could not be set up);
    return the fastest (ms, name) and every path's result."""
    results: dict[str, Any] = {}
    for name, call in candidates.items():
        if isinstance(call, str):
            results[name] = call
            continue
        try:
            results[name] = time_latency(call, x, budget)
        except Exception as exc:  # noqa: BLE001 (a path a system lacks is a note, not a failure)
            results[name] = f"{type(exc).__name__}: {exc}"[:200]
    timed = {k: v for k, v in results.items() if isinstance(v, float)}
    if not timed:
        return None, None, results
    best = min(timed, key=timed.__getitem__)
    return timed[best], best, results
