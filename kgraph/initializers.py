"""Weight initializers (`keras.initializers`), computed in numpy.

An initializer is called as `init(shape, dtype=None)` and returns a numpy array of that
shape and dtype (`floatx()` by default); layers turn it into a weight's initial value.

Randomness: an initializer with a `seed` owns a `np.random.RandomState(seed)`, so two
instances with the same seed produce the same sequence of arrays, and each further call
continues that stream. With `seed=None` the draws come from numpy's global state, so
`np.random.seed(n)` before building a model makes its initial weights reproducible.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from kgraph._config import floatx
from kgraph.utils.generic_utils import deserialize_keras_object, serialize_keras_object

__all__ = [
    "Constant",
    "Identity",
    "Initializer",
    "Ones",
    "Orthogonal",
    "RandomNormal",
    "RandomUniform",
    "TruncatedNormal",
    "VarianceScaling",
    "Zeros",
    "deserialize",
    "get",
    "glorot_normal",
    "glorot_uniform",
    "he_normal",
    "he_uniform",
    "lecun_uniform",
    "serialize",
]

Shape = Sequence[int]


def _np_dtype(dtype: Any) -> np.dtype:
    if dtype is None:
        return np.dtype(floatx())
    # str() turns kgraph's DType enum (a str subclass) into its plain name.
    return np.dtype(str(dtype) if isinstance(dtype, str) else dtype)


@dataclass(eq=False)
class Initializer:
    """Base class of initializers.

    Subclasses implement `__call__(shape, dtype=None)`. The built-in ones are dataclasses
    whose fields are their constructor arguments and their config, in Keras's order; other
    subclasses override `get_config()` when they take arguments.
    """

    def __call__(self, shape: Shape, dtype: Any = None) -> np.ndarray:
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Initializer:
        return cls(**config)


class _RandomInitializer(Initializer):
    """An initializer that draws from a seeded stream of its own, or the global one."""

    seed: int | None

    def _random_state(self) -> Any:
        if self.seed is None:
            return np.random  # the module's functions use the global RandomState
        rng = getattr(self, "_rng", None)
        if rng is None:
            rng = self._rng = np.random.RandomState(self.seed)
        return rng


class Zeros(Initializer):
    """Initializes to 0."""

    def __call__(self, shape: Shape, dtype: Any = None) -> np.ndarray:
        return np.zeros(tuple(shape), dtype=_np_dtype(dtype))


class Ones(Initializer):
    """Initializes to 1."""

    def __call__(self, shape: Shape, dtype: Any = None) -> np.ndarray:
        return np.ones(tuple(shape), dtype=_np_dtype(dtype))


@dataclass(eq=False)
class Constant(Initializer):
    """Initializes to a constant.

    Args:
        value: the value (a scalar, or anything that broadcasts to the shape).
    """

    value: Any = 0

    def __call__(self, shape: Shape, dtype: Any = None) -> np.ndarray:
        return np.full(tuple(shape), self.value, dtype=_np_dtype(dtype))


@dataclass(eq=False)
class RandomNormal(_RandomInitializer):
    """Draws from a normal distribution.

    Args:
        mean: the mean.
        stddev: the standard deviation.
        seed: an int for a reproducible stream of this instance's own, or None.
    """

    mean: float = 0.0
    stddev: float = 0.05
    seed: int | None = None

    def __call__(self, shape: Shape, dtype: Any = None) -> np.ndarray:
        values = self._random_state().normal(self.mean, self.stddev, size=tuple(shape))
        return np.asarray(values, dtype=_np_dtype(dtype))


@dataclass(eq=False)
class RandomUniform(_RandomInitializer):
    """Draws from a uniform distribution on `[minval, maxval)`.

    Args:
        minval: the lower bound.
        maxval: the upper bound.
        seed: an int for a reproducible stream of this instance's own, or None.
    """

    minval: float = -0.05
    maxval: float = 0.05
    seed: int | None = None

    def __call__(self, shape: Shape, dtype: Any = None) -> np.ndarray:
        values = self._random_state().uniform(self.minval, self.maxval, size=tuple(shape))
        return np.asarray(values, dtype=_np_dtype(dtype))


def _truncated_normal(rng: Any, mean: float, stddev: float, shape: Shape) -> np.ndarray:
    # TensorFlow's truncated normal: values beyond 2 standard deviations are redrawn
    # (not clipped), so the result has a smaller spread than `stddev` (about 0.88x).
    z = np.array(rng.normal(0.0, 1.0, size=tuple(shape)), dtype=np.float64)
    bad = np.abs(z) > 2.0
    while bad.any():
        z[bad] = rng.normal(0.0, 1.0, size=int(bad.sum()))
        bad = np.abs(z) > 2.0
    return mean + stddev * z


@dataclass(eq=False)
class TruncatedNormal(_RandomInitializer):
    """Draws from a normal distribution, redrawing values more than 2 stddev from the mean.

    This is the recommended initializer for neural network weights in Keras.

    Args:
        mean: the mean.
        stddev: the standard deviation of the normal before truncation.
        seed: an int for a reproducible stream of this instance's own, or None.
    """

    mean: float = 0.0
    stddev: float = 0.05
    seed: int | None = None

    def __call__(self, shape: Shape, dtype: Any = None) -> np.ndarray:
        values = _truncated_normal(self._random_state(), self.mean, self.stddev, shape)
        return values.astype(_np_dtype(dtype))


_MODES = ("fan_in", "fan_out", "fan_avg")
_DISTRIBUTIONS = ("normal", "uniform")


@dataclass(eq=False)
class VarianceScaling(_RandomInitializer):
    """Scales its distribution to the shape of the weight.

    With `n` the fan-in, the fan-out or their average (per `mode`) and `s = scale / max(1, n)`:
    `distribution='normal'` draws from a normal truncated at 2 stddev, with stddev `sqrt(s)`
    (no correction for the truncation, as in Keras 2.0.5); `'uniform'` draws from
    `U(-sqrt(3 s), sqrt(3 s))`. Fans come from `_compute_fans`.

    Args:
        scale: a positive scaling factor.
        mode: 'fan_in', 'fan_out' or 'fan_avg'.
        distribution: 'normal' or 'uniform'.
        seed: an int for a reproducible stream of this instance's own, or None.

    Raises:
        ValueError: a non-positive `scale`, or an unknown `mode` or `distribution`.

    Example:
        ```python
        init = VarianceScaling(scale=2.0, mode='fan_in', distribution='normal')  # he_normal
        w = init((784, 128))
        ```
    """

    scale: float = 1.0
    mode: str = "fan_in"
    distribution: str = "normal"
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.scale <= 0.0:
            raise ValueError(f"`scale` must be a positive float; got {self.scale!r}")
        self.mode = str(self.mode).lower()
        if self.mode not in _MODES:
            raise ValueError(
                f"Invalid `mode` argument {self.mode!r}; valid choices: {', '.join(_MODES)}"
            )
        self.distribution = str(self.distribution).lower()
        if self.distribution not in _DISTRIBUTIONS:
            raise ValueError(
                f"Invalid `distribution` argument {self.distribution!r}; "
                f"valid choices: {', '.join(_DISTRIBUTIONS)}"
            )

    def __call__(self, shape: Shape, dtype: Any = None) -> np.ndarray:
        fan_in, fan_out = _compute_fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}
        scale = self.scale / max(1.0, float(n[self.mode]))
        rng = self._random_state()
        if self.distribution == "normal":
            values = _truncated_normal(rng, 0.0, float(np.sqrt(scale)), shape)
        else:
            limit = float(np.sqrt(3.0 * scale))
            values = rng.uniform(-limit, limit, size=tuple(shape))
        return np.asarray(values, dtype=_np_dtype(dtype))


@dataclass(eq=False)
class Orthogonal(_RandomInitializer):
    """Draws a random orthogonal matrix (Saxe et al., 2014).

    The shape is flattened to `(prod(shape[:-1]), shape[-1])`; the SVD of a standard normal
    matrix of that shape gives a factor with orthonormal rows or columns, scaled by `gain`.

    Args:
        gain: the multiplicative factor.
        seed: an int for a reproducible stream of this instance's own, or None. (Keras 2.0.5
            reseeds numpy's global state instead; the first draw is the same.)
    """

    gain: float = 1.0
    seed: int | None = None

    def __call__(self, shape: Shape, dtype: Any = None) -> np.ndarray:
        shape = tuple(shape)
        flat_shape = (int(np.prod(shape[:-1])), shape[-1])
        a = self._random_state().normal(0.0, 1.0, flat_shape)
        u, _, v = np.linalg.svd(a, full_matrices=False)
        q = u if u.shape == flat_shape else v
        return np.asarray(self.gain * q.reshape(shape), dtype=_np_dtype(dtype))


@dataclass(eq=False)
class Identity(Initializer):
    """The identity matrix times `gain`; only for 2-D square shapes.

    Args:
        gain: the multiplicative factor.

    Raises:
        ValueError: (when called) a shape that is not 2-D and square.
    """

    gain: float = 1.0

    def __call__(self, shape: Shape, dtype: Any = None) -> np.ndarray:
        shape = tuple(shape)
        if len(shape) != 2 or shape[0] != shape[1]:
            raise ValueError(
                "Identity matrix initializer can only be used for 2D square matrices; "
                f"got shape {shape}"
            )
        return np.asarray(self.gain * np.identity(shape[0]), dtype=_np_dtype(dtype))


def lecun_uniform(seed: int | None = None) -> VarianceScaling:
    """LeCun uniform: `U(-sqrt(3 / fan_in), sqrt(3 / fan_in))`."""
    return VarianceScaling(scale=1.0, mode="fan_in", distribution="uniform", seed=seed)


def glorot_normal(seed: int | None = None) -> VarianceScaling:
    """Glorot normal: truncated normal with stddev `sqrt(2 / (fan_in + fan_out))`."""
    return VarianceScaling(scale=1.0, mode="fan_avg", distribution="normal", seed=seed)


def glorot_uniform(seed: int | None = None) -> VarianceScaling:
    """Glorot uniform: `U(-limit, limit)` with `limit = sqrt(6 / (fan_in + fan_out))`."""
    return VarianceScaling(scale=1.0, mode="fan_avg", distribution="uniform", seed=seed)


def he_normal(seed: int | None = None) -> VarianceScaling:
    """He normal: truncated normal with stddev `sqrt(2 / fan_in)`."""
    return VarianceScaling(scale=2.0, mode="fan_in", distribution="normal", seed=seed)


def he_uniform(seed: int | None = None) -> VarianceScaling:
    """He uniform: `U(-sqrt(6 / fan_in), sqrt(6 / fan_in))`."""
    return VarianceScaling(scale=2.0, mode="fan_in", distribution="uniform", seed=seed)


def _compute_fans(shape: Shape, data_format: str = "channels_last") -> tuple[float, float]:
    """The fan-in and fan-out of a weight shape, exactly as Keras 2.0.5 computes them.

    2-D `(in, out)` gives `(in, out)`. For 3-, 4- and 5-D convolution kernels
    (`channels_last`: `(*spatial, in, out)`) the receptive field is `prod(shape[:2])`; this
    is the 2.0.5 formula, kept on purpose so initial weights match 2.0.5 (2.0.6 uses
    `shape[:-2]`). It is right for Conv2D, but a Conv1D kernel `(k, in, out)` gets
    `fan_in = in * k * in` and a Conv3D kernel misses its third spatial dimension.
    `channels_first` kernels `(out, in, *spatial)` use `prod(shape[2:])`. Any other rank
    uses `sqrt(prod(shape))` for both.

    Raises:
        ValueError: an unknown `data_format`.
    """
    shape = tuple(shape)
    if len(shape) == 2:
        return shape[0], shape[1]
    if len(shape) in (3, 4, 5):
        if data_format == "channels_first":
            receptive = int(np.prod(shape[2:]))
            return shape[1] * receptive, shape[0] * receptive
        if data_format == "channels_last":
            receptive = int(np.prod(shape[:2]))
            return shape[-2] * receptive, shape[-1] * receptive
        raise ValueError(
            f"Invalid data_format: {data_format!r}; valid choices: channels_last, channels_first"
        )
    fan = float(np.sqrt(np.prod(shape)))
    return fan, fan


# Keras's short and legacy names.
zero = zeros = Zeros
one = ones = Ones
constant = Constant
uniform = random_uniform = RandomUniform
normal = random_normal = RandomNormal
truncated_normal = TruncatedNormal
identity = Identity
orthogonal = Orthogonal

_FUNCTIONS = (lecun_uniform, glorot_normal, glorot_uniform, he_normal, he_uniform)
# Names that `get`/`deserialize` resolve: the classes, their aliases and the functions.
_MODULE_OBJECTS: dict[str, Any] = {
    name: obj
    for name, obj in globals().items()
    if not name.startswith("_")
    and (obj in _FUNCTIONS or isinstance(obj, type) and issubclass(obj, Initializer))
    and obj is not Initializer
}


def serialize(initializer: Any) -> Any:
    """`{'class_name', 'config'}` for an initializer (a function serializes as its name)."""
    return serialize_keras_object(initializer)


def deserialize(config: Any, custom_objects: dict[str, Any] | None = None) -> Any:
    """Builds an initializer from `serialize`'s output.

    Raises:
        ValueError: an unknown name (the message lists the valid choices).
    """
    return deserialize_keras_object(
        config,
        module_objects=_MODULE_OBJECTS,
        custom_objects=custom_objects,
        printable_module_name="initializer",
    )


def get(identifier: Any) -> Any:
    """Resolves an initializer argument of a layer.

    Args:
        identifier: a name (`'glorot_uniform'`, `'Zeros'`, `'normal'`, ...), a config dict,
            or a callable (returned as is).

    Returns:
        An initializer. Names are instantiated with default arguments; the function names
        (`glorot_uniform`, ...) return VarianceScaling instances.

    Raises:
        ValueError: an unknown name, or an identifier of another type.

    Example:
        ```python
        get('glorot_uniform').get_config()
        # {'scale': 1.0, 'mode': 'fan_avg', 'distribution': 'uniform', 'seed': None}
        ```
    """
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        return deserialize({"class_name": str(identifier), "config": {}})
    if callable(identifier):
        return identifier
    raise ValueError(f"Could not interpret initializer identifier: {identifier!r}")
