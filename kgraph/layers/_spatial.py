"""Layers that pad, crop or upsample the spatial axes: ZeroPadding, Cropping, UpSampling 1D/2D/3D.

None has weights or supports masks. 1D layers always see `(batch, steps, features)`; 2D
and 3D layers follow `data_format` (default `K.image_data_format()`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from kgraph import backend as K
from kgraph.engine.topology import InputSpec, Layer
from kgraph.ir import ShapeError
from kgraph.ir import build as B
from kgraph.utils import conv_utils

__all__ = [
    "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D", "Cropping1D", "Cropping2D",
    "Cropping3D", "UpSampling1D", "UpSampling2D", "UpSampling3D", "checked",
]  # fmt: skip

_INT_MAX = np.iinfo(np.int64).max


def checked(layer: Layer, fn: Callable[..., Any], *args: Any) -> Any:
    """Runs an argument normalizer or a backend function, naming the layer in its
    ValueError (shape errors from the IR name the layer already)."""
    try:
        return fn(*args)
    except ShapeError:
        raise
    except ValueError as err:
        raise ValueError(f"Layer {layer.name}: {err}") from None


def _pairs(layer: Layer, value: Any, rank: int, name: str) -> tuple[tuple[int, int], ...]:
    """An int, `rank` ints (symmetric), or `rank` pairs -> `rank` (before, after) pairs."""
    if isinstance(value, int):
        return ((value, value),) * rank
    if not hasattr(value, "__len__") or len(value) != rank:
        raise ValueError(
            f"Layer {layer.name}: `{name}` should be an int, a tuple of {rank} ints (symmetric) or "
            f"a tuple of {rank} tuples of 2 ints ((before, after) per spatial axis). Found: {value!r}"
        )
    ordinal = ("1st", "2nd", "3rd")
    return tuple(checked(layer, conv_utils.normalize_tuple, v, 2, f"{ordinal[i]} entry of {name}")
                 for i, v in enumerate(value))  # fmt: skip


class _Spatial(Layer):
    """Shared plumbing: rank, data_format, the spatial axes of an input."""

    rank = 1

    def __init__(self, data_format: str | None = "channels_last", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.data_format = checked(self, conv_utils.normalize_data_format, data_format)
        self.input_spec = InputSpec(ndim=self.rank + 2)

    @property
    def _first(self) -> int:
        return 2 if self.data_format == "channels_first" else 1

    def get_config(self):
        config = super().get_config()
        if self.rank > 1:
            config["data_format"] = self.data_format
        return config


class _ZeroPadding(_Spatial):
    def __init__(
        self, padding: Any, data_format: str | None = "channels_last", **kwargs: Any
    ) -> None:
        super().__init__(data_format, **kwargs)
        self.padding = _pairs(self, padding, self.rank, "padding")

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        for i, (lo, hi) in enumerate(self.padding):
            d = shape[self._first + i]
            shape[self._first + i] = None if d is None else d + lo + hi
        return tuple(shape)

    def call(self, inputs, **kwargs):
        if self.rank == 1:
            return K.temporal_padding(inputs, self.padding[0])
        pad = K.spatial_2d_padding if self.rank == 2 else K.spatial_3d_padding
        return pad(inputs, self.padding, self.data_format)

    def get_config(self):
        padding = self.padding[0] if self.rank == 1 else self.padding
        return {**super().get_config(), "padding": padding}


class ZeroPadding1D(_ZeroPadding):
    """Pads the steps axis with zeros: `padding` is an int or (left, right)."""

    rank = 1

    def __init__(self, padding=1, **kwargs):
        super().__init__((padding,), "channels_last", **kwargs)


class ZeroPadding2D(_ZeroPadding):
    """Pads rows and columns with zeros: an int, (sym_rows, sym_cols) or ((top, bottom), (left, right))."""

    rank = 2

    def __init__(self, padding=(1, 1), data_format=None, **kwargs):
        super().__init__(padding, data_format, **kwargs)


class ZeroPadding3D(_ZeroPadding):
    """Pads the three spatial axes with zeros (same argument forms as ZeroPadding2D)."""

    rank = 3

    def __init__(self, padding=(1, 1, 1), data_format=None, **kwargs):
        super().__init__(padding, data_format, **kwargs)


class _Cropping(_Spatial):
    def __init__(
        self, cropping: Any, data_format: str | None = "channels_last", **kwargs: Any
    ) -> None:
        super().__init__(data_format, **kwargs)
        self.cropping = _pairs(self, cropping, self.rank, "cropping")

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        for i, (lo, hi) in enumerate(self.cropping):
            d = shape[self._first + i]
            if d is not None and lo + hi >= d:
                raise ValueError(
                    f"Layer {self.name}: cropping {self.cropping} removes all of spatial axis {i} "
                    f"(size {d}) of the input shape {tuple(input_shape)}."
                )
            shape[self._first + i] = None if d is None else d - lo - hi
        return tuple(shape)

    def call(self, inputs, **kwargs):
        self.compute_output_shape(K.int_shape(inputs))
        n = self.rank
        axes = tuple(range(self._first, self._first + n))
        starts = tuple(lo for lo, _ in self.cropping)
        ends = tuple(-hi if hi else _INT_MAX for _, hi in self.cropping)
        return B.apply1("Slice", inputs, starts=starts, ends=ends, axes=axes, steps=(1,) * n)

    def get_config(self):
        cropping = self.cropping[0] if self.rank == 1 else self.cropping
        return {**super().get_config(), "cropping": cropping}


class Cropping1D(_Cropping):
    """Crops the steps axis: `cropping` is an int or (left, right)."""

    rank = 1

    def __init__(self, cropping=(1, 1), **kwargs):
        super().__init__((cropping,), "channels_last", **kwargs)


class Cropping2D(_Cropping):
    """Crops rows and columns: an int, (sym_rows, sym_cols) or ((top, bottom), (left, right))."""

    rank = 2

    def __init__(self, cropping=((0, 0), (0, 0)), data_format=None, **kwargs):
        super().__init__(cropping, data_format, **kwargs)


class Cropping3D(_Cropping):
    """Crops the three spatial axes (same argument forms as Cropping2D)."""

    rank = 3

    def __init__(self, cropping=((1, 1), (1, 1), (1, 1)), data_format=None, **kwargs):
        super().__init__(cropping, data_format, **kwargs)


class _UpSampling(_Spatial):
    def __init__(self, size: Any, data_format: str | None = "channels_last", **kwargs: Any) -> None:
        super().__init__(data_format, **kwargs)
        self.size = checked(self, conv_utils.normalize_tuple, size, self.rank, "size")

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        for i, factor in enumerate(self.size):
            d = shape[self._first + i]
            shape[self._first + i] = None if d is None else d * factor
        return tuple(shape)

    def call(self, inputs, **kwargs):
        out = inputs
        for i, factor in enumerate(self.size):
            out = K.repeat_elements(out, factor, self._first + i)
        return out

    def get_config(self):
        size = self.size[0] if self.rank == 1 else self.size
        return {**super().get_config(), "size": size}


class UpSampling1D(_UpSampling):
    """Repeats each step `size` times."""

    rank = 1

    def __init__(self, size=2, **kwargs):
        if "length" in kwargs:  # Keras 1's name
            size = kwargs.pop("length")
        super().__init__(size, "channels_last", **kwargs)


class UpSampling2D(_UpSampling):
    """Repeats rows and columns `size[0]` and `size[1]` times (nearest-neighbour upsampling)."""

    rank = 2

    def __init__(self, size=(2, 2), data_format=None, **kwargs):
        super().__init__(size, data_format, **kwargs)


class UpSampling3D(_UpSampling):
    """Repeats the three spatial axes `size` times each."""

    rank = 3

    def __init__(self, size=(2, 2, 2), data_format=None, **kwargs):
        super().__init__(size, data_format, **kwargs)
