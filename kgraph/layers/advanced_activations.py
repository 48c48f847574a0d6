"""Activations with parameters, as layers: LeakyReLU, PReLU, ELU, ThresholdedReLU."""

from __future__ import annotations

from kgraph import backend as K
from kgraph import constraints, initializers, regularizers
from kgraph.engine.topology import InputSpec, Layer

__all__ = ["LeakyReLU", "PReLU", "ELU", "ThresholdedReLU"]


class LeakyReLU(Layer):
    """`x` for `x >= 0`, `alpha * x` otherwise.

    Args:
        alpha: the slope for negative inputs (float >= 0).

    Example:
        ```python
        model.add(Dense(64, input_dim=16))
        model.add(LeakyReLU(alpha=0.1))
        ```
    """

    def __init__(self, alpha=0.3, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True
        self.alpha = K.cast_to_floatx(alpha).item()

    def call(self, inputs, **kwargs):
        return K.relu(inputs, alpha=self.alpha)

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha}


class PReLU(Layer):
    """Parametric ReLU: `relu(x) - alpha * relu(-x)` with a learned `alpha` per input position.

    Args:
        alpha_initializer: initializer of the weights (default zeros, a plain ReLU).
        alpha_regularizer: regularizer of the weights.
        alpha_constraint: constraint on the weights.
        shared_axes: the input axes (1-based; the batch axis is 0) along which one `alpha`
            is shared, e.g. `[1, 2]` for one slope per channel of `(batch, h, w, c)` maps.

    Weights:
        `alpha` of shape `input_shape[1:]` with every shared axis of size 1.

    Raises:
        ValueError: a shared axis outside `1 .. ndim-1`, or an unshared axis of unknown size.
    """

    def __init__(self, alpha_initializer="zeros", alpha_regularizer=None, alpha_constraint=None,
                 shared_axes=None, **kwargs):  # fmt: skip
        if "init" in kwargs:
            alpha_initializer = kwargs.pop("init")
        super().__init__(**kwargs)
        self.supports_masking = True
        self.alpha_initializer = initializers.get(alpha_initializer)
        self.alpha_regularizer = regularizers.get(alpha_regularizer)
        self.alpha_constraint = constraints.get(alpha_constraint)
        if shared_axes is None:
            self.shared_axes = None
        elif not isinstance(shared_axes, (list, tuple)):
            self.shared_axes = [shared_axes]
        else:
            self.shared_axes = list(shared_axes)
        for axis in self.shared_axes or []:
            if isinstance(axis, bool) or not isinstance(axis, int):
                raise ValueError(
                    f"Layer {self.name}: shared_axes must be integers, got {shared_axes!r}"
                )

    def build(self, input_shape):
        ndim = len(input_shape)
        param_shape = list(input_shape[1:])
        for axis in self.shared_axes or []:
            if not 1 <= axis < ndim:
                raise ValueError(
                    f"Layer {self.name}: shared_axes {self.shared_axes} must lie in 1..{ndim - 1} "
                    f"(the batch axis 0 cannot be shared) for an input of shape {tuple(input_shape)}; "
                    f"got axis {axis}"
                )
            param_shape[axis - 1] = 1
        unknown = [i + 1 for i, d in enumerate(param_shape) if d is None]
        if unknown:
            raise ValueError(
                f"Layer {self.name}: axes {unknown} of the input shape {tuple(input_shape)} are "
                "unknown; PReLU needs their sizes for its `alpha` weights (or list them in shared_axes)"
            )
        self.alpha = self.add_weight("alpha", param_shape, initializer=self.alpha_initializer,
                                     regularizer=self.alpha_regularizer, constraint=self.alpha_constraint)  # fmt: skip
        axes = {}
        if self.shared_axes:
            axes = {i: input_shape[i] for i in range(1, ndim) if i not in self.shared_axes}
        self.input_spec = InputSpec(ndim=ndim, axes=axes)
        self.built = True

    def call(self, inputs, mask=None, **kwargs):
        return K.relu(inputs) - K.relu(-inputs) * self.alpha

    def get_config(self):
        config = {
            "alpha_initializer": initializers.serialize(self.alpha_initializer),
            "alpha_regularizer": regularizers.serialize(self.alpha_regularizer),
            "alpha_constraint": constraints.serialize(self.alpha_constraint),
            "shared_axes": self.shared_axes,
        }
        return {**super().get_config(), **config}


class ELU(Layer):
    """Exponential linear unit: `x` for `x > 0`, `alpha * (exp(x) - 1)` otherwise.

    Args:
        alpha: the scale of the negative part.
    """

    def __init__(self, alpha=1.0, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True
        self.alpha = K.cast_to_floatx(alpha).item()

    def call(self, inputs, **kwargs):
        return K.elu(inputs, self.alpha)

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha}


class ThresholdedReLU(Layer):
    """`x` where `x > theta`, 0 elsewhere.

    Args:
        theta: the threshold (float >= 0).
    """

    def __init__(self, theta=1.0, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True
        self.theta = K.cast_to_floatx(theta).item()

    def call(self, inputs, **kwargs):
        return inputs * K.cast(K.greater(inputs, self.theta), K.floatx())

    def get_config(self):
        return {**super().get_config(), "theta": self.theta}
