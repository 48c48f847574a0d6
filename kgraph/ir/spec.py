"""Frozen tensor specs: the type carried on every IR edge."""

from __future__ import annotations

from dataclasses import dataclass

from kgraph.ir.dtypes import DType

__all__ = ["TensorSpec", "Shape", "format_shape"]

Shape = tuple[int | None, ...]


def format_shape(shape: Shape) -> str:
    return "[" + ",".join("?" if d is None else str(d) for d in shape) + "]"


@dataclass(frozen=True)
class TensorSpec:
    """The static shape (`None` for an unknown dimension) and element type of a tensor."""

    shape: Shape
    dtype: DType

    @property
    def rank(self) -> int:
        return len(self.shape)

    def __str__(self) -> str:
        return f"{self.dtype.short}{format_shape(self.shape)}"
