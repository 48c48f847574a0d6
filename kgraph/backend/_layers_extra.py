"""Backend functions behind the normalization and noise layers: batch statistics, the
batch-normalization transform, and seeded in-graph random tensors.

Random tensors hash (seed, train step, element index) with the same counter-based hash as
the dropout masks (`random_mask_bits`), so a seed gives the same values in every program
and a new draw at every train step; `reference_random_normal` and
`reference_random_uniform` are their numpy twins.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from kgraph._config import floatx
from kgraph.backend._nn import random_mask_bits, reference_mask_bits
from kgraph.backend._ops import _int_vector, _t, square
from kgraph.backend._ops import mean as _mean
from kgraph.ir import DType, Tensor, as_dtype, get_default_graph
from kgraph.ir import build as B

__all__ = [
    "random_normal", "random_uniform", "reference_random_normal", "reference_random_uniform",
    "normalize_batch_in_training", "batch_normalization",
]  # fmt: skip

_TOP24 = 2.0**-24
_LOW24 = 0xFFFFFF


def _shape_tensor(shape: Any) -> Tensor:
    if isinstance(shape, Tensor):
        if shape.ndim != 1 or not shape.dtype.is_integer:
            raise ValueError(
                f"A random tensor's shape must be a 1-D integer tensor, got {shape.spec}"
            )
        return B.cast(shape, DType.int64)
    dims = [shape] if isinstance(shape, (int, np.integer)) else list(shape)
    if any(isinstance(d, Tensor) for d in dims):
        # A mix of runtime sizes and ints, e.g. (K.shape(x)[0], 2) as the VAE example writes.
        return _int_vector(dims, "A random tensor's shape")
    if any(d is None or int(d) < 0 for d in dims):
        raise ValueError(
            f"A random tensor's static shape must be fully known, got {tuple(dims)}; pass K.shape(x) instead"
        )
    return get_default_graph().constant(np.asarray(dims, dtype=np.int64))


def _seed(seed: int | None) -> int:
    return int(np.random.randint(10_000_000)) if seed is None else int(seed)


def _known(t: Tensor) -> list[int | None] | None:
    """The values of a small int tensor known before run time: constants, `K.shape(x)`
    (x's static dims) and the slices and elements of it that `K.shape(x)[0]` takes."""
    g = t.graph
    value = g.const_value(t)
    if value is not None:
        return [int(v) for v in np.asarray(value).reshape(-1)]
    node = g.node(t.node)
    inputs = g.inputs(t.node)
    if node.op == "Shape" and not node.attrs.get("start") and node.attrs.get("end") is None:
        return list(inputs[0].shape)
    if node.op in ("Cast", "Squeeze", "Unsqueeze", "Reshape", "Identity"):
        return _known(inputs[0])
    if node.op == "Slice" and node.attrs.get("axes", (0,)) in ((0,), (-1,)) and node.attrs.get("steps", (1,)) == (1,):
        full = _known(inputs[0])
        return None if full is None else full[node.attrs["starts"][0]:node.attrs["ends"][0]]
    return None


def _static_dims(shape: Any) -> tuple[int | None, ...] | None:
    """The static shape of a random tensor of `shape`, as far as it is known."""
    if isinstance(shape, Tensor):
        known = _known(shape)
        return None if known is None else tuple(known)
    dims = [shape] if isinstance(shape, (int, np.integer)) else list(shape)
    out: list[int | None] = []
    for d in dims:
        value = _known(d) if isinstance(d, Tensor) else [int(d)]
        out.append(value[0] if value and len(value) == 1 else None)
    return tuple(out)


def _random_bits(shape: Any, seed: int) -> Tensor:
    """`random_mask_bits` of `shape`, carrying the static dims that `shape` makes known."""
    bits = random_mask_bits(_shape_tensor(shape), seed)
    dims = _static_dims(shape)
    if dims is not None and len(dims) == bits.ndim and sum(d is None for d in dims) <= 1:
        bits = B.reshape(bits, [-1 if d is None else d for d in dims])
    return bits


def _halves(bits: Tensor, dtype: DType) -> tuple[Tensor, Tensor]:
    """Two 24-bit integers per element, from the top and the lower half of the hash, as floats."""
    g = bits.graph
    hi = B.apply1("BitShift", bits, g.constant(np.uint64(40)), direction="RIGHT")
    lo = B.apply1("BitShift", bits, g.constant(np.uint64(8)), direction="RIGHT")
    lo = B.binary("BitwiseAnd", lo, g.constant(np.uint64(_LOW24)))
    return B.cast(hi, dtype), B.cast(lo, dtype)


def random_uniform(shape: Any, minval: float = 0.0, maxval: float = 1.0, dtype: Any = None,
                   seed: int | None = None) -> Tensor:  # fmt: skip
    """Uniform values in [minval, maxval), with 24 random bits each.

    Args:
        shape: a tuple of ints or a 1-D int tensor such as `K.shape(x)`.
        minval, maxval: the range.
        dtype: a float dtype (default `floatx()`).
        seed: the stream; None draws one at random.

    Returns:
        A tensor that differs at every train step and is reproducible for a seed.
    """
    dtype = as_dtype(dtype or floatx())
    hi, _ = _halves(_random_bits(shape, _seed(seed)), dtype)
    unit = B.mul(hi, _TOP24)
    return B.add(B.mul(unit, float(maxval) - float(minval)), float(minval))


def random_normal(shape: Any, mean: float = 0.0, stddev: float = 1.0, dtype: Any = None,
                  seed: int | None = None) -> Tensor:  # fmt: skip
    """Normal values N(mean, stddev**2) by the Box-Muller transform of two 24-bit uniforms
    taken from one 64-bit hash per element (tails reach about 5.8 standard deviations).

    Args:
        shape: a tuple of ints or a 1-D int tensor such as `K.shape(x)`.
        mean, stddev: the distribution's parameters.
        dtype: a float dtype (default `floatx()`).
        seed: the stream; None draws one at random.

    Returns:
        A tensor that differs at every train step and is reproducible for a seed.

    Example:
        ```python
        noisy = x + K.random_normal(K.shape(x), stddev=0.1, seed=7)
        ```
    """
    dtype = as_dtype(dtype or floatx())
    hi, lo = _halves(_random_bits(shape, _seed(seed)), dtype)
    # u1 = (hi + 1) / 2^24 lies in (0, 1], so the log is finite.
    u1 = B.mul(B.add(hi, 1.0), _TOP24)
    radius = B.unary("Sqrt", B.mul(B.unary("Log", u1), -2.0))
    angle = B.mul(lo, 2.0 * np.pi * _TOP24)
    z = B.mul(radius, B.unary("Cos", angle))
    return B.add(B.mul(z, float(stddev)), float(mean))


def reference_random_uniform(shape: Sequence[int], seed: int, step: int, minval: float = 0.0,
                             maxval: float = 1.0) -> np.ndarray:  # fmt: skip
    """The numpy twin of `random_uniform` (float32)."""
    hi = (reference_mask_bits(shape, seed, step) >> np.uint64(40)).astype(np.float32)
    return hi * np.float32(_TOP24) * np.float32(maxval - minval) + np.float32(minval)


def reference_random_normal(shape: Sequence[int], seed: int, step: int, mean: float = 0.0,
                            stddev: float = 1.0) -> np.ndarray:  # fmt: skip
    """The numpy twin of `random_normal` (float32; transcendental functions may differ from
    onnxruntime's in the last bits)."""
    bits = reference_mask_bits(shape, seed, step)
    hi = (bits >> np.uint64(40)).astype(np.float32)
    lo = ((bits >> np.uint64(8)) & np.uint64(_LOW24)).astype(np.float32)
    u1 = (hi + np.float32(1.0)) * np.float32(_TOP24)
    radius = np.sqrt(np.log(u1) * np.float32(-2.0))
    z = radius * np.cos(lo * np.float32(2.0 * np.pi * _TOP24))
    return z * np.float32(stddev) + np.float32(mean)


def batch_normalization(
    x: Any, mean: Any, var: Any, beta: Any, gamma: Any, epsilon: float = 1e-3
) -> Tensor:
    """`(x - mean) / sqrt(var + epsilon) * gamma + beta`, in TensorFlow's form
    `x * inv + (beta - mean * inv)` with `inv = gamma / sqrt(var + epsilon)`.

    `beta` and `gamma` may be None; every statistic must broadcast against `x`.
    """
    x = _t(x)
    inv = B.div(1.0, B.unary("Sqrt", B.add(_t(var), float(epsilon))))
    if gamma is not None:
        inv = B.mul(inv, _t(gamma))
    shift = B.mul(_t(mean), inv)
    shift = B.sub(_t(beta), shift) if beta is not None else -shift
    return B.add(B.mul(x, inv), shift)


def normalize_batch_in_training(x: Any, gamma: Any, beta: Any, reduction_axes: Sequence[int],
                                epsilon: float = 1e-3) -> tuple[Tensor, Tensor, Tensor]:  # fmt: skip
    """Normalizes `x` with its own statistics over `reduction_axes`.

    The variance is the biased one (divided by the count, as `tf.nn.moments`). `gamma` and
    `beta` hold one value per position of the axes that are kept (or are None).

    Returns:
        `(normed, mean, variance)`, the statistics without the reduced axes.
    """
    x = _t(x)
    axes = sorted(int(a) % x.ndim for a in reduction_axes)
    m = _mean(x, axes, keepdims=True)
    v = _mean(square(B.sub(x, m)), axes, keepdims=True)
    if axes != list(range(x.ndim - 1)):
        gamma, beta = (
            None if p is None else B.reshape(_t(p), B.shape_of(m)) for p in (gamma, beta)
        )
    normed = batch_normalization(x, m, v, beta, gamma, epsilon)
    m, v = (B.apply1("Squeeze", s, axes=tuple(axes)) if axes else s for s in (m, v))
    return normed, m, v
