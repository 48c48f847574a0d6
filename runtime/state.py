"""Device-resident state: each variable's value lives in two OrtValues (current and spare)."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort

__all__ = ["StateBuffer"]


class StateBuffer:
    """A double-buffered tensor on one device.

    A step reads `current` and writes its new value into `spare`; `flip()` then swaps the
    two, so no step ever copies the weights. Both OrtValues keep their memory for the
    buffer's lifetime, which lets executors keep their bindings.
    """

    __slots__ = ("_sides", "_cur", "device", "shape", "dtype", "version")

    def __init__(self, value: np.ndarray, device: str = "cpu") -> None:
        # np.ascontiguousarray would turn a 0-d scalar into shape (1,). On the CPU an
        # OrtValue shares the array's memory, so each side gets its own array; the spare
        # side is only ever written before it is read, so it starts uninitialised.
        value = np.array(value, order="C", copy=True)
        self.device = device
        self.shape = value.shape
        self.dtype = value.dtype
        self._sides = [
            ort.OrtValue.ortvalue_from_numpy(value, device),
            ort.OrtValue.ortvalue_from_numpy(np.empty_like(value), device),
        ]
        self._cur = 0
        self.version = 0
        """Counts changes of the value, so a consumer can tell whether a copy is stale."""

    @property
    def side(self) -> int:
        return self._cur

    @property
    def current(self) -> ort.OrtValue:
        return self._sides[self._cur]

    @property
    def spare(self) -> ort.OrtValue:
        return self._sides[1 - self._cur]

    def flip(self) -> None:
        self._cur = 1 - self._cur
        self.version += 1

    def read(self) -> np.ndarray:
        return np.array(self.current.numpy(), copy=True)

    def write(self, value: np.ndarray) -> None:
        value = np.array(value, dtype=self.dtype, order="C", copy=True)
        if value.shape != self.shape:
            raise ValueError(f"expected a value of shape {self.shape}, got {value.shape}")
        self.current.update_inplace(value)
        self.version += 1
