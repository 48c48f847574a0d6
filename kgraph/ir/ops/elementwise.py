"""Elementwise ops: unary math, broadcasting binary math, comparisons, logic, bits, Where, Cast."""

from __future__ import annotations

import math

import numpy as np

from kgraph.ir import build as B
from kgraph.ir.dtypes import DType
from kgraph.ir.errors import ShapeError
from kgraph.ir.ops._rules import broadcast_shapes, same_dtype
from kgraph.ir.ops.registry import VjpContext, register
from kgraph.ir.spec import TensorSpec


def _same(specs, attrs, consts):
    return [specs[0]]


_SIGNED = (DType.int8, DType.int16, DType.int32, DType.int64)


def _typed_same(accepts, what):
    def infer(specs, attrs, consts):
        dtype = specs[0].dtype
        if not (dtype.is_float or dtype in accepts):
            raise ShapeError(f"expects a {what} tensor, got {dtype}")
        return [specs[0]]

    return infer


# Integer kinds as onnxruntime's kernels take them (its Relu has no int16).
_float_same = _typed_same((), "float")
_signed_same = _typed_same(_SIGNED, "float or signed integer")
_numeric_same = _typed_same((*_SIGNED, DType.uint8, DType.uint32, DType.uint64), "numeric")
_relu_same = _typed_same((DType.int8, DType.int32, DType.int64), "float, int8, int32 or int64")


def _broadcast(specs, attrs, consts):
    return [TensorSpec(broadcast_shapes(*(s.shape for s in specs)), same_dtype(specs))]


def _compare(specs, attrs, consts):
    return [TensorSpec(broadcast_shapes(*(s.shape for s in specs)), DType.bool)]


def _logical(specs, attrs, consts):
    if any(s.dtype is not DType.bool for s in specs):
        raise ShapeError("expects bool operands")
    return [TensorSpec(broadcast_shapes(*(s.shape for s in specs)), DType.bool)]




# -- unary, differentiable: each is its name plus its derivative ------------------------
def _unary(name, derivative, infer=_float_same):
    def vjp(ctx: VjpContext, g):
        return [derivative(ctx.x, ctx.y, g)]

    register(name, infer, vjp)


def _sel(cond, g):
    # A select, not a product with a 0/1 mask: an infinite cotangent (sqrt's at 0) stays
    # 0 where the mask is off instead of becoming NaN.
    return B.where(cond, g, 0.0)


_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _positive(x, dtype):
    """The 0/1 mask [x > 0] as `dtype`. Relu's and Elu's gradients multiply by it, as
    TensorFlow's ReluGrad and EluGrad do: onnxruntime's Where is several times slower than
    a product, and these gradients run over every activation map.

    In float32 the mask is HardSigmoid(x) with the largest slope, clip(3.4e38 * x, 0, 1):
    one vectorized pass where Greater + Cast took two, the Cast a slow one (over a
    (128, 64, 24, 24) map 0.5 ms against 1.4 ms). It is exactly [x > 0] for every x but the
    positive subnormals below 2.9e-39, where it lies between 0 and 1 (TensorFlow, which
    flushes subnormals to zero on CPU, gives 0 there), and it is NaN at a NaN x.
    """
    if x.dtype is DType.float32 and dtype is DType.float32:
        return B.apply1("StopGradient", B.apply1("HardSigmoid", x, alpha=_FLOAT32_MAX, beta=0.0))
    return B.cast(B.binary("Greater", x, 0.0), dtype)


def _relu_vjp(x, y, g):
    # So an infinite cotangent where x <= 0 gives NaN there, as in Keras.
    return B.mul(g, _positive(x, g.dtype))


def _elu_vjp(ctx, g):
    # g where x > 0, else g * (y + alpha) (alpha * e^x from the output): a positive factor,
    # exact (1 + 0 * v is 1, 0 + 1 * v is v), so no inf * 0 can arise.
    y, alpha = ctx.y, float(ctx.attrs.get("alpha", 1.0))
    mask = _positive(ctx.x, g.dtype)
    factor = B.add(mask, B.mul(B.sub(1.0, mask), B.add(y, alpha)))
    return [B.mul(g, factor)]


