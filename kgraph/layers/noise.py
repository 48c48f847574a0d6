"""Regularization by noise, active only in training programs (the identity in inference):
GaussianNoise, GaussianDropout, AlphaDropout and the spatial dropouts.

Random values hash (seed, train step, element index): each layer takes a `seed` (drawn at
random when not given) and reproduces its noise exactly for that seed; the noise changes
at every train step.
"""

from __future__ import annotations

import numpy as np

from kgraph import backend as K
from kgraph.engine.topology import InputSpec, Layer
from kgraph.ir import build as B
from kgraph.layers.core import Dropout

__all__ = [
    "GaussianNoise", "GaussianDropout", "AlphaDropout", "SpatialDropout1D", "SpatialDropout2D",
    "SpatialDropout3D",
]  # fmt: skip


def _seed(seed):
    return int(np.random.randint(10_000_000)) if seed is None else int(seed)


def _runtime_shape(x):
    return K.shape(x) if None in K.int_shape(x) else tuple(K.int_shape(x))


class GaussianNoise(Layer):
    """Adds zero-centered Gaussian noise of standard deviation `stddev` during training.

    Args:
        stddev: the standard deviation of the noise.
        seed: the noise stream (kgraph's addition; Keras draws one at random).

    Example:
        ```python
        model.add(GaussianNoise(0.1, input_shape=(16,)))
        ```
    """

    def __init__(self, stddev, seed=None, **kwargs):
        if "sigma" in kwargs:
            stddev = kwargs.pop("sigma")
        super().__init__(**kwargs)
        self.supports_masking = True
        self.stddev = stddev
        self.seed = _seed(seed)

    def call(self, inputs, training=None, **kwargs):
        self.uses_learning_phase = True

        def noised():
            return inputs + K.random_normal(_runtime_shape(inputs), mean=0.0, stddev=self.stddev,
                                            dtype=inputs.dtype, seed=self.seed)  # fmt: skip

        return K.in_train_phase(noised, inputs, training=training)

    def get_config(self):
        return {**super().get_config(), "stddev": self.stddev}


class GaussianDropout(Layer):
    """Multiplies the inputs by Gaussian noise of mean 1 and standard deviation
    `sqrt(rate / (1 - rate))` during training; a no-op unless `0 < rate < 1`.

    Args:
        rate: the equivalent drop probability.
        seed: the noise stream (kgraph's addition; Keras draws one at random).
    """

    def __init__(self, rate, seed=None, **kwargs):
        if "p" in kwargs:
            rate = kwargs.pop("p")
        super().__init__(**kwargs)
        self.supports_masking = True
        self.rate = rate
        self.seed = _seed(seed)

    def call(self, inputs, training=None, **kwargs):
        if not 0 < self.rate < 1:
            return inputs
        self.uses_learning_phase = True
        stddev = float(np.sqrt(self.rate / (1.0 - self.rate)))

        def noised():
            return inputs * K.random_normal(_runtime_shape(inputs), mean=1.0, stddev=stddev,
                                            dtype=inputs.dtype, seed=self.seed)  # fmt: skip

        return K.in_train_phase(noised, inputs, training=training)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate}


class AlphaDropout(Layer):
    """Dropout that keeps the mean and variance of self-normalizing (selu) activations:
    dropped values are set to selu's negative saturation `-alpha * scale`, then an affine
    map restores the statistics (Klambauer et al., 2017). A no-op unless `0 < rate < 1`.

    Args:
        rate: the drop probability.
        noise_shape: the shape of the keep mask (None entries take the input's size),
            broadcast against the input.
        seed: the mask stream (None draws one at random).
    """

    _ALPHA = 1.6732632423543772848170429916717
    _SCALE = 1.0507009873554804934193349852946

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True
        self.rate = rate
        self.noise_shape = noise_shape
        self.seed = _seed(seed)

    def _mask_shape(self, inputs):
        if self.noise_shape is None:
            return _runtime_shape(inputs)
        if None not in self.noise_shape:
            return tuple(self.noise_shape)
        full = K.shape(inputs)
        parts = [B.getitem(full, slice(i, i + 1)) if d is None else K.constant([d], "int64")
                 for i, d in enumerate(self.noise_shape)]  # fmt: skip
        return K.concatenate(parts, axis=0)

    def call(self, inputs, training=None, **kwargs):
        if not 0.0 < self.rate < 1.0:
            return inputs
        self.uses_learning_phase = True
        rate = float(self.rate)
        alpha_p = -self._ALPHA * self._SCALE
        a = ((1 - rate) * (1 + rate * alpha_p**2)) ** -0.5
        b = -a * alpha_p * rate

        def dropped():
            uniform = K.random_uniform(self._mask_shape(inputs), dtype=inputs.dtype, seed=self.seed)
            kept = K.cast(K.greater_equal(uniform, rate), inputs.dtype)
            x = inputs * kept + (1.0 - kept) * alpha_p
            return x * a + b

        return K.in_train_phase(dropped, inputs, training=training)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate}


def _data_format(layer, data_format):
    data_format = data_format or K.image_data_format()
    if data_format not in {"channels_last", "channels_first"}:
        raise ValueError(
            f"Layer {layer.name}: data_format must be 'channels_last' or 'channels_first', got {data_format!r}"
        )
    return data_format


class _SpatialDropout(Dropout):
    """Drops whole feature maps: one keep decision per (sample, channel)."""

    _rank = 3

    def __init__(self, rate, **kwargs):
        super().__init__(rate, **kwargs)
        self.data_format = "channels_last"
        self.input_spec = InputSpec(ndim=self._rank)

    def call(self, inputs, training=None, **kwargs):
        if not 0.0 < self.rate < 1.0:
            return inputs
        self.uses_learning_phase = True
        ones = [1] * (self._rank - 2)
        shape = [None] + (
            ([None] + ones) if self.data_format == "channels_first" else (ones + [None])
        )
        channel = 1 if self.data_format == "channels_first" else self._rank - 1
        shape[channel] = K.int_shape(inputs)[channel]
        return K.in_train_phase(lambda: K.dropout(inputs, self.rate, shape, seed=self.seed), inputs,
                                training=training)  # fmt: skip


class SpatialDropout1D(_SpatialDropout):
    """Dropout of whole channels of `(batch, steps, channels)` sequences (mask `(batch, 1, channels)`).

    Args:
        rate: the fraction of channels to drop.
        seed: the mask stream (None draws one at random).
    """


class SpatialDropout2D(_SpatialDropout):
    """Dropout of whole feature maps of 4-D inputs (mask `(batch, 1, 1, channels)`, or
    `(batch, channels, 1, 1)` with `data_format='channels_first'`).

    Args:
        rate: the fraction of feature maps to drop.
        data_format: 'channels_last' or 'channels_first' (default: `image_data_format()`).
        seed: the mask stream (None draws one at random).
    """

    _rank = 4

    def __init__(self, rate, data_format=None, **kwargs):
        super().__init__(rate, **kwargs)
        self.data_format = _data_format(self, data_format)


class SpatialDropout3D(_SpatialDropout):
    """Dropout of whole feature volumes of 5-D inputs (mask `(batch, 1, 1, 1, channels)`, or
    `(batch, channels, 1, 1, 1)` with `data_format='channels_first'`).

    Args:
        rate: the fraction of feature volumes to drop.
        data_format: 'channels_last' or 'channels_first' (default: `image_data_format()`).
        seed: the mask stream (None draws one at random).
    """

    _rank = 5

    def __init__(self, rate, data_format=None, **kwargs):
        super().__init__(rate, **kwargs)
        self.data_format = _data_format(self, data_format)
