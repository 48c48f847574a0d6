"""Config entries shared by the layers with an activation, a kernel and a bias."""

from __future__ import annotations

from typing import Any

from kgraph import activations, constraints, initializers, regularizers

__all__ = ["kernel_bias_config"]


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
