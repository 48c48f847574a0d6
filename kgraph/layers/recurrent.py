"""Recurrent layers: SimpleRNN, GRU and LSTM, with Keras 2.0.5's weights and equations.

Each call is one `KerasRNN` op over the whole sequence: training lowers it to a forward
`Scan` that keeps the gate activations and a reverse `Scan` for the gradients (the weight
gradients are large GEMMs outside the loops); prediction and export use ONNX's own
`RNN`/`GRU`/`LSTM` operators wherever the semantics allow (no mask, no dropout).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kgraph import activations, constraints, initializers, regularizers
from kgraph.ir import Tensor
from kgraph.ir.ops.rnn import GATES
from kgraph.layers._recurrent_base import Recurrent

__all__ = ["Recurrent", "SimpleRNN", "GRU", "LSTM"]


class _Cell(Recurrent):
    """The arguments and weights every cell shares: `kernel` (input_dim, gates*units),
    `recurrent_kernel` (units, gates*units) and `bias` (gates*units,)."""

    _has_recurrent_activation = True

    def __init__(self, units, activation="tanh", recurrent_activation="hard_sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 recurrent_constraint=None, bias_constraint=None, dropout=0.0, recurrent_dropout=0.0,
                 **kwargs):  # fmt: skip
        super().__init__(**kwargs)
        if int(units) <= 0:
            raise ValueError(
                f"{type(self).__name__} units must be a positive integer, got {units!r}"
            )
        self.units = int(units)
        self.activation = activations.get(activation)
        if self._has_recurrent_activation:
            self.recurrent_activation = activations.get(recurrent_activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = regularizers.get(recurrent_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.activity_regularizer = regularizers.get(activity_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.recurrent_constraint = constraints.get(recurrent_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.dropout = min(1.0, max(0.0, float(dropout)))
        self.recurrent_dropout = min(1.0, max(0.0, float(recurrent_dropout)))
        # Check the activations now, not at the first call.
        self._op_attrs()

    def _bias_shape(self) -> tuple[int, ...]:
        return (GATES[self._cell] * self.units,)

    def _bias_initializer(self) -> Any:
        return self.bias_initializer

    def build_cell(self, input_dim: int) -> None:
        width = GATES[self._cell] * self.units
        self.kernel = self.add_weight("kernel", (input_dim, width), initializer=self.kernel_initializer,
                                      regularizer=self.kernel_regularizer, constraint=self.kernel_constraint)  # fmt: skip
        self.recurrent_kernel = self.add_weight(
            "recurrent_kernel", (self.units, width), initializer=self.recurrent_initializer,
            regularizer=self.recurrent_regularizer, constraint=self.recurrent_constraint,
        )  # fmt: skip
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight("bias", self._bias_shape(), initializer=self._bias_initializer(),
                                        regularizer=self.bias_regularizer, constraint=self.bias_constraint)  # fmt: skip

    def get_config(self) -> dict:
        config: dict[str, Any] = {
            "units": self.units,
            "activation": activations.serialize(self.activation),
        }
        if self._has_recurrent_activation:
            config["recurrent_activation"] = activations.serialize(self.recurrent_activation)
        config["use_bias"] = self.use_bias
        for key in ("kernel_initializer", "recurrent_initializer", "bias_initializer"):
            config[key] = initializers.serialize(getattr(self, key))
        config.update(self._extra_config())
        for key in (
            "kernel_regularizer",
            "recurrent_regularizer",
            "bias_regularizer",
            "activity_regularizer",
        ):
            config[key] = regularizers.serialize(getattr(self, key))
        for key in ("kernel_constraint", "recurrent_constraint", "bias_constraint"):
            config[key] = constraints.serialize(getattr(self, key))
        config.update(dropout=self.dropout, recurrent_dropout=self.recurrent_dropout)
        return {**super().get_config(), **config}

    def _extra_config(self) -> dict:
        return {}


class SimpleRNN(_Cell):
    """Fully-connected RNN: `h_t = activation(x_t·W + b + h_{t-1}·U)`.

    Weights: `kernel` (input_dim, units), `recurrent_kernel` (units, units), `bias` (units,).

    Example:
        ```python
        model = Sequential()
        model.add(SimpleRNN(32, input_shape=(10, 8)))   # -> (batch, 32)
        ```
    """

    _cell = "simple"
    _has_recurrent_activation = False

    def __init__(self, units, activation="tanh", use_bias=True, **kwargs):
        kwargs.pop("recurrent_activation", None)
        super().__init__(units=units, activation=activation, use_bias=use_bias, **kwargs)


class GRU(_Cell):
    """Gated Recurrent Unit (Cho et al., 2014), gates z, r, h in the kernels' columns.

    Keras 2.0.5's form applies the reset gate before the recurrent product:
    `hh = act(x·W_h + b_h + (r * h_{t-1})·U_h)`, `h_t = z * h_{t-1} + (1 - z) * hh`.
    `reset_after=True` is tf-keras's (and cuDNN's) form, `hh = act(x·W_h + b_h +
    r * (h_{t-1}·U_h + rb_h))`, with a bias of shape (2, 3 * units): the input and the
    recurrent biases.

    Example:
        ```python
        x = Input(shape=(None, 16))
        y = GRU(8, return_sequences=True)(x)   # -> (batch, timesteps, 8)
        ```
    """

    _cell = "gru"

    def __init__(self, units, activation="tanh", recurrent_activation="hard_sigmoid", reset_after=False,
                 **kwargs):  # fmt: skip
        self.reset_after = bool(reset_after)
        super().__init__(units=units, activation=activation, recurrent_activation=recurrent_activation, **kwargs)

    def _bias_shape(self) -> tuple[int, ...]:
        width = 3 * self.units
        return (2, width) if self.reset_after else (width,)

    def _biases(self, g, dtype) -> dict[str, Tensor]:
        if not (self.reset_after and self.use_bias):
            return super()._biases(g, dtype)
        bias = g.read(self.bias)
        return {"b": bias[0], "rb": bias[1]}

    def _extra_config(self) -> dict:
        # Always written: tf-keras defaults to `reset_after=True`, so a config without the
        # key would build the other GRU there (and refuse this layer's weights).
        return {"reset_after": self.reset_after}


class LSTM(_Cell):
    """Long Short-Term Memory (Hochreiter & Schmidhuber, 1997), gates i, f, c, o.

    `c_t = f * c_{t-1} + i * act(x·W_c + b_c + h_{t-1}·U_c)`, `h_t = o * act(c_t)`; the
    states are `[h, c]`. With `unit_forget_bias` the bias starts at 1 on the forget gate.

    Example:
        ```python
        model = Sequential()
        model.add(Embedding(20000, 128))
        model.add(LSTM(128, dropout=0.2, recurrent_dropout=0.2))
        model.add(Dense(1, activation='sigmoid'))
        ```
    """

    _cell = "lstm"
    _n_states = 2

    def __init__(self, units, activation="tanh", recurrent_activation="hard_sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", unit_forget_bias=True, **kwargs):  # fmt: skip
        self.unit_forget_bias = bool(unit_forget_bias)
        super().__init__(units=units, activation=activation, recurrent_activation=recurrent_activation,
                         use_bias=use_bias, kernel_initializer=kernel_initializer,
                         recurrent_initializer=recurrent_initializer, bias_initializer=bias_initializer,
                         **kwargs)  # fmt: skip

    def _bias_initializer(self) -> Any:
        if not self.unit_forget_bias:
            return self.bias_initializer
        init, units = self.bias_initializer, self.units

        def forget_bias_one(shape, dtype=None):
            parts = [
                init((units,), dtype=dtype),
                np.ones((units,)),
                init((2 * units,), dtype=dtype),
            ]
            return np.concatenate([np.asarray(p, dtype=dtype) for p in parts])

        return forget_bias_one

    def _extra_config(self) -> dict:
        return {"unit_forget_bias": self.unit_forget_bias}
