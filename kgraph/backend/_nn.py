"""Neural-network functions: activations, cross-entropies, dropout, the training switch."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from kgraph._config import epsilon, floatx
from kgraph.backend._ops import _t, cast, clip, concatenate, log, sum
from kgraph.backend._session import learning_phase, rng_step
from kgraph.ir import DType, Tensor, Variable, get_default_graph
from kgraph.ir import build as B

__all__ = [
    "relu", "elu", "selu", "softmax", "softplus", "softsign", "sigmoid", "hard_sigmoid",
    "tanh", "categorical_crossentropy", "sparse_categorical_crossentropy",
    "binary_crossentropy", "dropout", "in_train_phase", "in_test_phase", "gradients",
    "random_mask_uniform", "reference_mask_uniform", "random_mask_bits",
    "reference_mask_bits", "keep_threshold", "random_keep_mask",
]  # fmt: skip


def relu(x: Any, alpha: float = 0.0, max_value: float | None = None) -> Tensor:
    """max(x, 0), minus `alpha` times the negative part, capped at `max_value`.

    Integer tensors keep their dtype; as in Keras 2.0.5, `alpha` and `max_value` are cast
    to it."""
    x = _t(x)
    if x.dtype is DType.int16:  # onnxruntime has no int16 Relu or Min
        return cast(relu(cast(x, "int32"), alpha, max_value), "int16")
    if x.dtype in (DType.uint8, DType.uint32, DType.uint64):
        return x if max_value is None else B.binary("Min", x, max_value)
    out = B.unary("Relu", x)
    if alpha != 0.0:
        out = B.sub(out, B.mul(alpha, B.unary("Relu", -x)))
    if max_value is not None:
        out = B.binary("Min", out, max_value)
    return out


def elu(x: Any, alpha: float = 1.0) -> Tensor:
    x = _t(x)
    if x.dtype.is_float and not isinstance(alpha, (Tensor, Variable)):
        return B.unary("Elu", x, alpha=float(alpha))
    negative = B.sub(B.unary("Exp", B.binary("Min", x, 0.0)), 1.0)
    return B.add(B.unary("Relu", x), B.mul(alpha, negative))


def selu(x: Any) -> Tensor:
    alpha, scale = 1.6732632423543772, 1.0507009873554805
    return B.mul(scale, elu(x, alpha))


def softmax(x: Any, axis: int = -1) -> Tensor:
    x = _t(x)
    return B.apply1("Softmax", x, axis=axis % x.ndim)


def _softplus(z: Tensor) -> Tensor:
    """log(1 + e^z) as relu(z) + log(1 + e^-|z|): no overflow for large |z|.

    -|z| is z * (1 - 2 [z > 0]), a product with a 0/1 mask whose slope at 0 is +1, so the
    slopes at 0 add up to the true 1/2 (relu's 0 plus 1/2 * 1); elsewhere they give
    sigmoid(z), as TensorFlow's SoftplusGrad. Products, not selects: onnxruntime's Where is
    several times slower, and ±inf still give inf and 0."""
    positive = B.cast(B.binary("Greater", z, 0.0), z.dtype)
    minus_abs = B.mul(z, B.sub(1.0, B.mul(2.0, positive)))
    return B.add(B.unary("Relu", z), _log1p(B.unary("Exp", minus_abs)))


def _log1p(t: Tensor) -> Tensor:
    """log(1 + t) accurate to a few ulps for tiny t (ONNX has no log1p): log(u) * t / (u - 1)
    with u = 1 + t rounded, or t itself where u rounds to 1. Plain log(1 + t) keeps only
    the ulps of 1: 0 below eps, 6% off at t = 1e-6 in float32. The gradient is plain
    log's, 1 / (1 + t), which needs no correction."""
    u = B.add(1.0, t)
    plain = B.unary("Log", u)
    d = B.sub(u, 1.0)  # >= 0, and 0 or at least an ulp of 1
    # Where u rounds to 1 the first term is log(1) * t / tiny = 0 and the second is t;
    # elsewhere the second is t * 0 = 0. Products, as onnxruntime's Where is slow.
    tiny = float(np.finfo(t.dtype.numpy).tiny)
    exact = B.add(B.mul(plain, B.div(t, B.binary("Max", d, tiny))),
                  B.mul(t, B.cast(B.binary("Equal", d, 0.0), t.dtype)))  # fmt: skip
    return B.add(plain, B.unary("StopGradient", B.sub(exact, plain)))


def softplus(x: Any) -> Tensor:
    return _softplus(_t(x))


def softsign(x: Any) -> Tensor:
    x = _t(x)
    return B.div(x, B.add(1.0, B.unary("Abs", x)))


def sigmoid(x: Any) -> Tensor:
    return B.unary("Sigmoid", _t(x))


def hard_sigmoid(x: Any) -> Tensor:
    """clip(0.2 x + 0.5, 0, 1): one ONNX HardSigmoid pass in float32, where Mul, Add and Clip
    took three; its gradient is the same clip gradient, ties included. (HardSigmoid's slope
    is a float32 attribute, so float64 keeps the three ops and its exact 0.2.)"""
    x = _t(x)
    if x.dtype is DType.float32:
        return B.apply1("HardSigmoid", x, alpha=0.2, beta=0.5)
    return clip(B.add(B.mul(x, 0.2), 0.5), 0.0, 1.0)


def tanh(x: Any) -> Tensor:
    return B.unary("Tanh", _t(x))


def categorical_crossentropy(output: Any, target: Any, from_logits: bool = False) -> Tensor:
    """Keras 2.0.5's form: rows renormalized, clipped to [eps, 1-eps], then -sum(t log p)."""
    output, target = _t(output), _t(target)
    if from_logits:
        return -sum(B.mul(target, B.apply1("LogSoftmax", output, axis=output.ndim - 1)), -1)
    output = B.div(output, sum(output, -1, keepdims=True))
    output = clip(output, epsilon(), 1.0 - epsilon())
    return -sum(B.mul(target, log(output)), -1)


def sparse_categorical_crossentropy(output: Any, target: Any, from_logits: bool = False) -> Tensor:
    """Integer targets of shape (..., 1) or (...); returns one value per sample."""
    output, target = _t(output), _t(target)
    logits = output if from_logits else log(clip(output, epsilon(), 1.0 - epsilon()))
    classes = output.shape[-1]
    labels = cast(target, "int64")
    if labels.ndim == output.ndim:
        labels = B.apply1("Squeeze", labels, axes=(labels.ndim - 1,))
    picked = B.cast(
        B.binary("Equal", B.apply1("Unsqueeze", labels, axes=(labels.ndim,)),
                 get_default_graph().constant(np.arange(classes, dtype=np.int64))),
        output.dtype,
    )
    return -sum(B.mul(picked, B.apply1("LogSoftmax", logits, axis=output.ndim - 1)), -1)


def binary_crossentropy(output: Any, target: Any, from_logits: bool = False) -> Tensor:
    """Elementwise; probabilities are clipped and turned into logits, as Keras 2.0.5."""
    output, target = _t(output), _t(target)
    if not from_logits:
        output = clip(output, epsilon(), 1.0 - epsilon())
        output = log(B.div(output, B.sub(1.0, output)))
    # sigmoid cross-entropy with logits z: softplus(z) - z t
    return B.sub(_softplus(output), B.mul(output, target))


# -- random masks from a counter-based hash ------------------------------------------------
_G = 0x9E3779B97F4A7C15
_M1 = 0xBF58476D1CE4E5B9
_M2 = 0x94D049BB133111EB


def _mix_ir(z: Tensor, finish: bool = True) -> Tensor:
    """The SplitMix64 finalizer; without `finish`, the last `z ^ (z >> 31)` is left out,
    which changes none of the top 31 bits."""
    g = z.graph

    def u(v: int) -> Tensor:
        return g.constant(np.uint64(v))

    def shr(x: Tensor, k: int) -> Tensor:
        return B.apply1("BitShift", x, u(k), direction="RIGHT")

    z = B.mul(B.binary("BitwiseXor", z, shr(z, 30)), u(_M1))
    z = B.mul(B.binary("BitwiseXor", z, shr(z, 27)), u(_M2))
    return B.binary("BitwiseXor", z, shr(z, 31)) if finish else z


def _mix_np(z: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        z = (z ^ (z >> np.uint64(30))) * np.uint64(_M1)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(_M2)
        return z ^ (z >> np.uint64(31))


def random_mask_bits(shape: Tensor, seed: int, step: Any = None, finish: bool = True) -> Tensor:
    """64 random bits per element of runtime shape `shape` (an integer vector tensor).

    Each value is a hash of (seed, step, element index): reproducible, different at every
    train step, and identical to the numpy twin `reference_mask_bits` bit for bit. With
    `finish=False` only the top 31 bits are those bits (two passes fewer).
    """
    g = shape.graph
    shape = B.cast(shape, DType.int64)  # K.shape gives int32, as TensorFlow does
    step = _t(rng_step() if step is None else step)
    u64 = DType.uint64
    key = B.add(B.mul(g.constant(np.uint64(seed % 2**64)), g.constant(np.uint64(_G))), B.cast(step, u64))
    key = _mix_ir(key)
    return _mix_ir(_scaled_index_plus(shape, key), finish=finish)


def random_keep_mask(shape: Tensor, seed: int, level: float, step: Any = None) -> Tensor:
    """Bool mask of runtime shape `shape`, true where an element survives dropout at
    `level`: `reference_mask_bits(...) >= keep_threshold(level)`, the same test as
    `reference_mask_uniform(...) >= level`. The test reads only the top 24 bits, which the
    hash's last xor-shift leaves alone, so the mask skips it."""
    bits = random_mask_bits(shape, seed, step, finish=False)
    return B.binary("GreaterOrEqual", bits, shape.graph.constant(keep_threshold(level)))


def _scaled_index_plus(shape: Tensor, key: Tensor) -> Tensor:
    """`flat_index * _G + key` (mod 2**64) over a tensor of runtime shape `shape`.

    Built axis by axis — `sum_i arange(d_i) * stride_i * _G`, broadcast — so only the
    last Add touches every element; the flat-index Range, its cast and its scaling were
    three more full passes per mask.
    """
    g = shape.graph
    u64 = DType.uint64
    rank = shape.shape[0]
    if rank is None:
        raise ValueError("random masks need a shape vector of known length")
    zero, one = g.constant(np.int64(0)), g.constant(np.int64(1))
    scale = g.constant(np.uint64(_G))  # _G times the stride of the axis being added
    acc = None
    for axis in reversed(range(rank)):
        d = B.reshape(B.getitem(shape, slice(axis, axis + 1)), [])
        term = B.mul(B.cast(B.apply1("Range", zero, d, one), u64), scale)
        if acc is None:
            acc = B.add(term, key)
        else:
            acc = B.add(B.reshape(term, [-1] + [1] * (rank - 1 - axis)), acc)
        if axis:
            scale = B.mul(scale, B.cast(d, u64))
    return key if acc is None else acc  # a scalar mask has the one index 0


def random_mask_uniform(shape: Tensor, seed: int, step: Any = None) -> Tensor:
    """Uniform [0, 1) floats: the top 24 of `random_mask_bits`, scaled."""
    bits = random_mask_bits(shape, seed, step)
    top = B.apply1("BitShift", bits, shape.graph.constant(np.uint64(40)), direction="RIGHT")
    return B.mul(B.cast(top, floatx()), 2.0**-24)


def reference_mask_bits(shape: Sequence[int], seed: int, step: int) -> np.ndarray:
    """The numpy twin of `random_mask_bits`."""
    with np.errstate(over="ignore"):
        key = _mix_np(np.uint64(seed % 2**64) * np.uint64(_G) + np.uint64(step))
        index = np.arange(int(np.prod(shape)), dtype=np.uint64).reshape(shape)
        return _mix_np(index * np.uint64(_G) + key)


def reference_mask_uniform(shape: Sequence[int], seed: int, step: int) -> np.ndarray:
    """The numpy twin of `random_mask_uniform`."""
    bits = reference_mask_bits(shape, seed, step)
    return (bits >> np.uint64(40)).astype(np.float32) * np.float32(2.0**-24)


def keep_threshold(level: float) -> np.uint64:
    """Bits at or above this keep an element: the same test as `uniform >= level` on the
    top 24 bits, done on the integers (three fewer passes over the mask)."""
    return np.uint64(int(np.ceil(level * 2**24)) << 40)


def _noise_shape(x: Tensor, noise_shape: Sequence[int | None] | None) -> Tensor:
    if noise_shape is None:
        return B.apply1("Shape", x) if None in x.shape else B.shape_of(x)
    if None not in noise_shape:
        return x.graph.constant(np.asarray(noise_shape, np.int64))
    full = B.apply1("Shape", x)
    parts = []
    for i, d in enumerate(noise_shape):
        if d is None:
            parts.append(B.getitem(full, slice(i, i + 1)))
        else:
            parts.append(x.graph.constant(np.asarray([d], np.int64)))
    return concatenate(parts, axis=0)


def dropout(x: Any, level: float, noise_shape: Sequence[int | None] | None = None, seed: int | None = None) -> Tensor:
    """Inverted dropout: zeros a fraction `level` of the values and scales the rest by
    1/(1-level). The mask hashes (seed, train step, index), so it is reproducible."""
    x = _t(x)
    if not 0.0 <= level < 1.0:
        raise ValueError(f"Dropout level must be in [0, 1), got {level}")
    if seed is None:
        seed = int(np.random.randint(10_000_000))
    keep = B.cast(random_keep_mask(_noise_shape(x, noise_shape), seed, level), x.dtype)
    return B.mul(x, B.mul(keep, 1.0 / (1.0 - level)))


def in_train_phase(x: Any, alt: Any, training: Any = None) -> Any:
    """`x` in training programs, `alt` in inference programs."""
    if training is None:
        training = learning_phase()
    if isinstance(training, (int, bool)) and not isinstance(training, Tensor):
        chosen = x if training else alt
        return chosen() if callable(chosen) else chosen
    x = x() if callable(x) else x
    alt = alt() if callable(alt) else alt
    if isinstance(training, Tensor) and training.op == "LearningPhase":
        return B.apply1("InTrainPhase", x, alt)
    return B.where(_t(training), x, alt)


def in_test_phase(x: Any, alt: Any, training: Any = None) -> Any:
    return in_train_phase(alt, x, training=training)


def gradients(loss: Any, variables: Sequence[Any]) -> list[Tensor | None]:
    """Symbolic gradients of a scalar loss with respect to variables or tensors."""
    from lowering import gradients as _gradients

    loss = _t(loss)
    g = loss.graph
    if isinstance(variables, (Tensor, Variable)):  # one tensor, as tf.gradients takes it
        variables = [variables]
    wrt = [g.read(v) if isinstance(v, Variable) else v for v in variables]
    return _gradients(g, loss, wrt)