register("Elu", _float_same, _elu_vjp)


_unary("Neg", lambda x, y, g: -g, _signed_same)
_unary("Abs", lambda x, y, g: B.mul(g, B.unary("Sign", x)), _numeric_same)
_unary("Exp", lambda x, y, g: B.mul(g, y))
_unary("Log", lambda x, y, g: B.div(g, x))
_unary("Sqrt", lambda x, y, g: B.div(B.mul(g, 0.5), y))
_unary("Tanh", lambda x, y, g: B.mul(g, B.sub(1.0, B.mul(y, y))))
_unary("Sigmoid", lambda x, y, g: B.mul(g, B.mul(y, B.sub(1.0, y))))
_unary("Relu", _relu_vjp, _relu_same)
_unary("Reciprocal", lambda x, y, g: B.mul(-g, B.mul(y, y)))
_unary("Sin", lambda x, y, g: B.mul(g, B.unary("Cos", x)))
_unary("Cos", lambda x, y, g: -B.mul(g, B.unary("Sin", x)))
_unary(
    "Erf",
    lambda x, y, g: B.mul(g, B.mul(2.0 / math.sqrt(math.pi), B.unary("Exp", -B.mul(x, x)))),
)
register("Identity", _same, lambda ctx, g: [g])
# The identity that autodiff does not look through (K.stop_gradient).
register("StopGradient", _same, None, emit_as="Identity")

# -- unary, piecewise constant: no gradient ---------------------------------------------
for _name in ("Floor", "Ceil", "Round", "Sign"):
    register(_name, _same)
register("Not", lambda specs, attrs, consts: _logical(specs, attrs, consts))
for _name in ("IsNaN", "IsInf"):
    register(_name, lambda specs, attrs, consts: [TensorSpec(specs[0].shape, DType.bool)])


# -- binary, broadcasting ----------------------------------------------------------------
def _vjp_add(ctx, g):
    return [g, g]


def _vjp_sub(ctx, g):
    return [g, -g if ctx.needs[1] else None]


def _vjp_mul(ctx, g):
    a, b = ctx.inputs
    return [B.mul(g, b) if ctx.needs[0] else None, B.mul(g, a) if ctx.needs[1] else None]


def _vjp_div(ctx, g):
    a, b = ctx.inputs
    ga = B.div(g, b) if ctx.needs[0] else None
    gb = -B.div(B.mul(g, ctx.y), b) if ctx.needs[1] else None
    return [ga, gb]


def _vjp_pow(ctx, g):
    a, b = ctx.inputs
    ga = B.mul(g, B.mul(b, B.pow(a, B.sub(b, 1.0)))) if ctx.needs[0] else None
    gb = B.mul(g, B.mul(ctx.y, B.unary("Log", a))) if ctx.needs[1] else None
    return [ga, gb]


def _vjp_extreme(pick):
    def vjp(ctx, g):
        a, b = ctx.inputs
        # Ties go to the first operand, as TensorFlow's maximum/minimum gradients.
        take_a = B.binary(pick, a, b)
        ga = _sel(take_a, g) if ctx.needs[0] else None
        gb = B.where(take_a, 0.0, g) if ctx.needs[1] else None
        return [ga, gb]

    return vjp


def _vjp_mod(ctx, g):
    # The C remainder a - trunc(a / b) b (fmod=1, floats): slopes 1 and -trunc(a / b).
    # Integer remainders (fmod=0) have none.
    a, b = ctx.inputs
    if not ctx.attrs.get("fmod", 0):
        return [None, None]
    quotient = B.unary("Round", B.div(B.sub(a, ctx.y), b))
    return [g if ctx.needs[0] else None, -B.mul(g, quotient) if ctx.needs[1] else None]


