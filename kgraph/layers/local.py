"""Locally-connected layers: convolutions whose filters are not shared between positions.

Both are composites: one Gather with a constant index table unfolds every patch (its
gradient is a scatter-add), one batched MatMul applies each position's own kernel.
"""

from __future__ import annotations

import itertools

import numpy as np

from kgraph import backend as K
from kgraph.engine.topology import InputSpec, Layer
from kgraph.ir import build as B
from kgraph.layers._common import kernel_bias_config, set_kernel_bias_args

__all__ = ["LocallyConnected1D", "LocallyConnected2D"]


def _tuple(value, n, name, layer):
    values = (value,) * n if isinstance(value, (int, np.integer)) else tuple(value)
    if len(values) != n or not all(isinstance(v, (int, np.integer)) and v > 0 for v in values):
        raise ValueError(
            f"Layer {layer}: `{name}` must be a positive integer or a tuple of {n}, got {value!r}"
        )
    return tuple(int(v) for v in values)


def _output_length(length, kernel, stride):
    return None if length is None else (length - kernel + stride) // stride


def _unfold(x_positions, index, order):
    """Patches as rows: `x_positions` is (positions, batch, channels); `index` (L, K) lists
    each output's input positions. Returns (L, batch, features) with the features laid out
    as `order` ('kc': position-major, 'ck': channel-major)."""
    patches = B.apply1("Gather", x_positions, K.constant(index, "int64"), axis=0)
    patches = B.transpose(patches, (0, 2, 1, 3) if order == "kc" else (0, 2, 3, 1))
    features = index.shape[1] * x_positions.shape[-1]
    return B.reshape(patches, [index.shape[0], -1, features])


class _LocallyConnected(Layer):
    _rank = 1

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None,
                 activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None, **kwargs):  # fmt: skip
        super().__init__(**kwargs)
        self.filters = int(filters)
        if self.filters <= 0:
            raise ValueError(
                f"Layer {self.name}: filters must be a positive integer, got {filters!r}"
            )
        self.kernel_size = _tuple(kernel_size, self._rank, "kernel_size", self.name)
        self.strides = _tuple(strides, self._rank, "strides", self.name)
        self.padding = str(padding).lower()
        if self.padding != "valid":
            raise ValueError(
                f"Invalid border mode for {type(self).__name__} (layer {self.name}): only 'valid' "
                f"is supported, got {padding!r}"
            )
        self.data_format = data_format or K.image_data_format()
        if self.data_format not in {"channels_last", "channels_first"}:
            raise ValueError(
                f"Layer {self.name}: data_format must be 'channels_last' or 'channels_first', got {data_format!r}"
            )
        set_kernel_bias_args(self, activation, use_bias, kernel_initializer, bias_initializer,
                             kernel_regularizer, bias_regularizer, activity_regularizer,
                             kernel_constraint, bias_constraint)  # fmt: skip
        self.input_spec = InputSpec(ndim=self._rank + 2)

    def _add_weights(self, kernel_shape, bias_shape):
        self.kernel_shape = kernel_shape
        self.kernel = self.add_weight("kernel", kernel_shape, initializer=self.kernel_initializer,
                                      regularizer=self.kernel_regularizer, constraint=self.kernel_constraint)  # fmt: skip
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight("bias", bias_shape, initializer=self.bias_initializer,
                                        regularizer=self.bias_regularizer, constraint=self.bias_constraint)  # fmt: skip

    def get_config(self):
        config = {
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            **kernel_bias_config(self),
        }
        return {**super().get_config(), **config}


class LocallyConnected1D(_LocallyConnected):
    """A 1-D convolution with a separate kernel at every output step ('valid' padding only).

    Args:
        filters: number of output channels.
        kernel_size: the window length (int or tuple of 1).
        strides: the step between windows (int or tuple of 1).
        padding: only 'valid'.
        data_format: accepted for symmetry; inputs are always `(batch, steps, channels)`.
        activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
        bias_regularizer, activity_regularizer, kernel_constraint, bias_constraint: as `Dense`.

    Weights:
        `kernel` of shape `(new_steps, kernel_size * channels, filters)` (features ordered
        step-major), then `bias` of shape `(new_steps, filters)`.

    Example:
        ```python
        model.add(LocallyConnected1D(64, 3, input_shape=(10, 32)))
        # model.output_shape == (None, 8, 64)
        ```
    """

    _rank = 1

    def __init__(self, filters, kernel_size, **kwargs):
        input_dim, input_length = kwargs.pop("input_dim", None), kwargs.pop("input_length", None)
        if input_dim and "input_shape" not in kwargs and "batch_input_shape" not in kwargs:
            kwargs["input_shape"] = (input_length, input_dim)
        super().__init__(filters, kernel_size, **kwargs)

    def build(self, input_shape):
        steps, channels = input_shape[1], input_shape[2]
        if steps is None or channels is None:
            raise ValueError(
                f"Layer {self.name}: LocallyConnected1D needs the steps and channels of its input "
                f"to be known, got input shape {tuple(input_shape)}"
            )
        length = _output_length(steps, self.kernel_size[0], self.strides[0])
        if length <= 0:
            raise ValueError(
                f"Layer {self.name}: kernel_size {self.kernel_size[0]} is larger than the {steps} input steps"
            )
        self._add_weights(
            (length, self.kernel_size[0] * channels, self.filters), (length, self.filters)
        )
        self.input_spec = InputSpec(ndim=3, axes={2: channels})
        self.built = True

    def compute_output_shape(self, input_shape):
        return (
            input_shape[0],
            _output_length(input_shape[1], self.kernel_size[0], self.strides[0]),
            self.filters,
        )

    def call(self, inputs, **kwargs):
        length = self.kernel_shape[0]
        k, s = self.kernel_size[0], self.strides[0]
        index = np.arange(length)[:, None] * s + np.arange(k)[None, :]
        patches = _unfold(B.transpose(inputs, (1, 0, 2)), index, "kc")
        output = B.transpose(B.matmul(patches, self.kernel), (1, 0, 2))
        if self.use_bias:
            output = output + self.bias
        return self.activation(output)


