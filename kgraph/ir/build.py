"""IR builders: the functions VJP rules, the backend and Tensor operators use to add ops."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from kgraph.ir.dtypes import DType, as_dtype
from kgraph.ir.graph import Graph, Tensor, get_default_graph
from kgraph.ir.variable import Variable

__all__ = [
    "apply",
    "apply1",
    "as_tensor",
    "add",
    "sub",
    "mul",
    "div",
    "pow",
    "floordiv",
    "floormod",
    "unary",
    "binary",
    "matmul",
    "reduce",
    "cast",
    "where",
    "reshape",
    "transpose",
    "shape_of",
    "dim_size",
    "unbroadcast",
    "getitem",
    "const_like",
]


def _graph_of(values: Sequence[Any]) -> Graph:
    for v in values:
        if isinstance(v, Tensor):
            return v.graph
    return get_default_graph()


def as_tensor(value: Any, graph: Graph, like: DType | None = None) -> Tensor:
    """A Tensor for a Tensor, Variable, Python number or array.

    Numeric constants take the dtype `like` (the other operands' type), so `x * 2` stays
    float32; bool constants stay bool; anything else float64 becomes floatx.
    """
    if isinstance(value, Tensor):
        return value
    if isinstance(value, Variable):
        return graph.read(value)
    if hasattr(value, "_keras_tensor"):
        return value._keras_tensor
    array = np.asarray(value)
    if array.dtype == np.bool_:
        pass
    elif like is not None and like is not DType.bool:
        array = array.astype(like.numpy)
    elif array.dtype == np.float64:
        from kgraph._config import floatx

        array = array.astype(floatx())
    return graph.constant(array)


def apply(op: str, inputs: Sequence[Any], **attrs: Any) -> list[Tensor]:
    """Adds `op` applied to `inputs` (tensors, variables or constants) to their graph."""
    graph = _graph_of(inputs)
    like = next((t.dtype for t in _typed(inputs, graph) if t.dtype is not DType.bool), None)
    tensors = [as_tensor(v, graph, like) for v in inputs]
    return graph.add_node(op, tensors, attrs)


def _typed(inputs: Sequence[Any], graph: Graph):
    for v in inputs:
        if isinstance(v, Tensor):
            yield v
        elif isinstance(v, Variable):
            yield graph.read(v)


def apply1(op: str, *inputs: Any, **attrs: Any) -> Tensor:
    return apply(op, inputs, **attrs)[0]


def unary(op: str, x: Any, **attrs: Any) -> Tensor:
    return apply1(op, x, **attrs)


def binary(op: str, a: Any, b: Any) -> Tensor:
    return apply1(op, a, b)


def add(a: Any, b: Any) -> Tensor:
    return apply1("Add", a, b)


def sub(a: Any, b: Any) -> Tensor:
    return apply1("Sub", a, b)


def mul(a: Any, b: Any) -> Tensor:
    return apply1("Mul", a, b)


def div(a: Any, b: Any) -> Tensor:
    return apply1("Div", a, b)


def pow(a: Any, b: Any) -> Tensor:  # noqa: A001 - mirrors the operator name
    return apply1("Pow", a, b)


def _operands(a: Any, b: Any) -> tuple[Tensor, Tensor]:
    """Both operands as tensors, a Python number taking the other's dtype."""
    graph = _graph_of([a, b])
    like = next((t.dtype for t in _typed([a, b], graph) if t.dtype is not DType.bool), None)
    return as_tensor(a, graph, like), as_tensor(b, graph, like)


def floordiv(a: Any, b: Any) -> Tensor:
    """`a // b` as TensorFlow's floordiv: floor(a / b) for floats; for integers the
    quotient rounded toward minus infinity (ONNX's integer Div truncates)."""
    a, b = _operands(a, b)
    if a.dtype.is_float:
        return unary("Floor", div(a, b))
    return div(sub(a, floormod(a, b)), b)


def floormod(a: Any, b: Any) -> Tensor:
    """`a % b` with the sign of `b`, as Python and TensorFlow's floormod. Floats take the
    C remainder (ONNX Mod with fmod=1), shifted by b where its sign differs from b's."""
    a, b = _operands(a, b)
    if not a.dtype.is_float:
        return apply1("Mod", a, b, fmod=0)
    rem = apply1("Mod", a, b, fmod=1)
    zero = const_like(rem, 0.0)
    differ = binary("Xor", binary("Less", rem, zero), binary("Less", b, zero))
    shift = binary("And", differ, unary("Not", binary("Equal", rem, zero)))
    return where(shift, add(rem, b), rem)


def matmul(a: Any, b: Any) -> Tensor:
    return apply1("MatMul", a, b)


def reduce(op: str, x: Tensor, axes: Sequence[int] | None = None, keepdims: bool = False) -> Tensor:
    """`op` is ReduceSum/ReduceMean/ReduceMax/...; axes None reduces everything."""
    norm = None if axes is None else tuple(int(a) % max(x.ndim, 1) for a in axes)
    return apply1(op, x, axes=norm, keepdims=int(keepdims))


def cast(x: Any, dtype: Any) -> Tensor:
    x = as_tensor(x, _graph_of([x]))
    to = as_dtype(dtype)
    return x if x.dtype == to else apply1("Cast", x, to=to)


def where(cond: Any, a: Any, b: Any) -> Tensor:
    return apply1("Where", cond, a, b)


def reshape(x: Tensor, shape: Any) -> Tensor:
    """Reshape to a static int list (0 copies a dim, -1 infers one) or to a shape tensor."""
    if not isinstance(shape, Tensor):
        shape = x.graph.constant(np.asarray(shape, dtype=np.int64))
    elif shape.dtype is not DType.int64:
        shape = cast(shape, DType.int64)  # ONNX's Reshape takes int64 only
    return apply1("Reshape", x, shape)


def transpose(x: Tensor, perm: Sequence[int]) -> Tensor:
    return apply1("Transpose", x, perm=tuple(int(p) for p in perm))


def shape_of(x: Tensor) -> Tensor:
    """The runtime shape of `x` as an int64 vector (a Constant when fully static)."""
    if all(d is not None for d in x.shape):
        return x.graph.constant(np.asarray(x.shape, dtype=np.int64))
    return apply1("Shape", x)


def dim_size(x: Tensor, axes: Sequence[int], dtype: DType) -> Tensor:
    """The product of `x`'s sizes along `axes`, as a scalar of `dtype`."""
    dims = [x.shape[a] for a in axes]
    if all(d is not None for d in dims):
        return x.graph.constant(np.asarray(int(np.prod(dims)), dtype=dtype.numpy))
    picked = apply1("Gather", apply1("Shape", x), x.graph.constant(np.asarray(list(axes), np.int64)), axis=0)
    total = apply1("ReduceProd", picked, axes=None, keepdims=0)
    return cast(total, dtype)


def const_like(x: Tensor, value: float) -> Tensor:
    return x.graph.constant(np.asarray(value, dtype=x.dtype.numpy))


def unbroadcast(g: Tensor, target: Tensor) -> Tensor:
    """Sums `g` over the axes that broadcasting added or stretched to reach `target`'s shape."""
    gs, ts = g.shape, target.shape
    lead = len(gs) - len(ts)
    axes = list(range(lead))
    for i, d in enumerate(ts):
        if d == 1 and gs[lead + i] != 1:
            axes.append(lead + i)
    if axes:
        g = reduce("ReduceSum", g, axes, keepdims=True)
        if lead:
            g = reshape(g, shape_of(target))
    if g.shape != ts and all(d is not None for d in ts):
        g = reshape(g, shape_of(target))
    return g


_INT_MAX = np.iinfo(np.int64).max


def getitem(x: Tensor, key: Any) -> Tensor:
    """Numpy-style basic indexing: ints, slices, Ellipsis and None."""
    if not isinstance(key, tuple):
        key = (key,)
    if any(k is Ellipsis for k in key):
        i = key.index(Ellipsis)
        fill = x.ndim - (len(key) - 1 - sum(k is None for k in key))
        key = key[:i] + (slice(None),) * fill + key[i + 1 :]
    starts, ends, axes, steps, squeeze, expand = [], [], [], [], [], []
    axis = 0
    out_axis = 0
    for k in key:
        if k is None:
            expand.append(out_axis)
            out_axis += 1
            continue
        if isinstance(k, (int, np.integer)):
            starts.append(int(k))
            ends.append(int(k) + 1 if int(k) != -1 else _INT_MAX)
            axes.append(axis)
            steps.append(1)
            squeeze.append(axis)
        elif isinstance(k, slice):
            if k != slice(None):
                step = 1 if k.step is None else int(k.step)
                starts.append((0 if step > 0 else -1) if k.start is None else int(k.start))
                default_end = _INT_MAX if step > 0 else -_INT_MAX
                ends.append(default_end if k.stop is None else int(k.stop))
                axes.append(axis)
                steps.append(step)
            out_axis += 1
        else:
            raise TypeError(f"Unsupported index {k!r}: use ints, slices, None or ...")
        axis += 1
    y = x
    if axes:
        y = apply1("Slice", y, starts=tuple(starts), ends=tuple(ends), axes=tuple(axes), steps=tuple(steps))
    if squeeze:
        y = apply1("Squeeze", y, axes=tuple(squeeze))
    if expand:
        y = apply1("Unsqueeze", y, axes=tuple(expand))
    return y
