"""Pooling layers: max and average pooling over windows, and global pooling, in 1D/2D/3D.

No pooling layer has weights or supports masks. `strides=None` means `pool_size`.
'same' pads at the end as TensorFlow does; 'same' average pooling leaves the padded cells
out of each mean.
"""

from __future__ import annotations

from kgraph import backend as K
from kgraph.backend._conv import pool
from kgraph.engine.topology import InputSpec, Layer
from kgraph.layers._spatial import checked
from kgraph.utils import conv_utils

__all__ = [
    "MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "AveragePooling1D", "AveragePooling2D",
    "AveragePooling3D", "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D",
    "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D",
    "MaxPool1D", "MaxPool2D", "MaxPool3D", "AvgPool1D", "AvgPool2D", "AvgPool3D",
    "GlobalMaxPool1D", "GlobalMaxPool2D", "GlobalMaxPool3D", "GlobalAvgPool1D",
    "GlobalAvgPool2D", "GlobalAvgPool3D",
]  # fmt: skip


class _Pooling(Layer):
    """Windowed pooling over `rank` spatial axes."""

    rank = 2
    mode = "max"

    def __init__(
        self, pool_size, strides=None, padding="valid", data_format="channels_last", **kwargs
    ):
        super().__init__(**kwargs)
        if strides is None:
            strides = pool_size
        self.pool_size = checked(
            self, conv_utils.normalize_tuple, pool_size, self.rank, "pool_size"
        )
        self.strides = checked(self, conv_utils.normalize_tuple, strides, self.rank, "strides")
        self.padding = checked(self, conv_utils.normalize_padding, padding)
        if self.padding == "causal":
            raise ValueError(f"Layer {self.name}: padding must be 'valid' or 'same', got 'causal'")
        self.data_format = checked(self, conv_utils.normalize_data_format, data_format)
        self.input_spec = InputSpec(ndim=self.rank + 2)

    def compute_output_shape(self, input_shape):
        first = 2 if self.data_format == "channels_first" else 1
        shape = list(input_shape)
        spatial = tuple(shape[first : first + self.rank])
        out = tuple(
            conv_utils.conv_output_length(d, k, self.padding, s)
            for d, k, s in zip(spatial, self.pool_size, self.strides, strict=True)
        )
        if any(d is not None and d < 1 for d in out):
            raise ValueError(
                f"Layer {self.name}: the pool_size {self.pool_size} is larger than the input's "
                f"spatial shape {spatial} with padding={self.padding!r}."
            )
        shape[first : first + self.rank] = out
        return tuple(shape)

    def call(self, inputs, **kwargs):
        self.compute_output_shape(K.int_shape(inputs))
        return checked(self, pool, inputs, self.pool_size, self.strides, self.padding,
                       self.data_format, self.mode)  # fmt: skip

    def get_config(self):
        config = {"pool_size": self.pool_size, "padding": self.padding, "strides": self.strides}
        if self.rank > 1:
            config["data_format"] = self.data_format
        return {**super().get_config(), **config}


class MaxPooling1D(_Pooling):
    """Max pooling over the steps of `(batch, steps, features)`."""

    rank, mode = 1, "max"

    def __init__(self, pool_size=2, strides=None, padding="valid", **kwargs):
        super().__init__(pool_size, strides, padding, "channels_last", **kwargs)


class AveragePooling1D(_Pooling):
    """Average pooling over the steps of `(batch, steps, features)`."""

    rank, mode = 1, "avg"

    def __init__(self, pool_size=2, strides=None, padding="valid", **kwargs):
        super().__init__(pool_size, strides, padding, "channels_last", **kwargs)


class MaxPooling2D(_Pooling):
    """Max pooling over rows and columns.

    Example:
        ```python
        model.add(MaxPooling2D(pool_size=(2, 2)))
        ```
    """

    rank, mode = 2, "max"

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


class AveragePooling2D(_Pooling):
    """Average pooling over rows and columns."""

    rank, mode = 2, "avg"

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


class MaxPooling3D(_Pooling):
    """Max pooling over three spatial axes."""

    rank, mode = 3, "max"

    def __init__(
        self, pool_size=(2, 2, 2), strides=None, padding="valid", data_format=None, **kwargs
    ):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


class AveragePooling3D(_Pooling):
    """Average pooling over three spatial axes."""

    rank, mode = 3, "avg"

    def __init__(
        self, pool_size=(2, 2, 2), strides=None, padding="valid", data_format=None, **kwargs
    ):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


class _GlobalPooling(Layer):
    """Max or mean over every spatial axis: `(batch, channels)` out."""

    rank = 2
    mode = "max"

    def __init__(self, data_format="channels_last", **kwargs):
        super().__init__(**kwargs)
        self.data_format = checked(self, conv_utils.normalize_data_format, data_format)
        self.input_spec = InputSpec(ndim=self.rank + 2)

    def compute_output_shape(self, input_shape):
        channels = input_shape[1] if self.data_format == "channels_first" else input_shape[-1]
        return (input_shape[0], channels)

    def call(self, inputs, **kwargs):
        first = 2 if self.data_format == "channels_first" else 1
        axes = list(range(first, first + self.rank))
        return K.max(inputs, axis=axes) if self.mode == "max" else K.mean(inputs, axis=axes)

    def get_config(self):
        config = super().get_config()
        if self.rank > 1:
            config["data_format"] = self.data_format
        return config


class GlobalMaxPooling1D(_GlobalPooling):
    """Max over the steps: `(batch, steps, features)` -> `(batch, features)`."""

    rank, mode = 1, "max"

    def __init__(self, **kwargs):
        super().__init__("channels_last", **kwargs)


class GlobalAveragePooling1D(_GlobalPooling):
    """Mean over the steps: `(batch, steps, features)` -> `(batch, features)`."""

    rank, mode = 1, "avg"

    def __init__(self, **kwargs):
        super().__init__("channels_last", **kwargs)


class GlobalMaxPooling2D(_GlobalPooling):
    """Max over rows and columns: -> `(batch, channels)`."""

    rank, mode = 2, "max"

    def __init__(self, data_format=None, **kwargs):
        super().__init__(data_format, **kwargs)


class GlobalAveragePooling2D(_GlobalPooling):
    """Mean over rows and columns: -> `(batch, channels)`."""

    rank, mode = 2, "avg"

    def __init__(self, data_format=None, **kwargs):
        super().__init__(data_format, **kwargs)


class GlobalMaxPooling3D(_GlobalPooling):
    """Max over three spatial axes: -> `(batch, channels)`."""

    rank, mode = 3, "max"

    def __init__(self, data_format=None, **kwargs):
        super().__init__(data_format, **kwargs)


class GlobalAveragePooling3D(_GlobalPooling):
    """Mean over three spatial axes: -> `(batch, channels)`."""

    rank, mode = 3, "avg"

    def __init__(self, data_format=None, **kwargs):
        super().__init__(data_format, **kwargs)


# Keras 2 aliases.
MaxPool1D, MaxPool2D, MaxPool3D = MaxPooling1D, MaxPooling2D, MaxPooling3D
AvgPool1D, AvgPool2D, AvgPool3D = AveragePooling1D, AveragePooling2D, AveragePooling3D
GlobalMaxPool1D, GlobalMaxPool2D, GlobalMaxPool3D = (
    GlobalMaxPooling1D,
    GlobalMaxPooling2D,
    GlobalMaxPooling3D,
)
GlobalAvgPool1D, GlobalAvgPool2D, GlobalAvgPool3D = (
    GlobalAveragePooling1D,
    GlobalAveragePooling2D,
    GlobalAveragePooling3D,
)
