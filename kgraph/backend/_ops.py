"""Tensor math in Keras 2's backend vocabulary, built as IR ops."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Any

import numpy as np

from kgraph._config import floatx
from kgraph.ir import DType, Tensor, Variable, as_dtype, get_default_graph
from kgraph.ir import build as B

__all__ = [
    "cast", "identity", "zeros", "ones", "eye", "zeros_like", "ones_like", "shape",
    "dot", "batch_dot", "transpose", "gather", "sum", "mean", "max", "min", "prod", "var",
    "std", "any", "all", "argmax", "argmin", "logsumexp", "square", "abs", "sqrt", "exp",
    "log", "round", "sign", "pow", "clip", "equal", "not_equal", "greater", "greater_equal",
    "less", "less_equal", "maximum", "minimum", "sin", "cos", "concatenate", "reshape",
    "permute_dimensions", "expand_dims", "squeeze", "flatten", "batch_flatten", "stack",
    "one_hot", "switch", "l2_normalize", "tile", "repeat",
]  # fmt: skip


def _t(x: Any, like: DType | None = None) -> Tensor:
    if isinstance(x, Tensor):
        return x
    if isinstance(x, Variable):
        return get_default_graph().read(x)
    return B.as_tensor(x, get_default_graph(), like)


def _axes(x: Tensor, axis: int | Sequence[int] | None) -> tuple[int, ...] | None:
    if axis is None:
        return None
    axes = [axis] if isinstance(axis, (int, np.integer)) else list(axis)
    return tuple(int(a) % builtins.max(x.ndim, 1) for a in axes)


def cast(x: Any, dtype: Any) -> Tensor:
    return B.cast(_t(x), as_dtype(dtype))


def _floatish(x: Tensor) -> Tensor:
    return cast(x, floatx()) if x.dtype is DType.bool else x


def identity(x: Any) -> Tensor:
    return B.unary("Identity", _t(x))


def zeros(shape: Sequence[int], dtype: Any = None, name: str | None = None) -> Variable:
    dtype = as_dtype(dtype or floatx())
    return Variable(np.zeros(shape, dtype.numpy), dtype=dtype, name=name)


def ones(shape: Sequence[int], dtype: Any = None, name: str | None = None) -> Variable:
    dtype = as_dtype(dtype or floatx())
    return Variable(np.ones(shape, dtype.numpy), dtype=dtype, name=name)


def eye(size: int, dtype: Any = None, name: str | None = None) -> Variable:
    dtype = as_dtype(dtype or floatx())
    return Variable(np.eye(size, dtype=dtype.numpy), dtype=dtype, name=name)


def _filled_like(x: Any, value: np.ndarray) -> Tensor:
    x = _t(x)
    out = B.apply1("ConstantOfShape", B.shape_of(x), value=value)
    if None in x.shape and builtins.any(d is not None for d in x.shape):
        # A runtime shape hides every dimension from the shape rule; a Reshape (free at run
        # time) restores the static ones, so later ops and gradients keep them.
        out = B.reshape(out, [0 if d is None else d for d in x.shape])
    return out


def zeros_like(x: Any, dtype: Any = None, name: str | None = None) -> Tensor:
    x = _t(x)
    return _filled_like(x, np.zeros((), as_dtype(dtype or x.dtype).numpy))


def ones_like(x: Any, dtype: Any = None, name: str | None = None) -> Tensor:
    x = _t(x)
    return _filled_like(x, np.ones((), as_dtype(dtype or x.dtype).numpy))


def shape(x: Any) -> Tensor:
    """The symbolic (runtime) shape as an int32 vector, TensorFlow's type for shapes, so it
    mixes with int32 tensors as in Keras 2.0.5; the ops that take shapes accept either."""
    return B.cast(B.apply1("Shape", _t(x)), DType.int32)


def dot(x: Any, y: Any) -> Tensor:
    """Keras's dot: contracts the last axis of x with the second-to-last of y (or the only
    axis of a vector y)."""
    x, y = _t(x), _t(y)
    if y.ndim > 2:
        # (..., k) . (a, k, b) -> (..., a, b): move y's contracted axis first and flatten.
        perm = [y.ndim - 2] + [i for i in range(y.ndim) if i != y.ndim - 2]
        y2 = B.reshape(B.transpose(y, perm), [y.shape[-2], -1])
        out = B.matmul(x if x.ndim >= 2 else B.reshape(x, [1, -1]), y2)
        tail = [d for i, d in enumerate(y.shape) if i != y.ndim - 2]
        return B.reshape(out, [0] * (x.ndim - 1) + [(-1 if d is None else d) for d in tail])
    return B.matmul(x, y)


def _batch_dot_axes(x: Tensor, y: Tensor, axes: Any) -> tuple[int, int]:
    if axes is None:
        return x.ndim - 1, (y.ndim - 2 if y.ndim > 2 else y.ndim - 1)
    if isinstance(axes, (int, np.integer)):
        axes = (axes, axes)
    if len(axes) != 2 or not builtins.all(isinstance(a, (int, np.integer)) for a in axes):
        raise ValueError(f"K.batch_dot: axes must be None, an int or a pair of ints, got {axes!r}")
    for a, t, side in ((axes[0], x, "x"), (axes[1], y, "y")):
        if not -t.ndim <= a < t.ndim:
            raise ValueError(
                f"K.batch_dot: axes {tuple(axes)} is out of range for {side} of shape {t.shape}"
            )
    return int(axes[0]) % x.ndim, int(axes[1]) % y.ndim


def batch_dot(x: Any, y: Any, axes: Any = None) -> Tensor:
    """Per-sample dot products, as Keras 2.0.5.

    The operand of lower rank gets trailing 1-axes, x's contracted axis moves last and
    y's second-to-last for one batched MatMul, and the padded axes are squeezed again:
    (b, m, k) . (b, k) -> (b, m), (b, k) . (b, k, n) -> (b, n). Two rank-2 operands give
    the sum of their product; a 1-D result comes back as (batch, 1).

    Args:
        x, y: tensors of rank >= 2 sharing the batch axis.
        axes: the contracted axis of x and of y (an int for both); by default the last
            of x and the second-to-last of y (the last when y has rank 2).
    """
    x, y = _t(x), _t(y)
    if x.ndim < 2 or y.ndim < 2:
        raise ValueError(
            f"K.batch_dot needs operands of rank >= 2, got shapes {x.shape} and {y.shape}"
        )
    ax, ay = _batch_dot_axes(x, y, axes)
    if x.ndim == 2 and y.ndim == 2:
        if ax != ay:
            x = B.transpose(x, [1, 0])
        return expand_dims(sum(B.mul(x, y), axis=ay), 1)
    x_ndim, y_ndim = x.ndim, y.ndim
    rank = builtins.max(x_ndim, y_ndim)
    if x_ndim < rank:
        x = B.apply1("Unsqueeze", x, axes=tuple(range(x_ndim, rank)))
    if y_ndim < rank:
        y = B.apply1("Unsqueeze", y, axes=tuple(range(y_ndim, rank)))
    if ax != rank - 1:
        x = B.transpose(x, [i for i in range(rank) if i != ax] + [ax])
    if ay != rank - 2:
        rest = [i for i in range(rank) if i != ay]
        y = B.transpose(y, rest[:-1] + [ay] + rest[-1:])
    out = B.matmul(x, y)
    if x_ndim != y_ndim:
        # The padded axes, where 2.0.5 squeezes them.
        first = x_ndim + y_ndim - 3 if x_ndim > y_ndim else x_ndim - 1
        padded = tuple(range(first, first + rank - builtins.min(x_ndim, y_ndim)))
        out = B.apply1("Squeeze", out, axes=padded)
    return expand_dims(out, 1) if out.ndim == 1 else out


def transpose(x: Any) -> Tensor:
    x = _t(x)
    return B.transpose(x, list(reversed(range(x.ndim))))


def gather(reference: Any, indices: Any) -> Tensor:
    ind = _t(indices)
    if ind.dtype not in (DType.int32, DType.int64):
        ind = cast(ind, "int64")
    return B.apply1("Gather", _t(reference), ind, axis=0)


def _reduce(op: str, x: Any, axis: Any, keepdims: bool) -> Tensor:
    x = _t(x)
    axes = _axes(x, axis)
    if axes == ():
        # An empty list of axes reduces nothing, as in TensorFlow (ONNX would reduce all).
        return x
    return B.apply1(op, x, axes=axes, keepdims=int(keepdims))


def sum(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    return _reduce("ReduceSum", _floatish(_t(x)), axis, keepdims)


def mean(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    return _reduce("ReduceMean", _floatish(_t(x)), axis, keepdims)


def max(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    return _reduce("ReduceMax", x, axis, keepdims)


def min(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    return _reduce("ReduceMin", x, axis, keepdims)


def prod(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    return _reduce("ReduceProd", x, axis, keepdims)


def var(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Biased variance, as Keras."""
    x = _floatish(_t(x))
    centered = B.sub(x, mean(x, axis, keepdims=True))
    return mean(B.mul(centered, centered), axis, keepdims)


