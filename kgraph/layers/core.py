"""Core layers: Dense, Activation, Dropout, Flatten."""

from __future__ import annotations

import numpy as np

from kgraph import activations
from kgraph import backend as K
from kgraph.engine.topology import InputSpec, Layer
from kgraph.layers._common import kernel_bias_config, set_kernel_bias_args

__all__ = ["Dense", "Activation", "Dropout", "Flatten"]


class Dense(Layer):
    """`output = activation(dot(input, kernel) + bias)`, contracting the last axis.

    Weights: `kernel` (input_dim, units), then `bias` (units,) when `use_bias`.

    Example:
        ```python
        model = Sequential()
        model.add(Dense(32, input_shape=(16,)))
        ```
    """

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None, **kwargs):  # fmt: skip
        if "input_shape" not in kwargs and "input_dim" in kwargs:
            kwargs["input_shape"] = (kwargs.pop("input_dim"),)
        super().__init__(**kwargs)
        if int(units) <= 0:
            raise ValueError(f"Dense units must be a positive integer, got {units!r}")
        self.units = int(units)
        set_kernel_bias_args(self, activation, use_bias, kernel_initializer, bias_initializer,
                             kernel_regularizer, bias_regularizer, activity_regularizer,
                             kernel_constraint, bias_constraint)  # fmt: skip
        self.input_spec = InputSpec(min_ndim=2)
        self.supports_masking = True

    def build(self, input_shape):
        input_dim = input_shape[-1]
        if input_dim is None:
            raise ValueError(f"Layer {self.name}: the last dimension of the input must be known, got {input_shape}")
        self.kernel = self.add_weight("kernel", (input_dim, self.units), initializer=self.kernel_initializer,
                                      regularizer=self.kernel_regularizer, constraint=self.kernel_constraint)  # fmt: skip
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight("bias", (self.units,), initializer=self.bias_initializer,
                                        regularizer=self.bias_regularizer, constraint=self.bias_constraint)  # fmt: skip
        self.input_spec = InputSpec(min_ndim=2, axes={-1: input_dim})
        self.built = True

    def call(self, inputs, **kwargs):
        output = K.dot(inputs, self.kernel)
        if self.use_bias:
            output = output + self.bias
        return self.activation(output)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        config = {
            "units": self.units,
            **kernel_bias_config(self),
        }
        return {**super().get_config(), **config}


class Activation(Layer):
    """Applies an activation function (by name or callable) to its input."""

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True
        self.activation = activations.get(activation)

    def call(self, inputs, **kwargs):
        return self.activation(inputs)

    def get_config(self):
        return {**super().get_config(), "activation": activations.serialize(self.activation)}


class Dropout(Layer):
    """Zeros a fraction `rate` of the inputs during training (scaling the rest by
    1/(1-rate)); the identity in inference. Masks are reproducible for a given `seed`."""

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        if "p" in kwargs:
            rate = kwargs.pop("p")
        super().__init__(**kwargs)
        self.rate = min(1.0, max(0.0, float(rate)))
        self.noise_shape = noise_shape
        self.seed = int(np.random.randint(10_000_000)) if seed is None else int(seed)
        self.supports_masking = True

    def call(self, inputs, training=None, **kwargs):
        if 0.0 < self.rate < 1.0:
            self.uses_learning_phase = True
            return K.in_train_phase(
                lambda: K.dropout(inputs, self.rate, self.noise_shape, seed=self.seed),
                inputs,
                training=training,
            )
        return inputs

    def get_config(self):
        return {**super().get_config(), "rate": self.rate}


class Flatten(Layer):
    """Flattens every axis but the batch axis; all of them must be known."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.input_spec = InputSpec(min_ndim=3)

    def compute_output_shape(self, input_shape):
        if any(d is None for d in input_shape[1:]):
            raise ValueError(
                f'The shape of the input to "Flatten" (layer {self.name}) is not fully defined '
                f"(got {tuple(input_shape[1:])}). Make sure to pass a complete `input_shape` or "
                "`batch_input_shape` argument to the first layer in your model."
            )
        return (input_shape[0], int(np.prod(input_shape[1:])))

    def call(self, inputs, **kwargs):
        self.compute_output_shape(K.int_shape(inputs))
        return K.batch_flatten(inputs)
