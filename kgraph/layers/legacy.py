"""Keras 2.0.5's deprecated dense layers: MaxoutDense and Highway (`keras/legacy/layers.py`).

Both keep their Keras 1 argument names and config keys (`init`, `W_regularizer`, `bias`,
...), their weight names (`W`, `b`, `W_carry`, `b_carry`) and warn when constructed, as
Keras 2.0.5 does. Their computation is made of backend ops, so gradients need nothing new.
"""

from __future__ import annotations

import warnings
from typing import Any

from kgraph import activations, constraints, initializers, regularizers
from kgraph import backend as K
from kgraph.engine.topology import InputSpec, Layer

__all__ = ["MaxoutDense", "Highway"]


class _LegacyDense(Layer):
    """The arguments MaxoutDense and Highway share: `init`, the W/b regularizers and
    constraints, `bias` and the `input_dim` shortcut for `input_shape=(input_dim,)`."""

    def __init__(self, init, weights, W_regularizer, b_regularizer, activity_regularizer,
                 W_constraint, b_constraint, bias, input_dim, **kwargs: Any) -> None:  # fmt: skip
        warnings.warn(
            f"The `{type(self).__name__}` layer is deprecated and will be removed after 06/2017.",
            UserWarning,
            stacklevel=3,
        )
        self.input_dim = input_dim
        if input_dim:
            kwargs["input_shape"] = (input_dim,)
        super().__init__(weights=weights, **kwargs)
        self.init = initializers.get(init)
        self.W_regularizer = regularizers.get(W_regularizer)
        self.b_regularizer = regularizers.get(b_regularizer)
        self.activity_regularizer = regularizers.get(activity_regularizer)
        self.W_constraint = constraints.get(W_constraint)
        self.b_constraint = constraints.get(b_constraint)
        self.bias = bias
        self.input_spec = InputSpec(ndim=2)

    def _input_dim(self, input_shape: Any) -> int:
        if len(input_shape) != 2 or input_shape[1] is None:
            raise ValueError(
                f"Layer {self.name} ({type(self).__name__}) expects a 2D input (batch, features) "
                f"with a known feature dimension, got input shape {tuple(input_shape)}"
            )
        input_dim = int(input_shape[1])
        self.input_spec = InputSpec(ndim=2, axes={-1: input_dim})
        return input_dim

    def _legacy_config(self) -> dict[str, Any]:
        return {
            "W_regularizer": regularizers.serialize(self.W_regularizer),
            "b_regularizer": regularizers.serialize(self.b_regularizer),
            "activity_regularizer": regularizers.serialize(self.activity_regularizer),
            "W_constraint": constraints.serialize(self.W_constraint),
            "b_constraint": constraints.serialize(self.b_constraint),
            "bias": self.bias,
            "input_dim": self.input_dim,
        }


class MaxoutDense(_LegacyDense):
    """A dense maxout layer: the element-wise maximum of `nb_feature` linear layers,
    `output = max_k(dot(x, W[k]) + b[k])`. It is linear piecewise; add an `Activation`
    after it if one is wanted. Deprecated in Keras 2.0.5 (warns when constructed).

    Weights: `W` (nb_feature, input_dim, output_dim), then `b` (nb_feature, output_dim)
    when `bias`.

    Args:
        output_dim: int > 0, the output size.
        nb_feature: int > 0, how many linear layers the maximum is taken over.
        init: initializer of `W` (`b` starts at zero).
        weights: initial weight arrays, set when the layer is built.
        W_regularizer, b_regularizer, activity_regularizer: regularizers.
        W_constraint, b_constraint: constraints.
        bias: whether to add `b`.
        input_dim: the input size, a shortcut for `input_shape=(input_dim,)`.

    Example:
        ```python
        model = Sequential()
        model.add(MaxoutDense(8, nb_feature=3, input_dim=16))   # (None, 8)
        ```
    """

    def __init__(self, output_dim, nb_feature=4, init="glorot_uniform", weights=None,
                 W_regularizer=None, b_regularizer=None, activity_regularizer=None,
                 W_constraint=None, b_constraint=None, bias=True, input_dim=None, **kwargs):  # fmt: skip
        super().__init__(init, weights, W_regularizer, b_regularizer, activity_regularizer,
                         W_constraint, b_constraint, bias, input_dim, **kwargs)  # fmt: skip
        for arg, value in (("output_dim", output_dim), ("nb_feature", nb_feature)):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(
                    f"Layer {self.name} (MaxoutDense): `{arg}` must be a positive integer, got {value!r}"
                )
        self.output_dim = output_dim
        self.nb_feature = nb_feature

    def build(self, input_shape):
        input_dim = self._input_dim(input_shape)
        self.W = self.add_weight("W", (self.nb_feature, input_dim, self.output_dim), initializer=self.init,
                                 regularizer=self.W_regularizer, constraint=self.W_constraint)  # fmt: skip
        self.b = None
        if self.bias:
            self.b = self.add_weight("b", (self.nb_feature, self.output_dim), initializer="zeros",
                                     regularizer=self.b_regularizer, constraint=self.b_constraint)  # fmt: skip
        self.built = True

    def call(self, inputs, **kwargs):
        output = K.dot(inputs, self.W)  # (batch, nb_feature, output_dim)
        if self.b is not None:
            output = output + self.b
        return K.max(output, axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.output_dim)

    def get_config(self):
        config = {
            "output_dim": self.output_dim,
            "init": initializers.serialize(self.init),
            "nb_feature": self.nb_feature,
            **self._legacy_config(),
        }
        return {**super().get_config(), **config}


