"""More seeded random tensors (binomial, truncated normal) and randomly initialized variables.

The tensors hash (seed, train step, element index) like `K.random_uniform`: a seed gives
the same values in every program and a new draw at every train step. The variables take
their initial value from the same hash at step 0, so
`K.random_uniform_variable(shape, 0, 1, seed=s)` holds what `K.random_uniform(shape,
seed=s)` gives before the first train step.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from kgraph._config import floatx
from kgraph.backend._layers_extra import (
    _halves,
    _random_bits,
    _seed,
    random_uniform,
    reference_random_normal,
    reference_random_uniform,
)
from kgraph.backend._nn import reference_mask_bits
from kgraph.backend._session import variable
from kgraph.ir import Tensor, Variable, as_dtype
from kgraph.ir import build as B

__all__ = [
    "random_binomial", "truncated_normal", "reference_truncated_normal",
    "random_uniform_variable", "random_normal_variable",
]  # fmt: skip

_TOP24 = 2.0**-24
# The standard normal's probability below -2: truncation keeps [PHI_LOW, 1 - PHI_LOW].
_PHI_LOW = 0.5 * math.erfc(2.0 / math.sqrt(2.0))

# Acklam's rational approximation of the inverse normal CDF (relative error < 1.2e-9).
_A = (-3.969683028665376e01, 2.209460984245205e02, -2.759285104469687e02,
      1.383577518672690e02, -3.066479806614716e01, 2.506628277459239e00)  # fmt: skip
_B = (-5.447609879822406e01, 1.615858368580409e02, -1.556989798598866e02,
      6.680131188771972e01, -1.328068155288572e01)  # fmt: skip
_C = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e00,
      -2.549732539343734e00, 4.374664141464968e00, 2.938163982698783e00)  # fmt: skip
_D = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00, 3.754408661907416e00)
_P_TAIL = 0.02425


def _horner(coeffs: Sequence[float], x: Any) -> Any:
    acc = coeffs[0] * x
    for c in coeffs[1:-1]:
        acc = (acc + c) * x
    return acc + coeffs[-1]


def _normal_ppf(p: Any, log: Callable, sqrt: Callable, where: Callable) -> Any:
    """The inverse normal CDF, written once for IR tensors and numpy arrays alike."""
    q = p - 0.5
    r = q * q
    central = _horner(_A, r) * q / (_horner(_B, r) * r + 1.0)
    lower = q < 0.0
    tail_p = where(lower, p, 1.0 - p)
    t = sqrt(log(tail_p) * -2.0)
    tail = _horner(_C, t) / (_horner(_D, t) * t + 1.0)
    tail = where(lower, tail, -tail)
    return where(tail_p < _P_TAIL, tail, central)


def _truncated_unit(u: Any, log: Callable, sqrt: Callable, where: Callable, clip: Callable) -> Any:
    p = u * (1.0 - 2.0 * _PHI_LOW) + _PHI_LOW
    return clip(_normal_ppf(p, log, sqrt, where), -2.0, 2.0)


def truncated_normal(shape: Any, mean: float = 0.0, stddev: float = 1.0, dtype: Any = None,
                     seed: int | None = None) -> Tensor:  # fmt: skip
    """Normal values N(mean, stddev**2) redrawn until within 2 standard deviations.

    The draws follow that truncated distribution exactly: a uniform value is mapped
    through the inverse normal CDF restricted to [-2, 2], so no value needs redrawing.

    Args:
        shape: a tuple of ints or a 1-D int tensor such as `K.shape(x)`.
        mean, stddev: the parameters of the normal before truncation.
        dtype: a float dtype (default `floatx()`).
        seed: the stream; None draws one at random.

    Returns:
        A tensor that differs at every train step and is reproducible for a seed.
    """
    dtype = as_dtype(dtype or floatx())
    hi, _ = _halves(_random_bits(shape, _seed(seed)), dtype)
    u = B.mul(B.add(hi, 0.5), _TOP24)
    z = _truncated_unit(
        u,
        lambda x: B.unary("Log", x),
        lambda x: B.unary("Sqrt", x),
        B.where,
        lambda x, lo, up: B.binary("Min", B.binary("Max", x, lo), up),
    )
    return B.add(B.mul(z, float(stddev)), float(mean))


def reference_truncated_normal(shape: Sequence[int], seed: int, step: int, mean: float = 0.0,
                               stddev: float = 1.0) -> np.ndarray:  # fmt: skip
    """The numpy twin of `truncated_normal` (float32; transcendental functions may differ
    from onnxruntime's in the last bits)."""
    hi = (reference_mask_bits(shape, seed, step) >> np.uint64(40)).astype(np.float32)
    u = (hi + np.float32(0.5)) * np.float32(_TOP24)
    z = _truncated_unit(u, np.log, np.sqrt, np.where, np.clip)
    return (z * np.float32(stddev) + np.float32(mean)).astype(np.float32)


def random_binomial(shape: Any, p: Any = 0.0, dtype: Any = None, seed: int | None = None) -> Tensor:
    """1 with probability `p`, else 0: `K.random_uniform(shape, seed=seed) <= p`, as Keras.

    Args:
        shape: a tuple of ints or a 1-D int tensor such as `K.shape(x)`.
        p: the probability of a 1 (a number or a tensor that broadcasts against `shape`).
        dtype: the result's dtype (default `floatx()`).
        seed: the stream; None draws one at random.
    """
    dtype = as_dtype(dtype or floatx())
    u = random_uniform(shape, dtype=dtype if dtype.is_float else floatx(), seed=seed)
    return B.cast(B.binary("LessOrEqual", u, p), dtype)


def _variable_seed(seed: int | None) -> int:
    # Keras draws an unset seed from numpy's global state, so np.random.seed fixes it.
    return int(np.random.randint(10e8)) if seed is None else int(seed)


def random_uniform_variable(shape: Sequence[int], low: float, high: float, dtype: Any = None,
                            name: str | None = None, seed: int | None = None) -> Variable:  # fmt: skip
    """A variable filled with uniform values in [low, high).

    Example:
        ```python
        kernel = K.random_uniform_variable((3, 4), low=-0.05, high=0.05, seed=1)
        ```
    """
    value = reference_random_uniform(tuple(shape), _variable_seed(seed), 0, low, high)
    return variable(value, dtype=dtype, name=name)


def random_normal_variable(shape: Sequence[int], mean: float, scale: float, dtype: Any = None,
                           name: str | None = None, seed: int | None = None) -> Variable:  # fmt: skip
    """A variable filled with normal values N(mean, scale**2)."""
    value = reference_random_normal(tuple(shape), _variable_seed(seed), 0, mean, scale)
    return variable(value, dtype=dtype, name=name)
