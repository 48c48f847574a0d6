"""Shape-rule helpers shared by the op families."""

from __future__ import annotations

from collections.abc import Sequence

from kgraph.ir.dtypes import DType
from kgraph.ir.errors import ShapeError
from kgraph.ir.spec import Shape, TensorSpec, format_shape

__all__ = ["broadcast_shapes", "same_dtype", "norm_axis", "norm_axes"]


def broadcast_shapes(*shapes: Shape) -> Shape:
    """Numpy broadcasting over static shapes with None for unknown dims."""
    rank = max(len(s) for s in shapes)
    padded = [(1,) * (rank - len(s)) + tuple(s) for s in shapes]
    out: list[int | None] = []
    for dims in zip(*padded):
        known = {d for d in dims if d is not None and d != 1}
        if len(known) > 1:
            shown = " vs ".join(format_shape(s) for s in shapes)
            raise ShapeError(f"shapes cannot be broadcast: {shown}")
        if known:
            out.append(known.pop())
        elif any(d is None for d in dims):
            out.append(None)
        else:
            out.append(1)
    return tuple(out)


def same_dtype(specs: Sequence[TensorSpec]) -> DType:
    dtypes = {s.dtype for s in specs}
    if len(dtypes) != 1:
        shown = ", ".join(sorted(d.value for d in dtypes))
        raise ShapeError(f"operands must have one dtype, got {shown}")
    return specs[0].dtype


def norm_axis(axis: int, rank: int) -> int:
    if not -rank <= axis < rank:
        raise ShapeError(f"axis {axis} is out of range for rank {rank}")
    return axis % rank


def norm_axes(axes: Sequence[int] | None, rank: int) -> tuple[int, ...]:
    if axes is None:
        return tuple(range(rank))
    return tuple(sorted({norm_axis(a, rank) for a in axes}))