class Highway(_LegacyDense):
    """A densely connected highway layer: with the transform gate
    `t = sigmoid(dot(x, W_carry) + b_carry)`, `output = activation(dot(x, W) + b) * t +
    (1 - t) * x`. Input and output have the same size. Deprecated in Keras 2.0.5 (warns
    when constructed).

    Weights: `W` (d, d), `W_carry` (d, d), then `b` (d,) and `b_carry` (d,) when `bias`.
    `b` starts at zero and `b_carry` at one; the regularizers and constraints apply to
    `W` and `b` only.

    Args:
        init: initializer of `W` and `W_carry`.
        activation: activation of the transformed branch (None: linear).
        weights: initial weight arrays, set when the layer is built.
        W_regularizer, b_regularizer, activity_regularizer: regularizers.
        W_constraint, b_constraint: constraints.
        bias: whether to add `b` and `b_carry`.
        input_dim: the input size, a shortcut for `input_shape=(input_dim,)`.

    Example:
        ```python
        model = Sequential()
        model.add(Highway(activation='relu', input_dim=16))   # (None, 16)
        ```
    """

    def __init__(self, init="glorot_uniform", activation=None, weights=None, W_regularizer=None,
                 b_regularizer=None, activity_regularizer=None, W_constraint=None,
                 b_constraint=None, bias=True, input_dim=None, **kwargs):  # fmt: skip
        if "transform_bias" in kwargs:
            kwargs.pop("transform_bias")
            warnings.warn(
                "`transform_bias` argument is deprecated and has been removed.",
                UserWarning,
                stacklevel=2,
            )
        super().__init__(init, weights, W_regularizer, b_regularizer, activity_regularizer,
                         W_constraint, b_constraint, bias, input_dim, **kwargs)  # fmt: skip
        self.activation = activations.get(activation)

    def build(self, input_shape):
        d = self._input_dim(input_shape)
        self.W = self.add_weight("W", (d, d), initializer=self.init,
                                 regularizer=self.W_regularizer, constraint=self.W_constraint)  # fmt: skip
        self.W_carry = self.add_weight("W_carry", (d, d), initializer=self.init)
        self.b = self.b_carry = None
        if self.bias:
            self.b = self.add_weight("b", (d,), initializer="zeros",
                                     regularizer=self.b_regularizer, constraint=self.b_constraint)  # fmt: skip
            self.b_carry = self.add_weight("b_carry", (d,), initializer="ones")
        self.built = True

    def call(self, inputs, **kwargs):
        gate = K.dot(inputs, self.W_carry)
        transformed = K.dot(inputs, self.W)
        if self.bias:
            gate = gate + self.b_carry
            transformed = transformed + self.b
        t = K.sigmoid(gate)
        return self.activation(transformed) * t + (1.0 - t) * inputs

    def get_config(self):
        config = {
            "init": initializers.serialize(self.init),
            "activation": activations.serialize(self.activation),
            **self._legacy_config(),
        }
        return {**super().get_config(), **config}
