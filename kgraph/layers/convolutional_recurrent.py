"""Convolutional recurrent layers: Keras 2.0.5's `ConvLSTM2D`.

The recurrence is one `KerasRNN` op with a convolutional cell, like the dense recurrent
layers: the input convolutions of every step run first as a single Conv over time * batch
frames, then a Scan runs the recurrent 'same' convolutions step by step (a reverse Scan in
training, with the recurrent kernel's gradient as one convolution over all steps). So any
number of timesteps works, `input_shape=(None, rows, cols, channels)` included. The
stateful plumbing and the dropout masks (drawn once per batch from the in-graph hash and
shared by every step) come from `Recurrent`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kgraph import activations, constraints, initializers, regularizers
from kgraph import backend as K
from kgraph.backend._conv import convolve
from kgraph.engine.topology import InputSpec
from kgraph.ir import Tensor
from kgraph.ir import build as B
from kgraph.ir.ops.rnn import fwd_inputs, fwd_outputs
from kgraph.layers._common import kernel_bias_config, set_kernel_bias_args
from kgraph.layers._recurrent_base import Recurrent, activation_name
from kgraph.layers._spatial import checked
from kgraph.utils import conv_utils

__all__ = ["ConvLSTM2D"]

_GATES = 4  # i, f, c, o


class ConvLSTM2D(Recurrent):
    """Convolutional LSTM (Shi et al., 2015): an LSTM whose input and recurrent
    transformations are 2D convolutions.

    `i = ra(x*W_i + h*U_i + b_i)`, `f = ra(x*W_f + h*U_f + b_f)`,
    `c = f * c_{t-1} + i * act(x*W_c + h*U_c + b_c)`, `o = ra(x*W_o + h*U_o + b_o)`,
    `h = o * act(c)`, where `x*W` convolves with the layer's `strides`, `padding` and
    `dilation_rate`, and `h*U` with 'same' padding and stride 1.

    Args:
        filters: the number of output channels (per gate).
        kernel_size: an int or 2 ints, shared by the input and the recurrent kernels.
        strides: the strides of the input convolution.
        padding: 'valid' or 'same' (input convolution).
        data_format: 'channels_last' (inputs `(batch, time, rows, cols, channels)`) or
            'channels_first' (`(batch, time, channels, rows, cols)`); None means
            `K.image_data_format()`.
        dilation_rate: the dilation of the input convolution.
        activation, recurrent_activation: the cell and gate activations.
        use_bias: whether the layer has a bias.
        kernel_initializer, recurrent_initializer, bias_initializer: initializers.
        unit_forget_bias: start the bias at zeros with ones on the forget gate; as in
            Keras 2.0.5 this replaces `bias_initializer`'s values.
        kernel_regularizer, recurrent_regularizer, bias_regularizer, activity_regularizer,
        kernel_constraint, recurrent_constraint, bias_constraint: as in `LSTM`.
        return_sequences, go_backwards, stateful: as in `Recurrent`.
        dropout, recurrent_dropout: the fraction of input (implementation 0 only, as in
            Keras 2.0.5) and state elements dropped, one mask per gate per batch.

    Weights: `kernel` (kh, kw, channels, 4 * filters), `recurrent_kernel`
    (kh, kw, filters, 4 * filters), `bias` (4 * filters,); gates in the order i, f, c, o.

    Masks: a (batch, time) mask, or the (batch, time, rows, cols) mask of `Masking`, where
    a timestep counts as masked when its whole frame is; a masked step keeps the previous
    states and outputs the previous `h`.

    Raises:
        ValueError: an input that is not 5-D, an unknown number of timesteps or spatial
            size, or invalid constructor arguments; each names the layer.

    Example:
        ```python
        model = Sequential()
        model.add(ConvLSTM2D(8, (3, 3), padding='same', return_sequences=True,
                             input_shape=(10, 40, 40, 1)))   # -> (batch, 10, 40, 40, 8)
        ```
    """

    _cell = "lstm"
    _n_states = 2

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1), activation="tanh", recurrent_activation="hard_sigmoid",
                 use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros", unit_forget_bias=True,
                 kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, recurrent_constraint=None,
                 bias_constraint=None, return_sequences=False, go_backwards=False, stateful=False,
                 dropout=0.0, recurrent_dropout=0.0, **kwargs):  # fmt: skip
        super().__init__(return_sequences=return_sequences, go_backwards=go_backwards,
                         stateful=stateful, **kwargs)  # fmt: skip
        if int(filters) <= 0:
            raise ValueError(
                f"Layer {self.name}: `filters` must be a positive integer, got {filters!r}"
            )
        self.filters = int(filters)
        self.kernel_size = checked(self, conv_utils.normalize_tuple, kernel_size, 2, "kernel_size")
        self.strides = checked(self, conv_utils.normalize_tuple, strides, 2, "strides")
        self.padding = checked(self, conv_utils.normalize_padding, padding)
        if self.padding not in ("valid", "same"):
            raise ValueError(
                f"Layer {self.name}: padding must be 'valid' or 'same', got {padding!r}"
            )
        self.data_format = checked(self, conv_utils.normalize_data_format, data_format)
        self.dilation_rate = checked(
            self, conv_utils.normalize_tuple, dilation_rate, 2, "dilation_rate"
        )
        set_kernel_bias_args(self, activation, use_bias, kernel_initializer, bias_initializer,
                             kernel_regularizer, bias_regularizer, activity_regularizer,
                             kernel_constraint, bias_constraint)  # fmt: skip
        self.recurrent_activation = activations.get(recurrent_activation)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.recurrent_regularizer = regularizers.get(recurrent_regularizer)
        self.recurrent_constraint = constraints.get(recurrent_constraint)
        self.unit_forget_bias = bool(unit_forget_bias)
        self.dropout = min(1.0, max(0.0, float(dropout)))
        self.recurrent_dropout = min(1.0, max(0.0, float(recurrent_dropout)))
        self.input_spec = InputSpec(ndim=5)
        self._out_dims: tuple[int, ...] | None = None

    # -- shapes ---------------------------------------------------------------------------
    @property
    def _channel_axis(self) -> int:
        """The channel axis of a 5-D input (a frame's is one less)."""
        return 2 if self.data_format == "channels_first" else 4

    def _checked_shape(self, input_shape) -> tuple:
        if isinstance(input_shape, list):
            input_shape = input_shape[0]
        input_shape = tuple(input_shape)
        if len(input_shape) != 5:
            layout = (
                "channels, rows, cols"
                if self.data_format == "channels_first"
                else "rows, cols, channels"
            )
            raise ValueError(
                f"Layer {self.name} expects a 5-D input (batch, timesteps, {layout}) "
                f"({self.data_format}), got shape {input_shape}"
            )
        return input_shape

    def _frame_dims(self, input_shape: tuple) -> tuple:
        """A state's shape (no batch axis) for inputs of `input_shape`."""
        spatial = input_shape[3:] if self.data_format == "channels_first" else input_shape[2:4]
        out = tuple(
            conv_utils.conv_output_length(
                d, self.kernel_size[i], self.padding, self.strides[i], self.dilation_rate[i]
            )
            for i, d in enumerate(spatial)
        )
        if any(d is not None and d < 1 for d in out):
            raise ValueError(
                f"Layer {self.name}: the kernel {self.kernel_size} (dilation_rate "
                f"{self.dilation_rate}) is larger than the input's spatial shape {spatial} with "
                f"padding={self.padding!r}; it would give frames of spatial shape {out}."
            )
        return (
            (self.filters,) + out if self.data_format == "channels_first" else out + (self.filters,)
        )

    def _state_dims(self) -> tuple[int, ...]:
        if self._out_dims is None:
            raise RuntimeError(f"Layer {self.name} has no states yet: call it on an input first.")
        return self._out_dims

    def compute_output_shape(self, input_shape):
        input_shape = self._checked_shape(input_shape)
        batch, frame = input_shape[0], self._frame_dims(input_shape)
        out = (batch, input_shape[1]) + frame if self.return_sequences else (batch,) + frame
        if self.return_state:
            return [out] + [(batch,) + frame] * self._n_states
        return out

    # -- building -------------------------------------------------------------------------
    def build(self, input_shape):
        input_shape = self._checked_shape(input_shape)
        channels = input_shape[self._channel_axis]
        if channels is None:
            raise ValueError(
                f"Layer {self.name}: the channel dimension of the inputs should be defined. "
                f"Found `None` (input shape {input_shape}, data_format={self.data_format!r})."
            )
        frame = self._frame_dims(input_shape)
        if None in frame:
            raise ValueError(
                f"Layer {self.name} needs a known spatial size (rows, cols) to size its states, "
                f"got input shape {input_shape}"
            )
        self._out_dims = tuple(int(d) for d in frame)
        width = _GATES * self.filters
        self.kernel = self.add_weight(
            "kernel", self.kernel_size + (int(channels), width),
            initializer=self.kernel_initializer, regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )  # fmt: skip
        self.recurrent_kernel = self.add_weight(
            "recurrent_kernel", self.kernel_size + (self.filters, width),
            initializer=self.recurrent_initializer, regularizer=self.recurrent_regularizer,
            constraint=self.recurrent_constraint,
        )  # fmt: skip
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                "bias", (width,), initializer=self._bias_initializer(),
                regularizer=self.bias_regularizer, constraint=self.bias_constraint,
            )  # fmt: skip
        self.input_spec = InputSpec(ndim=5, axes={self._channel_axis: int(channels)})
        if self.stateful:
            self._make_state_variables(input_shape[0])
        self.built = True

    def _bias_initializer(self) -> Any:
        if not self.unit_forget_bias:
            return self.bias_initializer
        filters = self.filters

        def forget_bias_one(shape, dtype=None):
            value = np.zeros(shape, dtype=dtype)
            value[filters : 2 * filters] = 1.0
            return value

        return forget_bias_one

    # -- calling --------------------------------------------------------------------------
    def call(self, inputs, mask=None, training=None, initial_state=None):
        # Initial states given to the layer call arrive as extra inputs (see Recurrent).
        x, initial_state = (
            (inputs[0], inputs[1:]) if isinstance(inputs, list) else (inputs, initial_state)
        )
        mask = mask[0] if isinstance(mask, list) else mask
        shape = self._checked_shape(K.int_shape(x))
        if mask is not None:
            if len(K.int_shape(mask)) > 2:  # Masking's per-pixel mask: a step is masked as a whole
                mask = K.any(mask, axis=tuple(range(2, len(K.int_shape(mask)))))
            mask = self._checked_mask(mask, shape)
        states = self._initial_states(x, initial_state)
        seq, final = self._run(x, x, mask, states, training)
        if self.stateful:
            self.add_update(list(zip(self.states, final, strict=True)))
        if not self.return_sequences:
            output = final[0]
        else:
            output = K.reverse(seq, 1) if getattr(self, "_reverse_output", False) else seq
            if self.zero_output_for_mask and mask is not None:
                keep = K.cast(mask, output.dtype)
                output = output * K.reshape(keep, (-1, shape[1], 1, 1, 1))
        return [output] + list(final) if self.return_state else output

    def _mask_count(self) -> int:
        return _GATES  # Keras 2.0.5 draws a mask per gate whatever the implementation

    def _input_dropout(self) -> float:
        return self.dropout if self.implementation == 0 else 0.0  # as Keras 2.0.5

    # -- the recurrence as one KerasRNN op -------------------------------------------------
    def _to_first(self, t: Tensor, lead: int) -> Tensor:
        """Frames after `lead` leading axes, channels-last -> channels-first."""
        if self.data_format == "channels_first":
            return t
        return B.transpose(t, list(range(lead)) + [lead + 2, lead, lead + 1])

    def _from_first(self, t: Tensor, lead: int) -> Tensor:
        if self.data_format == "channels_first":
            return t
        return B.transpose(t, list(range(lead)) + [lead + 1, lead + 2, lead])

    def _frames(self, t: Tensor, lead: int) -> Tensor:
        """(*lead axes, flat) -> (*lead axes, *frame) in the layer's data_format."""
        first = (self.filters,) + self._spatial_out()
        return self._from_first(B.reshape(t, [0] * lead + list(first)), lead)

    def _spatial_out(self) -> tuple[int, int]:
        dims = self._state_dims()
        return tuple(dims[1:]) if self.data_format == "channels_first" else tuple(dims[:2])

    def _flat(self, t: Tensor, lead: int) -> Tensor:
        """(*lead axes, *frame) -> (*lead axes, flat) with the frame channels-first."""
        return B.reshape(self._to_first(t, lead), [0] * lead + [-1])

    def _recurrence(self, x, mask, states, din, drec):
        """One `KerasRNN` op with a convolutional cell over the batch-major `x` and (batch,
        time) `mask`, in the order `go_backwards` asks for: (outputs, [h, c]). The input
        convolutions for every step run first, as one Conv over time * batch frames."""
        g = x.graph
        kernel, recurrent = g.read(self.kernel), g.read(self.recurrent_kernel)
        bias = None if self.bias is None else g.read(self.bias)
        shape = K.int_shape(x)
        frame_in = shape[2:]
        xt = B.transpose(x, [1, 0, 2, 3, 4])  # (time, batch, *frame)
        frames = self._to_first(B.reshape(xt, [-1, *frame_in]), 1)
        if din is None:
            proj = self._input_conv(frames, kernel, bias)
        else:
            masks = self._to_first(din, 2)  # (gates, batch, C, rows, cols)
            first = self._to_first(xt, 2)  # (time, batch, C, rows, cols)
            parts = []
            for gate in range(_GATES):
                dropped = B.reshape(
                    B.mul(first, B.getitem(masks, gate)), [-1, *K.int_shape(first)[2:]]
                )
                block = slice(gate * self.filters, (gate + 1) * self.filters)
                parts.append(self._input_conv(dropped, B.getitem(kernel, (Ellipsis, block)),
                                              None if bias is None else B.getitem(bias, block)))  # fmt: skip
            proj = B.apply1("Concat", *parts, axis=1)
        steps_batch = B.getitem(B.apply1("Shape", xt), slice(0, 2))
        proj = B.reshape(
            proj, B.apply1("Concat", steps_batch, g.constant(np.asarray([-1], np.int64)), axis=0)
        )
        mask_t = None if mask is None else B.transpose(mask, [1, 0])
        if self.go_backwards:
            proj = B.getitem(proj, slice(None, None, -1))
            mask_t = None if mask_t is None else B.getitem(mask_t, slice(None, None, -1))
        rows, cols = self._spatial_out()
        attrs = {"cell": "lstm", "conv": (self.filters, rows, cols, *self.kernel_size), "save": 1,
                 "activation": activation_name(self, self.activation, "activation"),
                 "recurrent_activation": activation_name(self, self.recurrent_activation, "recurrent_activation"),
                 "has_mask": int(mask_t is not None), "n_drec": 0 if drec is None else _GATES}  # fmt: skip
        ins = {"x": proj, "U": B.transpose(recurrent, [3, 2, 0, 1]), "mask": mask_t,
               "h0": self._flat(states[0], 1), "c0": self._flat(states[1], 1),
               "drec": None if drec is None else self._flat(drec, 2)}  # fmt: skip
        outs = dict(
            zip(
                fwd_outputs(attrs),
                B.apply("KerasRNN", [ins[n] for n in fwd_inputs(attrs)], **attrs),
            )
        )
        seq = B.transpose(self._frames(outs["Y"], 2), [1, 0, 2, 3, 4])
        return seq, [self._frames(outs["hT"], 1), self._frames(outs["cT"], 1)]

    def _input_conv(self, frames: Tensor, kernel: Tensor, bias: Tensor | None) -> Tensor:
        """The gates' input convolutions of (frames, C, rows, cols), channels-first out."""
        return convolve(
            frames, kernel, bias, self.strides, self.padding, "channels_first", self.dilation_rate
        )

    def get_config(self) -> dict:
        conv = ("filters", "kernel_size", "strides", "padding", "data_format", "dilation_rate")
        config = {key: getattr(self, key) for key in conv}
        config.update(kernel_bias_config(self))
        config.update(
            recurrent_activation=activations.serialize(self.recurrent_activation),
            recurrent_initializer=initializers.serialize(self.recurrent_initializer),
            unit_forget_bias=self.unit_forget_bias,
            recurrent_regularizer=regularizers.serialize(self.recurrent_regularizer),
            recurrent_constraint=constraints.serialize(self.recurrent_constraint),
            dropout=self.dropout,
            recurrent_dropout=self.recurrent_dropout,
        )
        return {**super().get_config(), **config}