def _numeric_broadcast(specs, attrs, consts):
    if len(specs) != 2:
        raise ShapeError(f"expects 2 inputs, got {len(specs)}")
    return _broadcast(specs, attrs, consts)


register("Add", _numeric_broadcast, _vjp_add)
register("Sub", _numeric_broadcast, _vjp_sub)
register("Mul", _numeric_broadcast, _vjp_mul)
register("Div", _numeric_broadcast, _vjp_div)
register("Pow", _numeric_broadcast, _vjp_pow)
register("Max", _numeric_broadcast, _vjp_extreme("GreaterOrEqual"))
register("Min", _numeric_broadcast, _vjp_extreme("LessOrEqual"))
register("Mod", _numeric_broadcast, _vjp_mod)


def _clip_infer(specs, attrs, consts):
    if len(specs) != 3 or any(s.shape != () for s in specs[1:]):
        raise ShapeError("expects x and scalar bounds (x, min, max)")
    return [TensorSpec(specs[0].shape, same_dtype(specs))]


def _clipped_grad(x, lo, hi, g):
    """TensorFlow's clip_by_value gradient for x: g where lo <= x <= hi (ties included), else
    0, with one select; also the (below, above) masks."""
    below, above = B.binary("Less", x, lo), B.binary("Greater", x, hi)
    return B.where(B.binary("Or", below, above), 0.0, g), below, above


def _vjp_clip(ctx, g):
    # Each bound's gradient is the sum of g where x lies beyond it. One select for x, where
    # Min(Max(x, lo), hi) took two.
    x, lo, hi = ctx.inputs
    gx, below, above = _clipped_grad(x, lo, hi, g)
    gx = gx if ctx.needs[0] else None
    glo = B.reduce("ReduceSum", B.where(below, g, 0.0)) if ctx.needs[1] else None
    ghi = B.reduce("ReduceSum", B.where(above, g, 0.0)) if ctx.needs[2] else None
    return [gx, glo, ghi]


register("Clip", _clip_infer, _vjp_clip)


def _vjp_hard_sigmoid(ctx, g):
    # clip(alpha * x + beta, 0, 1): the slope alpha passes where the line lies within the
    # bounds, ties included, as TensorFlow's clip_by_value gradient.
    alpha, beta = float(ctx.attrs.get("alpha", 0.2)), float(ctx.attrs.get("beta", 0.5))
    return [_clipped_grad(B.add(B.mul(ctx.x, alpha), beta), 0.0, 1.0, B.mul(g, alpha))[0]]


register("HardSigmoid", _float_same, _vjp_hard_sigmoid)

for _name in ("Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual"):
    register(_name, _compare)
for _name in ("And", "Or", "Xor"):
    register(_name, _logical)
for _name in ("BitwiseAnd", "BitwiseOr", "BitwiseXor"):
    register(_name, _numeric_broadcast)
register("BitShift", _numeric_broadcast)


# -- selection and conversion ------------------------------------------------------------
def _where_infer(specs, attrs, consts):
    cond, a, b = specs
    if cond.dtype is not DType.bool:
        raise ShapeError(f"condition must be bool, got {cond.dtype}")
    dtype = same_dtype([a, b])
    return [TensorSpec(broadcast_shapes(cond.shape, a.shape, b.shape), dtype)]


def _where_vjp(ctx, g):
    cond = ctx.inputs[0]
    ga = B.where(cond, g, 0.0) if ctx.needs[1] else None
    gb = B.where(cond, 0.0, g) if ctx.needs[2] else None
    return [None, ga, gb]


register("Where", _where_infer, _where_vjp)


def _cast_infer(specs, attrs, consts):
    return [TensorSpec(specs[0].shape, DType(attrs["to"]))]


def _cast_vjp(ctx, g):
    if ctx.x.dtype.is_float and ctx.y.dtype.is_float:
        return [B.cast(g, ctx.x.dtype)]
    return [None]


register("Cast", _cast_infer, _cast_vjp)
