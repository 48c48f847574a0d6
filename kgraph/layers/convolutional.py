"""Convolution layers: Conv1D/2D/3D, Conv2DTranspose, SeparableConv2D.

Kernels keep Keras's layout, `kernel_size + (in, filters)` (Conv2DTranspose swaps the last
two), whatever the `data_format`; the backend maps them onto ONNX's channels-first ops.
Padding, cropping and upsampling layers live in `kgraph.layers._spatial` and are
re-exported here, as Keras keeps them in this module.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kgraph import backend as K
from kgraph import constraints, initializers, regularizers
from kgraph.backend._conv import convolve
from kgraph.engine.topology import InputSpec, Layer
from kgraph.layers._common import kernel_bias_config, set_kernel_bias_args
from kgraph.layers._spatial import (
    Cropping1D,
    Cropping2D,
    Cropping3D,
    UpSampling1D,
    UpSampling2D,
    UpSampling3D,
    ZeroPadding1D,
    ZeroPadding2D,
    ZeroPadding3D,
    checked,
)
from kgraph.utils import conv_utils

__all__ = [
    "Conv1D", "Conv2D", "Conv3D", "Conv2DTranspose", "SeparableConv2D",
    "Convolution1D", "Convolution2D", "Convolution3D", "Convolution2DTranspose",
    "Deconvolution2D", "Deconv2D", "SeparableConvolution2D",
    "UpSampling1D", "UpSampling2D", "UpSampling3D", "ZeroPadding1D", "ZeroPadding2D",
    "ZeroPadding3D", "Cropping1D", "Cropping2D", "Cropping3D",
]  # fmt: skip


class _Conv(Layer):
    """The N-d convolution base: `activation(conv(inputs, kernel) + bias)`."""

    def __init__(self, rank, filters, kernel_size, strides=1, padding="valid", data_format=None,
                 dilation_rate=1, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None, **kwargs):  # fmt: skip
        super().__init__(**kwargs)
        self.rank = rank
        if int(filters) <= 0:
            raise ValueError(
                f"Layer {self.name}: `filters` must be a positive integer, got {filters!r}"
            )
        self.filters = int(filters)
        self.kernel_size = checked(
            self, conv_utils.normalize_tuple, kernel_size, rank, "kernel_size"
        )
        self.strides = checked(self, conv_utils.normalize_tuple, strides, rank, "strides")
        self.padding = checked(self, conv_utils.normalize_padding, padding)
        if self.padding == "causal" and rank != 1:
            raise ValueError(f"Layer {self.name}: padding='causal' is only for Conv1D")
        self.data_format = checked(self, conv_utils.normalize_data_format, data_format)
        self.dilation_rate = checked(
            self, conv_utils.normalize_tuple, dilation_rate, rank, "dilation_rate"
        )
        set_kernel_bias_args(self, activation, use_bias, kernel_initializer, bias_initializer,
                             kernel_regularizer, bias_regularizer, activity_regularizer,
                             kernel_constraint, bias_constraint)  # fmt: skip
        self.input_spec = InputSpec(ndim=rank + 2)

    @property
    def _channel_axis(self) -> int:
        return 1 if self.data_format == "channels_first" else -1

    def _input_channels(self, input_shape) -> int:
        channels = input_shape[self._channel_axis]
        if channels is None:
            raise ValueError(
                f"Layer {self.name}: the channel dimension of the inputs should be defined. "
                f"Found `None` (input shape {tuple(input_shape)}, data_format={self.data_format!r})."
            )
        return int(channels)

    def _kernel_shape(self, input_dim: int) -> tuple[int, ...]:
        return self.kernel_size + (input_dim, self.filters)

    def build(self, input_shape):
        input_dim = self._input_channels(input_shape)
        self.kernel = self.add_weight("kernel", self._kernel_shape(input_dim), initializer=self.kernel_initializer,
                                      regularizer=self.kernel_regularizer, constraint=self.kernel_constraint)  # fmt: skip
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight("bias", (self.filters,), initializer=self.bias_initializer,
                                        regularizer=self.bias_regularizer, constraint=self.bias_constraint)  # fmt: skip
        self.input_spec = InputSpec(ndim=self.rank + 2, axes={self._channel_axis: input_dim})
        self.built = True

    def _spatial(self, input_shape) -> tuple:
        return tuple(input_shape[2:] if self.data_format == "channels_first" else input_shape[1:-1])

    def _output_length(self, i: int, length: int | None) -> int | None:
        return conv_utils.conv_output_length(length, self.kernel_size[i], self.padding, self.strides[i],
                                             self.dilation_rate[i])  # fmt: skip

    def compute_output_shape(self, input_shape):
        spatial = self._spatial(input_shape)
        out = tuple(self._output_length(i, d) for i, d in enumerate(spatial))
        if any(d is not None and d < 1 for d in out):
            raise ValueError(
                f"Layer {self.name}: the kernel {self.kernel_size} (dilation_rate {self.dilation_rate}) "
                f"is larger than the input's spatial shape {spatial} with padding={self.padding!r}; "
                f"it would give an output of spatial shape {out}."
            )
        if self.data_format == "channels_first":
            return (input_shape[0], self.filters) + out
        return (input_shape[0],) + out + (self.filters,)

    def _convolve(self, inputs):
        return convolve(inputs, self.kernel, self.bias, self.strides, self.padding, self.data_format,
                        self.dilation_rate)  # fmt: skip

    def call(self, inputs, **kwargs):
        self.compute_output_shape(K.int_shape(inputs))
        return self.activation(checked(self, self._convolve, inputs))

    def get_config(self):
        config = {
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "data_format": self.data_format,
            "dilation_rate": self.dilation_rate,
            **kernel_bias_config(self),
        }
        return {**super().get_config(), **config}


class Conv1D(_Conv):
    """1D (temporal) convolution over `(batch, steps, channels)` inputs.

    Weights: `kernel` (kernel_size, input_dim, filters), then `bias` (filters,).
    `padding='causal'` pads `dilation_rate * (kernel_size - 1)` zeros on the left, so
    output[t] never depends on input[t + 1:].

    Example:
        ```python
        model = Sequential()
        model.add(Conv1D(32, 3, padding='causal', input_shape=(100, 8)))
        ```
    """

    def __init__(self, filters, kernel_size, strides=1, padding="valid", dilation_rate=1, **kwargs):
        if "input_shape" not in kwargs and "input_dim" in kwargs:
            kwargs["input_shape"] = (kwargs.pop("input_length", None), kwargs.pop("input_dim"))
        super().__init__(1, filters, kernel_size, strides=strides, padding=padding,
                         data_format="channels_last", dilation_rate=dilation_rate, **kwargs)  # fmt: skip

    def get_config(self):
        config = super().get_config()
        config.pop("data_format")
        return config


class Conv2D(_Conv):
    """2D convolution over images, `(batch, rows, cols, channels)` for channels_last.

    Weights: `kernel` (kh, kw, input_dim, filters), then `bias` (filters,).

    Example:
        ```python
        model = Sequential()
        model.add(Conv2D(64, (3, 3), activation='relu', input_shape=(28, 28, 1)))
        ```
    """

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1), **kwargs):  # fmt: skip
        super().__init__(2, filters, kernel_size, strides=strides, padding=padding,
                         data_format=data_format, dilation_rate=dilation_rate, **kwargs)  # fmt: skip


class Conv3D(_Conv):
    """3D convolution over volumes, `(batch, d1, d2, d3, channels)` for channels_last.

    Weights: `kernel` (k1, k2, k3, input_dim, filters), then `bias` (filters,).
    """

    def __init__(self, filters, kernel_size, strides=(1, 1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1, 1), **kwargs):  # fmt: skip
        super().__init__(3, filters, kernel_size, strides=strides, padding=padding,
                         data_format=data_format, dilation_rate=dilation_rate, **kwargs)  # fmt: skip


class Conv2DTranspose(Conv2D):
    """Transposed 2D convolution (sometimes called deconvolution).

    Weights: `kernel` (kh, kw, filters, input_dim) -- the last two axes swapped relative to
    Conv2D -- then `bias` (filters,). Output length: 'valid' `L * s + max(k - s, 0)`,
    'same' `L * s`.
    """

    def __init__(
        self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None, **kwargs
    ):
        kwargs.pop("output_shape", None)
        super().__init__(
            filters,
            kernel_size,
            strides=strides,
            padding=padding,
            data_format=data_format,
            **kwargs,
        )
        self.input_spec = InputSpec(ndim=4)

    def _kernel_shape(self, input_dim: int) -> tuple[int, ...]:
        return self.kernel_size + (self.filters, input_dim)

    def _output_length(self, i: int, length: int | None) -> int | None:
        return conv_utils.deconv_length(length, self.strides[i], self.kernel_size[i], self.padding)

    def _convolve(self, inputs):
        return K.conv2d_transpose(inputs, self.kernel, self.compute_output_shape(K.int_shape(inputs)),
                                  self.strides, self.padding, self.data_format, bias=self.bias)  # fmt: skip

    def get_config(self):
        config = super().get_config()
        config.pop("dilation_rate")
        return config


class SeparableConv2D(Conv2D):
    """A depthwise 2D convolution (each input channel on its own, `depth_multiplier` outputs
    per channel) followed by a 1x1 pointwise convolution that mixes the channels.

    Weights: `depthwise_kernel` (kh, kw, input_dim, depth_multiplier), `pointwise_kernel`
    (1, 1, input_dim * depth_multiplier, filters), then `bias` (filters,).
    """

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None,
                 depth_multiplier=1, activation=None, use_bias=True, depthwise_initializer="glorot_uniform",
                 pointwise_initializer="glorot_uniform", bias_initializer="zeros", depthwise_regularizer=None,
                 pointwise_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 depthwise_constraint=None, pointwise_constraint=None, bias_constraint=None, **kwargs):  # fmt: skip
        super().__init__(filters, kernel_size, strides=strides, padding=padding, data_format=data_format,
                         activation=activation, use_bias=use_bias, bias_initializer=bias_initializer,
                         bias_regularizer=bias_regularizer, activity_regularizer=activity_regularizer,
                         bias_constraint=bias_constraint, **kwargs)  # fmt: skip
        self.depth_multiplier = int(depth_multiplier)
        self.depthwise_initializer = initializers.get(depthwise_initializer)
        self.pointwise_initializer = initializers.get(pointwise_initializer)
        self.depthwise_regularizer = regularizers.get(depthwise_regularizer)
        self.pointwise_regularizer = regularizers.get(pointwise_regularizer)
        self.depthwise_constraint = constraints.get(depthwise_constraint)
        self.pointwise_constraint = constraints.get(pointwise_constraint)

    def build(self, input_shape):
        input_dim = self._input_channels(input_shape)
        self.depthwise_kernel = self.add_weight(
            "depthwise_kernel", self.kernel_size + (input_dim, self.depth_multiplier),
            initializer=self.depthwise_initializer, regularizer=self.depthwise_regularizer,
            constraint=self.depthwise_constraint)  # fmt: skip
        self.pointwise_kernel = self.add_weight(
            "pointwise_kernel", (1, 1, input_dim * self.depth_multiplier, self.filters),
            initializer=self.pointwise_initializer, regularizer=self.pointwise_regularizer,
            constraint=self.pointwise_constraint)  # fmt: skip
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight("bias", (self.filters,), initializer=self.bias_initializer,
                                        regularizer=self.bias_regularizer, constraint=self.bias_constraint)  # fmt: skip
        self.input_spec = InputSpec(ndim=4, axes={self._channel_axis: input_dim})
        self.built = True

    def _convolve(self, inputs):
        return K.separable_conv2d(inputs, self.depthwise_kernel, self.pointwise_kernel, self.strides,
                                  self.padding, self.data_format, self.dilation_rate, bias=self.bias)  # fmt: skip

    def get_config(self):
        config = super().get_config()
        for key in ("kernel_initializer", "kernel_regularizer", "kernel_constraint"):
            config.pop(key)
        config.update({
            "depth_multiplier": self.depth_multiplier,
            "depthwise_initializer": initializers.serialize(self.depthwise_initializer),
            "pointwise_initializer": initializers.serialize(self.pointwise_initializer),
            "depthwise_regularizer": regularizers.serialize(self.depthwise_regularizer),
            "pointwise_regularizer": regularizers.serialize(self.pointwise_regularizer),
            "depthwise_constraint": constraints.serialize(self.depthwise_constraint),
            "pointwise_constraint": constraints.serialize(self.pointwise_constraint),
        })  # fmt: skip
        return config


# Keras 2 aliases.
Convolution1D: Callable[..., Any] = Conv1D
Convolution2D: Callable[..., Any] = Conv2D
Convolution3D: Callable[..., Any] = Conv3D
Convolution2DTranspose: Callable[..., Any] = Conv2DTranspose
Deconvolution2D: Callable[..., Any] = Conv2DTranspose
Deconv2D: Callable[..., Any] = Conv2DTranspose
SeparableConvolution2D: Callable[..., Any] = SeparableConv2D
