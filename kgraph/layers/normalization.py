"""BatchNormalization."""

from __future__ import annotations

from kgraph import backend as K
from kgraph import constraints, initializers, regularizers
from kgraph.engine.topology import InputSpec, Layer

__all__ = ["BatchNormalization"]


class BatchNormalization(Layer):
    """Normalizes the activations of the previous layer per feature of `axis`.

    In training programs the layer uses the statistics of the batch (mean and biased
    variance over every axis but `axis`) and moves its running statistics towards them:
    `moving = moving * momentum + batch * (1 - momentum)`. In inference programs it uses
    the running statistics: `(x - moving_mean) / sqrt(moving_variance + epsilon) * gamma + beta`.

    Args:
        axis: the feature axis (e.g. 1 for `channels_first` images, -1 for `channels_last`).
        momentum: of the moving averages.
        epsilon: added to the variance before the square root.
        center: learn an offset `beta`.
        scale: learn a factor `gamma`.
        beta_initializer, gamma_initializer, moving_mean_initializer,
        moving_variance_initializer: initializers of the four weights.
        beta_regularizer, gamma_regularizer: regularizers of the learned weights.
        beta_constraint, gamma_constraint: constraints on the learned weights.

    Weights (in order): `gamma` (if scale), `beta` (if center), then the non-trainable
    `moving_mean` and `moving_variance`, each of shape `(input_shape[axis],)`.

    Raises:
        ValueError: `axis` out of range for the input, or an input whose `axis` size is unknown.

    Example:
        ```python
        model.add(Dense(64, input_dim=16))
        model.add(BatchNormalization())
        ```
    """

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones", moving_mean_initializer="zeros",
                 moving_variance_initializer="ones", beta_regularizer=None, gamma_regularizer=None,
                 beta_constraint=None, gamma_constraint=None, **kwargs):  # fmt: skip
        mode = kwargs.pop("mode", 0)
        if mode != 0:
            raise TypeError("The `mode` argument of `BatchNormalization` no longer exists. "
                            "`mode=1` and `mode=2` are no longer supported.")  # fmt: skip
        beta_initializer = kwargs.pop("beta_init", beta_initializer)
        gamma_initializer = kwargs.pop("gamma_init", gamma_initializer)
        super().__init__(**kwargs)
        self.supports_masking = True
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise ValueError(f"Layer {self.name}: axis must be an integer, got {axis!r}")
        self.axis = axis
        self.momentum = momentum
        self.epsilon = epsilon
        self.center = center
        self.scale = scale
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)
        self.beta_constraint = constraints.get(beta_constraint)
        self.gamma_constraint = constraints.get(gamma_constraint)

    def build(self, input_shape):
        ndim = len(input_shape)
        if not -ndim <= self.axis < ndim:
            raise ValueError(
                f"Layer {self.name}: axis {self.axis} is out of range for an input of rank {ndim} "
                f"(shape {tuple(input_shape)}); expected an axis in [{-ndim}, {ndim - 1}]"
            )
        dim = input_shape[self.axis]
        if dim is None:
            raise ValueError(
                f"Layer {self.name}: axis {self.axis} of the input should have a defined "
                f"dimension, but the layer received an input with shape {tuple(input_shape)}."
            )
        self.input_spec = InputSpec(ndim=ndim, axes={self.axis: dim})
        shape = (dim,)
        self.gamma = self.beta = None
        if self.scale:
            self.gamma = self.add_weight("gamma", shape, initializer=self.gamma_initializer,
                                         regularizer=self.gamma_regularizer, constraint=self.gamma_constraint)  # fmt: skip
        if self.center:
            self.beta = self.add_weight("beta", shape, initializer=self.beta_initializer,
                                        regularizer=self.beta_regularizer, constraint=self.beta_constraint)  # fmt: skip
        self.moving_mean = self.add_weight("moving_mean", shape, initializer=self.moving_mean_initializer,
                                           trainable=False)  # fmt: skip
        self.moving_variance = self.add_weight("moving_variance", shape,
                                               initializer=self.moving_variance_initializer, trainable=False)  # fmt: skip
        self.built = True

    def call(self, inputs, training=None, **kwargs):
        input_shape = K.int_shape(inputs)
        ndim = len(input_shape)
        axis = self.axis % ndim
        reduction_axes = [i for i in range(ndim) if i != axis]
        broadcast_shape = [1] * ndim
        broadcast_shape[axis] = input_shape[axis]
        needs_broadcasting = reduction_axes != list(range(ndim - 1))

        def param(p):
            if p is None or not needs_broadcasting:
                return p
            return K.reshape(p, broadcast_shape)

        def normalize_inference():
            return K.batch_normalization(inputs, param(self.moving_mean), param(self.moving_variance),
                                         param(self.beta), param(self.gamma), epsilon=self.epsilon)  # fmt: skip

        if isinstance(training, (bool, int)) and not training:
            return normalize_inference()
        normed, mean, variance = K.normalize_batch_in_training(inputs, self.gamma, self.beta, reduction_axes,
                                                               epsilon=self.epsilon)  # fmt: skip
        self.add_update([K.moving_average_update(self.moving_mean, mean, self.momentum),
                         K.moving_average_update(self.moving_variance, variance, self.momentum)], inputs)  # fmt: skip
        self.uses_learning_phase = True
        return K.in_train_phase(normed, normalize_inference, training=training)

    def get_config(self):
        config = {
            "axis": self.axis,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
            "beta_initializer": initializers.serialize(self.beta_initializer),
            "gamma_initializer": initializers.serialize(self.gamma_initializer),
            "moving_mean_initializer": initializers.serialize(self.moving_mean_initializer),
            "moving_variance_initializer": initializers.serialize(self.moving_variance_initializer),
            "beta_regularizer": regularizers.serialize(self.beta_regularizer),
            "gamma_regularizer": regularizers.serialize(self.gamma_regularizer),
            "beta_constraint": constraints.serialize(self.beta_constraint),
            "gamma_constraint": constraints.serialize(self.gamma_constraint),
        }
        return {**super().get_config(), **config}
