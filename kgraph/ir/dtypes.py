"""Element types of IR tensors, with their numpy and ONNX counterparts."""

from __future__ import annotations

import enum
from typing import Any

import numpy as np
from onnx import TensorProto

__all__ = ["DType", "as_dtype"]


class DType(str, enum.Enum):
    """An element type. A `str` subclass, so `t.dtype == 'float32'` works as in Keras."""

    float16 = "float16"
    float32 = "float32"
    float64 = "float64"
    int8 = "int8"
    int16 = "int16"
    int32 = "int32"
    int64 = "int64"
    uint8 = "uint8"
    uint32 = "uint32"
    uint64 = "uint64"
    bool = "bool"

    def __str__(self) -> str:
        return self.value

    @property
    def numpy(self) -> np.dtype:
        return np.dtype(self.value)

    @property
    def onnx(self) -> int:
        return _ONNX[self]

    @property
    def short(self) -> str:
        return _SHORT[self]

    @property
    def is_float(self) -> bool:
        return self in (DType.float16, DType.float32, DType.float64)

    @property
    def is_integer(self) -> bool:
        return not self.is_float and self is not DType.bool


_ONNX = {
    DType.float16: TensorProto.FLOAT16,
    DType.float32: TensorProto.FLOAT,
    DType.float64: TensorProto.DOUBLE,
    DType.int8: TensorProto.INT8,
    DType.int16: TensorProto.INT16,
    DType.int32: TensorProto.INT32,
    DType.int64: TensorProto.INT64,
    DType.uint8: TensorProto.UINT8,
    DType.uint32: TensorProto.UINT32,
    DType.uint64: TensorProto.UINT64,
    DType.bool: TensorProto.BOOL,
}
_SHORT = {
    DType.float16: "f16",
    DType.float32: "f32",
    DType.float64: "f64",
    DType.int8: "i8",
    DType.int16: "i16",
    DType.int32: "i32",
    DType.int64: "i64",
    DType.uint8: "u8",
    DType.uint32: "u32",
    DType.uint64: "u64",
    DType.bool: "bool",
}


def as_dtype(value: Any) -> DType:
    """Converts a string, numpy dtype or DType to a DType; TypeError for anything else."""
    if isinstance(value, DType):
        return value
    try:
        return DType(np.dtype(value).name)
    except (TypeError, ValueError):
        valid = ", ".join(d.value for d in DType)
        raise TypeError(f"Unsupported dtype {value!r}; valid choices: {valid}") from None
