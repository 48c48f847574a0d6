"""Variables: weights and other state that live outside any one graph."""

from __future__ import annotations

import itertools
from typing import Any, Protocol

import numpy as np

from kgraph.ir.dtypes import DType, as_dtype
from kgraph.ir.spec import TensorSpec

__all__ = ["Variable", "DeviceBuffer"]

_ids = itertools.count()


class DeviceBuffer(Protocol):
    """Where a runtime keeps a variable's current value once it owns it."""

    def read(self) -> np.ndarray: ...

    def write(self, value: np.ndarray) -> None: ...


class Variable:
    """A named, typed, mutable tensor (a weight, an optimizer slot, a counter).

    Graphs read a variable through a `Variable` node; several graphs and compiled programs
    see the same object. Until a runtime takes it over, the value lives in host memory;
    afterwards `value` reads the runtime's buffer on demand.
    """

    def __init__(
        self,
        value: Any,
        dtype: Any = None,
        name: str | None = None,
        trainable: bool = True,
        constraint: Any = None,
    ) -> None:
        self.uid = next(_ids)
        array = np.asarray(value, dtype=None if dtype is None else as_dtype(dtype).numpy)
        if dtype is None and array.dtype == np.float64:
            from kgraph._config import floatx

            array = array.astype(floatx())
        self.dtype: DType = as_dtype(array.dtype)
        self.shape: tuple[int, ...] = tuple(int(d) for d in array.shape)
        self.name = f"{name or 'Variable'}:0"
        self.trainable = trainable
        self.constraint = constraint
        self._host: np.ndarray | None = np.array(array, copy=True)
        self._device: DeviceBuffer | None = None

    @property
    def spec(self) -> TensorSpec:
        return TensorSpec(self.shape, self.dtype)

    @property
    def op_name(self) -> str:
        """The name without the `:0` output suffix."""
        return self.name[:-2] if self.name.endswith(":0") else self.name

    def attach(self, buffer: DeviceBuffer) -> None:
        """Hands ownership of the value to a runtime buffer."""
        self._device = buffer
        self._host = None

    @property
    def device_buffer(self) -> DeviceBuffer | None:
        return self._device

    @property
    def value(self) -> np.ndarray:
        if self._device is not None:
            return self._device.read()
        assert self._host is not None
        return self._host.copy()

    def assign(self, value: Any) -> None:
        array = np.asarray(value, dtype=self.dtype.numpy)
        if array.shape != self.shape:
            raise ValueError(
                f"Cannot assign a value of shape {array.shape} to variable {self.name} "
                f"of shape {self.shape}"
            )
        if self._device is not None:
            self._device.write(array)
        else:
            self._host = np.array(array, copy=True)

    def numpy(self) -> np.ndarray:
        return self.value

    def __hash__(self) -> int:
        return hash(("Variable", self.uid))

    def __eq__(self, other: object) -> bool:
        return self is other

    def __repr__(self) -> str:
        return f"<Variable {self.name} {self.spec}>"

    # Arithmetic on a variable reads it into the default graph.
    def _t(self):
        from kgraph.ir.graph import get_default_graph

        return get_default_graph().read(self)

    def __getattr__(self, item: str):
        if item.startswith("__") or item.startswith("_"):
            raise AttributeError(item)
        raise AttributeError(f"'Variable' object has no attribute {item!r}")


def _forward(name: str):
    def method(self, *args):
        return getattr(self._t(), name)(*args)

    method.__name__ = name
    return method


for _name in (
    "__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__", "__truediv__",
    "__rtruediv__", "__floordiv__", "__rfloordiv__", "__mod__", "__rmod__", "__neg__",
    "__pow__", "__rpow__", "__abs__", "__getitem__",
    "__lt__", "__le__", "__gt__", "__ge__",
):  # fmt: skip
    setattr(Variable, _name, _forward(_name))
