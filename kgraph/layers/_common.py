"""Config entries shared by the layers with an activation, a kernel and a bias."""

from __future__ import annotations

from typing import Any

from kgraph import activations, constraints, initializers, regularizers

__all__ = ["kernel_bias_config", "set_kernel_bias_args"]


def kernel_bias_config(layer: Any) -> dict[str, Any]:
    """`activation`, `use_bias` and the kernel/bias initializer, regularizer and constraint
    entries, in the order Keras 2.0.5 writes them (Dense, the convolutions, ...)."""
    return {
        "activation": activations.serialize(layer.activation),
        "use_bias": layer.use_bias,
        "kernel_initializer": initializers.serialize(layer.kernel_initializer),
        "bias_initializer": initializers.serialize(layer.bias_initializer),
        "kernel_regularizer": regularizers.serialize(layer.kernel_regularizer),
        "bias_regularizer": regularizers.serialize(layer.bias_regularizer),
        "activity_regularizer": regularizers.serialize(layer.activity_regularizer),
        "kernel_constraint": constraints.serialize(layer.kernel_constraint),
        "bias_constraint": constraints.serialize(layer.bias_constraint),
    }


def set_kernel_bias_args(layer: Any, activation, use_bias, kernel_initializer, bias_initializer,
                         kernel_regularizer, bias_regularizer, activity_regularizer,
                         kernel_constraint, bias_constraint) -> None:  # fmt: skip
    """Resolves and stores the constructor arguments that `kernel_bias_config` writes back."""
    layer.activation = activations.get(activation)
    layer.use_bias = use_bias
    layer.kernel_initializer = initializers.get(kernel_initializer)
    layer.bias_initializer = initializers.get(bias_initializer)
    layer.kernel_regularizer = regularizers.get(kernel_regularizer)
    layer.bias_regularizer = regularizers.get(bias_regularizer)
    layer.activity_regularizer = regularizers.get(activity_regularizer)
    layer.kernel_constraint = constraints.get(kernel_constraint)
    layer.bias_constraint = constraints.get(bias_constraint)