def std(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    return sqrt(var(x, axis, keepdims))


def _truth(x: Tensor) -> Tensor:
    """`x` as bool, as tf.cast(x, bool): nonzero (NaN included) is true."""
    return B.cast(x, DType.bool)


def any(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Whether any entry along `axis` is nonzero (a bool tensor)."""
    hits = cast(_truth(_t(x)), "int32")
    return greater(max(hits, axis, keepdims), 0)


def all(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Whether every entry along `axis` is nonzero (a bool tensor)."""
    hits = cast(_truth(_t(x)), "int32")
    return greater(min(hits, axis, keepdims), 0)


def argmax(x: Any, axis: int = -1) -> Tensor:
    x = _t(x)
    return B.apply1("ArgMax", x, axis=axis % x.ndim, keepdims=0)


def argmin(x: Any, axis: int = -1) -> Tensor:
    x = _t(x)
    return B.apply1("ArgMin", x, axis=axis % x.ndim, keepdims=0)


def logsumexp(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    x = _t(x)
    axes = _axes(x, axis)
    if axes == ():
        return x
    top = max(x, axis, keepdims=True)
    out = B.add(log(sum(exp(B.sub(x, top)), axis, keepdims=True)), top)
    return out if keepdims else B.apply1("Squeeze", out, axes=axes or tuple(range(x.ndim)))


def square(x: Any) -> Tensor:
    x = _t(x)
    return B.mul(x, x)


def abs(x: Any) -> Tensor:  # noqa: A001
    return B.unary("Abs", _t(x))


def sqrt(x: Any) -> Tensor:
    """Square root with negative inputs clipped to 0 first, as Keras.

    The gradient is 0 for negative inputs (the clip selects them away) and, as in
    TensorFlow, infinite at exactly 0; add a small epsilon where 0 can occur."""
    x = _t(x)
    return B.unary("Sqrt", B.binary("Max", x, 0.0))


def exp(x: Any) -> Tensor:
    return B.unary("Exp", _t(x))


def log(x: Any) -> Tensor:
    return B.unary("Log", _t(x))


def round(x: Any) -> Tensor:  # noqa: A001
    return B.unary("Round", _t(x))


def sign(x: Any) -> Tensor:
    return B.unary("Sign", _t(x))


def pow(x: Any, a: Any) -> Tensor:  # noqa: A001
    x = _t(x)
    return B.pow(x, a)


def clip(x: Any, min_value: Any, max_value: Any) -> Tensor:
    x = _t(x)
    if max_value is None:
        max_value = np.inf
    if min_value is None:
        min_value = -np.inf
    if not isinstance(min_value, (Tensor, Variable)) and not isinstance(max_value, (Tensor, Variable)):
        if max_value < min_value:
            max_value = min_value
        if x.dtype.is_float:
            # One pass, and one select in the gradient.
            lo, hi = (x.graph.constant(np.asarray(v, x.dtype.numpy)) for v in (min_value, max_value))
            return B.apply1("Clip", x, lo, hi)
    return B.binary("Min", B.binary("Max", x, min_value), max_value)


def _cmp(op: str):
    def fn(x: Any, y: Any) -> Tensor:
        x = _t(x) if isinstance(x, (Tensor, Variable)) else x
        return B.binary(op, x, y)

    fn.__name__ = op
    return fn


equal = _cmp("Equal")
greater = _cmp("Greater")
greater_equal = _cmp("GreaterOrEqual")
less = _cmp("Less")
less_equal = _cmp("LessOrEqual")


def not_equal(x: Any, y: Any) -> Tensor:
    return B.unary("Not", equal(x, y))


def maximum(x: Any, y: Any) -> Tensor:
    return B.binary("Max", x, y)


def minimum(x: Any, y: Any) -> Tensor:
    return B.binary("Min", x, y)


def sin(x: Any) -> Tensor:
    return B.unary("Sin", _t(x))


def cos(x: Any) -> Tensor:
    return B.unary("Cos", _t(x))


def concatenate(tensors: Sequence[Any], axis: int = -1) -> Tensor:
    ts = [_t(t) for t in tensors]
    return B.apply1("Concat", *ts, axis=axis % ts[0].ndim)


def _int_vector(dims: Any, fn: str) -> Tensor:
    """A 1-D int64 tensor from an integer tensor, or from a sequence mixing Python ints
    with integer scalar (or 1-D) tensors, e.g. `(K.shape(x)[0], -1, 3)`: the pieces are
    concatenated at run time.

    Raises:
        ValueError: naming `fn`, for an entry that is not an integer or an integer tensor
            of rank 0 or 1.
    """
    graph = get_default_graph()
    if isinstance(dims, (Tensor, Variable)):
        dims = [dims]
    parts: list[Tensor] = []
    ints: list[int] = []
    for d in dims:
        if not isinstance(d, (Tensor, Variable)):
            ints.append(int(d))
            continue
        d = _t(d)
        if not d.dtype.is_integer or d.ndim > 1:
            raise ValueError(
                f"{fn}: shape entries must be ints or integer scalar tensors, got {d.spec}"
            )
        if ints:
            parts.append(graph.constant(np.asarray(ints, np.int64)))
            ints = []
        parts.append(B.reshape(B.cast(d, DType.int64), [-1]))
    if ints or not parts:
        parts.append(graph.constant(np.asarray(ints, np.int64)))
    return parts[0] if len(parts) == 1 else B.apply1("Concat", *parts, axis=0)


def _is_static(dims: Any) -> bool:
    return not isinstance(dims, (Tensor, Variable)) and not builtins.any(
        isinstance(d, (Tensor, Variable)) for d in dims
    )


def _restore_static(out: Tensor, dims: Sequence[Any]) -> Tensor:
    """A shape built at run time hides every size from the shape rule; a Reshape (free at
    run time) that copies the others (0) restores the sizes given as positive ints."""
    known = [int(d) if isinstance(d, (int, np.integer)) and d > 0 else 0 for d in dims]
    return B.reshape(out, known) if builtins.any(known) and len(known) == out.ndim else out


def reshape(x: Any, shape: Any) -> Tensor:
    """`x` with a new shape: ints (-1 infers one size, None counts as -1), integer scalar
    tensors such as `K.shape(x)[0]`, any mix of the two, or a 1-D integer tensor."""
    x = _t(x)
    if _is_static(shape):
        return B.reshape(x, [(-1 if d is None else int(d)) for d in shape])
    if not isinstance(shape, (Tensor, Variable)):
        shape = [-1 if d is None else d for d in shape]
        return _restore_static(B.reshape(x, _int_vector(shape, "K.reshape")), shape)
    return B.reshape(x, _int_vector(shape, "K.reshape"))


def permute_dimensions(x: Any, pattern: Sequence[int]) -> Tensor:
    return B.transpose(_t(x), pattern)


def expand_dims(x: Any, axis: int = -1) -> Tensor:
    x = _t(x)
    return B.apply1("Unsqueeze", x, axes=(axis % (x.ndim + 1),))


def squeeze(x: Any, axis: int) -> Tensor:
    x = _t(x)
    return B.apply1("Squeeze", x, axes=(axis % x.ndim,))


def flatten(x: Any) -> Tensor:
    return B.reshape(_t(x), [-1])


def batch_flatten(x: Any) -> Tensor:
    return B.apply1("Flatten", _t(x), axis=1)


def stack(x: Sequence[Any], axis: int = 0) -> Tensor:
    """Python numbers among the entries take the tensors' dtype, as TensorFlow converts
    them: `K.stack([K.shape(x)[0], 3])` is an int32 vector."""
    like = next((_t(t).dtype for t in x if isinstance(t, (Tensor, Variable))), None)
    ts = [_t(t, like) for t in x]
    return concatenate([expand_dims(t, axis) for t in ts], axis=axis)


def one_hot(indices: Any, num_classes: int) -> Tensor:
    ind = cast(_t(indices), "int64")
    classes = get_default_graph().constant(np.arange(num_classes, dtype=np.int64))
    return cast(B.binary("Equal", expand_dims(ind, -1), classes), floatx())


def switch(condition: Any, then_expression: Any, else_expression: Any) -> Tensor:
    """`then_expression` where `condition` is nonzero, `else_expression` elsewhere.

    As Keras 2.0.5, the condition may have a lower rank than the branches: it selects
    along their leading axes (a scalar picks a whole branch). Either branch may be a
    callable returning it.

    Raises:
        ValueError: the condition has a higher rank than the branches.
    """
    cond = _t(condition)
    if cond.dtype is not DType.bool:
        cond = _truth(cond)
    then_t = then_expression() if callable(then_expression) else then_expression
    else_t = else_expression() if callable(else_expression) else else_expression
    expr_ndim = builtins.max(
        _t(e).ndim if isinstance(e, (Tensor, Variable)) else np.ndim(e) for e in (then_t, else_t)
    )
    if cond.ndim > expr_ndim:
        raise ValueError(
            f"K.switch: Rank of `condition` should be less than or equal to rank of "
            f"`then_expression` and `else_expression`; got condition of shape {cond.shape}, "
            f"branches of rank {expr_ndim}"
        )
    if 0 < cond.ndim < expr_ndim:
        cond = B.apply1("Unsqueeze", cond, axes=tuple(range(cond.ndim, expr_ndim)))
    return B.where(cond, then_t, else_t)


def l2_normalize(x: Any, axis: int) -> Tensor:
    x = _t(x)
    norm = B.unary("Sqrt", B.binary("Max", sum(square(x), axis, keepdims=True), 1e-12))
    return B.div(x, norm)


def tile(x: Any, n: Any) -> Tensor:
    """`x` repeated `n[i]` times along each axis i. `n` may be an int (for the first axis),
    a sequence of ints and integer scalar tensors, or a 1-D integer tensor; a sequence
    shorter than the rank leaves the remaining axes as they are."""
    x = _t(x)
    reps = [n] if isinstance(n, (int, np.integer)) else n
    if not isinstance(reps, (Tensor, Variable)):
        reps = list(reps)
        if len(reps) > x.ndim:
            raise ValueError(f"K.tile: {len(reps)} repeats for a tensor of rank {x.ndim}")
        reps += [1] * (x.ndim - len(reps))
    out = B.apply1("Tile", x, _int_vector(reps, "K.tile"))
    if isinstance(reps, list) and not _is_static(reps):
        known = [
            d * r if isinstance(r, (int, np.integer)) and d is not None else None
            for d, r in zip(x.shape, reps, strict=True)
        ]
        out = _restore_static(out, known)
    return out


def repeat(x: Any, n: Any) -> Tensor:
    """(batch, dim) -> (batch, n, dim); `n` an int or an integer scalar tensor."""
    x = expand_dims(_t(x), 1)
    if isinstance(n, (Tensor, Variable)):
        return tile(x, [1, n, 1])
    return concatenate([x] * n, axis=1)