class LocallyConnected2D(_LocallyConnected):
    """A 2-D convolution with a separate kernel at every output position ('valid' padding only).

    Args:
        filters: number of output channels.
        kernel_size: the window (int or tuple of 2).
        strides: the steps between windows (int or tuple of 2).
        padding: only 'valid'.
        data_format: 'channels_last' (default `image_data_format()`) or 'channels_first'.
        activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
        bias_regularizer, activity_regularizer, kernel_constraint, bias_constraint: as `Dense`.

    Weights:
        `kernel` of shape `(out_rows * out_cols, kh * kw * channels, filters)` (features
        ordered (kh, kw, channels) for channels_last, (channels, kh, kw) for channels_first),
        then `bias` of shape `(out_rows, out_cols, filters)`. With channels_first the bias is
        reshaped (not transposed) to `(filters, out_rows, out_cols)`, as Keras does.
    """

    _rank = 2

    def _spatial(self, input_shape):
        if self.data_format == "channels_first":
            return input_shape[2], input_shape[3], input_shape[1]
        return input_shape[1], input_shape[2], input_shape[3]

    def build(self, input_shape):
        rows, cols, channels = self._spatial(input_shape)
        if rows is None or cols is None or channels is None:
            raise ValueError(
                f"Layer {self.name}: the spatial dimensions and channels of the input to a "
                f"LocallyConnected2D layer should be fully defined, but the layer received the "
                f"input shape {tuple(input_shape)}"
            )
        out_rows, out_cols = (
            _output_length(n, k, s)
            for n, k, s in zip((rows, cols), self.kernel_size, self.strides, strict=True)
        )
        if out_rows <= 0 or out_cols <= 0:
            raise ValueError(
                f"Layer {self.name}: kernel_size {self.kernel_size} is larger than the input {(rows, cols)}"
            )
        self.output_row, self.output_col = out_rows, out_cols
        kh, kw = self.kernel_size
        self._add_weights(
            (out_rows * out_cols, kh * kw * channels, self.filters),
            (out_rows, out_cols, self.filters),
        )
        axis = 1 if self.data_format == "channels_first" else -1
        self.input_spec = InputSpec(ndim=4, axes={axis: channels})
        self.built = True

    def compute_output_shape(self, input_shape):
        rows, cols, _ = self._spatial(input_shape)
        out = tuple(
            _output_length(n, k, s)
            for n, k, s in zip((rows, cols), self.kernel_size, self.strides, strict=True)
        )
        if self.data_format == "channels_first":
            return (input_shape[0], self.filters) + out
        return (input_shape[0],) + out + (self.filters,)

    def call(self, inputs, **kwargs):
        rows, cols, channels = self._spatial(K.int_shape(inputs))
        (kh, kw), (sr, sc) = self.kernel_size, self.strides
        index = np.asarray([
            [(i * sr + a) * cols + (j * sc + b) for a in range(kh) for b in range(kw)]
            for i, j in itertools.product(range(self.output_row), range(self.output_col))
        ])  # fmt: skip
        first = self.data_format == "channels_first"
        positions = B.transpose(inputs, (2, 3, 0, 1) if first else (1, 2, 0, 3))
        positions = B.reshape(positions, [rows * cols, -1, channels])
        output = B.matmul(_unfold(positions, index, "ck" if first else "kc"), self.kernel)
        output = B.reshape(output, [self.output_row, self.output_col, -1, self.filters])
        output = B.transpose(output, (2, 3, 0, 1) if first else (2, 0, 1, 3))
        if self.use_bias:
            bias = self.bias
            if first:
                bias = K.reshape(bias, (1, self.filters, self.output_row, self.output_col))
            output = output + bias
        return self.activation(output)

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}
