"""Merge layers: Add, Multiply, Average, Maximum, Concatenate, Dot and their functional forms.

Each takes a list of tensors and has no weights. The element-wise merges broadcast the
non-batch axes as numpy does, after giving lower-rank inputs new axes at position 1 (Keras
2.0.5's rule), and AND the incoming masks; Concatenate concatenates them; Dot outputs none.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import reduce
from typing import Any

import numpy as np

from kgraph import backend as K
from kgraph.engine.topology import Layer
from kgraph.ir import Tensor
from kgraph.ir import build as B

__all__ = [
    "Add", "Multiply", "Average", "Maximum", "Concatenate", "Dot",
    "add", "multiply", "average", "maximum", "concatenate", "dot",
]  # fmt: skip

Shape = tuple[int | None, ...]


def _shape_str(shape: Any) -> str:
    return str(tuple(shape)) if shape is not None else "None"


def _shapes_str(shapes: Any) -> str:
    return "[" + ", ".join(_shape_str(s) for s in shapes) + "]"


def _is_shape_list(input_shape: Any) -> bool:
    return (
        isinstance(input_shape, list)
        and bool(input_shape)
        and isinstance(input_shape[0], (tuple, list))
    )


class _Merge(Layer):
    """The element-wise merges: shape checks, rank alignment and mask AND-ing."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.supports_masking = True

    def _merge_function(self, inputs: list[Tensor]) -> Tensor:
        raise NotImplementedError

    def _compute_elemwise_op_output_shape(
        self, shape1: Shape | None, shape2: Shape | None
    ) -> Shape | None:
        """Numpy broadcasting of two non-batch shapes (None: unknown)."""
        if shape1 is None or shape2 is None:
            return None
        if len(shape1) < len(shape2):
            return self._compute_elemwise_op_output_shape(shape2, shape1)
        if not shape2:
            return tuple(shape1)
        output_shape = list(shape1[: -len(shape2)])
        for i, j in zip(shape1[-len(shape2) :], shape2, strict=True):
            if i is None or j is None:
                output_shape.append(None)
            elif i == 1:
                output_shape.append(j)
            elif j == 1 or i == j:
                output_shape.append(i)
            else:
                raise ValueError(
                    f"Operands could not be broadcast together with shapes {tuple(shape1)} "
                    f"{tuple(shape2)} (layer {self.name})"
                )
        return tuple(output_shape)

    def _check_inputs(self, input_shape: Any) -> list[Shape]:
        if not _is_shape_list(input_shape):
            raise ValueError(
                f"A merge layer should be called on a list of inputs. Layer {self.name} "
                f"received a single input of shape {_shape_str(input_shape)}."
            )
        if len(input_shape) < 2:
            raise ValueError(
                "A merge layer should be called on a list of at least 2 inputs. "
                f"Got {len(input_shape)} inputs (layer {self.name})."
            )
        batch_sizes = {s[0] for s in input_shape if s} - {None}
        if len(batch_sizes) > 1:
            raise ValueError(
                "Can not merge tensors with different batch sizes. Got tensors with shapes : "
                f"{_shapes_str(input_shape)} (layer {self.name})"
            )
        return [tuple(s) for s in input_shape]

    def _non_batch_shape(self, input_shape: list[Shape]) -> Shape | None:
        output_shape = input_shape[0][1:]
        for shape in input_shape[1:]:
            output_shape = self._compute_elemwise_op_output_shape(output_shape, shape[1:])
        return output_shape

    def build(self, input_shape: Any) -> None:
        self._non_batch_shape(self._check_inputs(input_shape))
        self.built = True

    def call(self, inputs: Any, **kwargs: Any) -> Tensor:
        if not isinstance(inputs, (list, tuple)):
            raise ValueError(
                f"A merge layer should be called on a list of inputs (layer {self.name})."
            )
        # Lower-rank inputs get new axes right after the batch axis, then numpy broadcasting.
        max_ndim = max(K.ndim(x) for x in inputs)
        aligned = []
        for x in inputs:
            for _ in range(max_ndim - K.ndim(x)):
                x = K.expand_dims(x, 1)
            aligned.append(x)
        return self._merge_function(aligned)

    def compute_output_shape(self, input_shape: Any) -> Shape:
        shapes = self._check_inputs(input_shape)
        output_shape = self._non_batch_shape(shapes)
        batch_sizes = {s[0] for s in shapes} - {None}
        batch = batch_sizes.pop() if len(batch_sizes) == 1 else None
        return (batch,) + tuple(output_shape)

    def _check_masks(self, inputs: Any, mask: Any) -> list | None:
        if mask is None:
            return None
        if not isinstance(mask, (list, tuple)):
            raise ValueError(f"`mask` should be a list (layer {self.name}).")
        if not isinstance(inputs, (list, tuple)):
            raise ValueError(f"`inputs` should be a list (layer {self.name}).")
        if len(mask) != len(inputs):
            raise ValueError(
                f"The lists `inputs` and `mask` should have the same length (layer {self.name}: "
                f"{len(inputs)} inputs, {len(mask)} masks)."
            )
        if all(m is None for m in mask):
            return None
        return list(mask)

    def compute_mask(self, inputs: Any, mask: Any = None) -> Tensor | None:
        masks = self._check_masks(inputs, mask)
        if masks is None:
            return None
        return reduce(lambda a, b: B.binary("And", a, b), [m for m in masks if m is not None])


class Add(_Merge):
    """Adds a list of inputs element-wise.

    Example:
        ```python
        x1 = Dense(8, activation='relu')(Input(shape=(16,)))
        x2 = Dense(8, activation='relu')(Input(shape=(32,)))
        added = Add()([x1, x2])  # equivalent to added = add([x1, x2])
        ```
    """

    def _merge_function(self, inputs: list[Tensor]) -> Tensor:
        return reduce(lambda a, b: a + b, inputs)


class Multiply(_Merge):
    """Multiplies a list of inputs element-wise."""

    def _merge_function(self, inputs: list[Tensor]) -> Tensor:
        return reduce(lambda a, b: a * b, inputs)


class Average(_Merge):
    """Averages a list of inputs element-wise."""

    def _merge_function(self, inputs: list[Tensor]) -> Tensor:
        return reduce(lambda a, b: a + b, inputs) / len(inputs)


class Maximum(_Merge):
    """The element-wise maximum of a list of inputs (ties send the gradient to the first)."""

    def _merge_function(self, inputs: list[Tensor]) -> Tensor:
        return reduce(K.maximum, inputs)


class Concatenate(_Merge):
    """Concatenates a list of inputs along `axis`; all other axes must match.

    Args:
        axis: the concatenation axis (the batch axis counts as 0).

    Masks: a missing mask counts as all-true; the masks are concatenated along `axis` and
    reduced with `all` over the last axis.

    Example:
        ```python
        merged = Concatenate(axis=-1)([Input(shape=(3,)), Input(shape=(5,))])  # (None, 8)
        ```
    """

    def __init__(self, axis: int = -1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.axis = axis
        self.supports_masking = True

    def _check_axis(self, rank: int) -> None:
        if not -rank <= self.axis < rank:
            raise ValueError(
                f"Concatenate axis {self.axis} is out of range for inputs of rank {rank} "
                f"(layer {self.name})"
            )

    def build(self, input_shape: Any) -> None:
        if not _is_shape_list(input_shape):
            raise ValueError(
                f"`Concatenate` layer should be called on a list of inputs. Layer {self.name} "
                f"received a single input of shape {_shape_str(input_shape)}."
            )
        ranks = {len(s) for s in input_shape}
        reduced = set()
        for shape in input_shape:
            self._check_axis(len(shape))
            rest = list(shape)
            del rest[self.axis]
            reduced.add(tuple(rest))
        if len(reduced) > 1 or len(ranks) > 1:
            raise ValueError(
                "`Concatenate` layer requires inputs with matching shapes except for the concat "
                f"axis. Got inputs shapes: {_shapes_str(input_shape)} (layer {self.name}, "
                f"axis={self.axis})"
            )
        self.built = True

    def call(self, inputs: Any, **kwargs: Any) -> Tensor:
        if not isinstance(inputs, (list, tuple)):
            raise ValueError(
                f"A `Concatenate` layer should be called on a list of inputs (layer {self.name})."
            )
        return K.concatenate(list(inputs), axis=self.axis)

    def compute_output_shape(self, input_shape: Any) -> Shape:
        if not _is_shape_list(input_shape):
            raise ValueError(
                f"A `Concatenate` layer should be called on a list of inputs (layer {self.name})."
            )
        output_shape = list(input_shape[0])
        for shape in input_shape[1:]:
            if output_shape[self.axis] is None or shape[self.axis] is None:
                output_shape[self.axis] = None
                break
            output_shape[self.axis] += shape[self.axis]
        return tuple(output_shape)

    def compute_mask(self, inputs: Any, mask: Any = None) -> Tensor | None:
        masks = self._check_masks(inputs, mask)
        return None if masks is None else concatenated_mask(inputs, masks, self.axis)

    def get_config(self) -> dict:
        return {**super().get_config(), "axis": self.axis}


class Dot(_Merge):
    """The dot product of two samples-wise tensors along `axes`.

    For inputs of shapes `(batch, n)` the result is `(batch, 1)`, each entry the dot
    product of two rows. In general the output shape is the first input's shape without
    `axes[0]`, followed by the second's without its batch axis and `axes[1]`.

    Args:
        axes: an int (the same axis of both inputs) or a pair of ints; never the batch axis.
        normalize: l2-normalize both inputs along their axis first, so the result is the
            cosine proximity.

    Example:
        ```python
        similarity = Dot(axes=1, normalize=True)([a, b])  # (None, 1)
        ```
    """

    def __init__(
        self, axes: int | tuple[int, int] | list[int], normalize: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        if isinstance(axes, (int, np.integer)):
            axes = int(axes)
        else:
            if not isinstance(axes, (list, tuple)):
                raise TypeError("Invalid type for `axes` - should be a list or an int.")
            if len(axes) != 2:
                raise ValueError(
                    f"Invalid format for `axes` - should contain two elements, got {axes!r}."
                )
            if not all(isinstance(a, (int, np.integer)) for a in axes):
                raise ValueError(
                    f'Invalid format for `axes` - list elements should be "int", got {axes!r}.'
                )
            axes = type(axes)(int(a) for a in axes)
        self.axes = axes
        self.normalize = normalize
        self.supports_masking = True

    def _axes_for(self, shape1: Shape, shape2: Shape) -> tuple[int, int]:
        pair = (self.axes, self.axes) if isinstance(self.axes, int) else tuple(self.axes)
        out = []
        for axis, shape in zip(pair, (shape1, shape2), strict=True):
            if not -len(shape) <= axis < len(shape) or axis % len(shape) == 0:
                raise ValueError(
                    f"Dot axes {self.axes!r} do not fit the input shapes {_shape_str(shape1)}, "
                    f"{_shape_str(shape2)}: each axis must be a non-batch axis (layer {self.name})"
                )
            out.append(axis % len(shape))
        return out[0], out[1]

    def _check_pair(self, input_shape: Any) -> tuple[Shape, Shape]:
        if not _is_shape_list(input_shape) or len(input_shape) != 2:
            got = (
                f"{len(input_shape)} inputs" if isinstance(input_shape, list) else "a single input"
            )
            raise ValueError(
                f"A `Dot` layer should be called on a list of 2 inputs (layer {self.name} got {got})."
            )
        return tuple(input_shape[0]), tuple(input_shape[1])

    def build(self, input_shape: Any) -> None:
        shape1, shape2 = self._check_pair(input_shape)
        a1, a2 = self._axes_for(shape1, shape2)
        if shape1[a1] != shape2[a2]:
            raise ValueError(
                f"Dimension incompatibility {shape1[a1]} != {shape2[a2]}. Layer shapes: "
                f"{shape1}, {shape2} (layer {self.name})"
            )
        self.built = True

    def call(self, inputs: Any, **kwargs: Any) -> Tensor:
        x1, x2 = inputs
        a1, a2 = self._axes_for(K.int_shape(x1), K.int_shape(x2))
        if self.normalize:
            x1 = K.l2_normalize(x1, axis=a1)
            x2 = K.l2_normalize(x2, axis=a2)
        return _batch_dot(x1, x2, a1, a2)

    def compute_output_shape(self, input_shape: Any) -> Shape:
        shape1, shape2 = self._check_pair(input_shape)
        a1, a2 = self._axes_for(shape1, shape2)
        out = [d for i, d in enumerate(shape1) if i != a1]
        out += [d for i, d in enumerate(shape2) if i not in (0, a2)]
        if len(out) == 1:
            out.append(1)
        return tuple(out)

    def compute_mask(self, inputs: Any, mask: Any = None) -> None:
        return None

    def get_config(self) -> dict:
        return {**super().get_config(), "axes": self.axes, "normalize": self.normalize}


def _prod(dims: list[int | None]) -> int | None:
    return None if None in dims else int(np.prod(dims, dtype=np.int64))


def _transpose(x: Tensor, perm: list[int]) -> Tensor:
    return x if perm == list(range(x.ndim)) else B.transpose(x, perm)


def _reshape(x: Tensor, dims: list[int | None], runtime: Callable[[], Tensor]) -> Tensor:
    """Reshapes `x` to `dims` (0 copies the batch axis); with two or more unknown dims the
    target shape is built at run time by `runtime()`."""
    if sum(d is None for d in dims[1:]) <= 1:
        return B.reshape(x, [0] + [-1 if d is None else int(d) for d in dims[1:]])
    return B.reshape(x, runtime())


def _batch_dot(x: Tensor, y: Tensor, ax: int, ay: int) -> Tensor:
    """Per-sample contraction of `x` axis `ax` with `y` axis `ay` as one batched MatMul:
    x -> (batch, P, k), y -> (batch, k, Q), (batch, P, Q) -> (batch, x rest, y rest)."""
    x = _transpose(x, [i for i in range(x.ndim) if i != ax] + [ax])
    y = _transpose(y, [0, ay] + [i for i in range(1, y.ndim) if i != ay])
    x_rest, y_rest = list(x.shape[1:-1]), list(y.shape[2:])
    minus_one = np.array([-1], np.int64)

    def dims(t: Tensor, start: int, stop: int | None = None) -> Tensor:
        return B.getitem(K.shape(t), slice(start, stop))

    x3 = x if x.ndim == 3 else _reshape(x, [0, _prod(x_rest), x.shape[-1]],
                                        lambda: K.concatenate([dims(x, 0, 1), minus_one, dims(x, -1)], 0))  # fmt: skip
    y3 = y if y.ndim == 3 else _reshape(y, [0, y.shape[1], _prod(y_rest)],
                                        lambda: K.concatenate([dims(y, 0, 2), minus_one], 0))  # fmt: skip
    out = B.matmul(x3, y3)
    if len(x_rest) == 1 and len(y_rest) == 1:
        return out
    # A per-sample scalar comes out as (batch, 1), as Keras's batch_dot returns it.
    return _reshape(out, [0] + (x_rest + y_rest or [1]),
                    lambda: K.concatenate([dims(x, 0, -1), dims(y, 2)], 0))  # fmt: skip


# -- functional forms --------------------------------------------------------------------
def add(inputs: list[Tensor], **kwargs: Any) -> Tensor:
    """`Add(**kwargs)(inputs)`: the element-wise sum of a list of tensors."""
    return Add(**kwargs)(inputs)


def multiply(inputs: list[Tensor], **kwargs: Any) -> Tensor:
    """`Multiply(**kwargs)(inputs)`: the element-wise product of a list of tensors."""
    return Multiply(**kwargs)(inputs)


def average(inputs: list[Tensor], **kwargs: Any) -> Tensor:
    """`Average(**kwargs)(inputs)`: the element-wise mean of a list of tensors."""
    return Average(**kwargs)(inputs)


def maximum(inputs: list[Tensor], **kwargs: Any) -> Tensor:
    """`Maximum(**kwargs)(inputs)`: the element-wise maximum of a list of tensors."""
    return Maximum(**kwargs)(inputs)


def concatenate(inputs: list[Tensor], axis: int = -1, **kwargs: Any) -> Tensor:
    """`Concatenate(axis=axis, **kwargs)(inputs)`."""
    return Concatenate(axis=axis, **kwargs)(inputs)


def dot(
    inputs: list[Tensor], axes: int | tuple[int, int], normalize: bool = False, **kwargs: Any
) -> Tensor:
    """`Dot(axes=axes, normalize=normalize, **kwargs)(inputs)`."""
    return Dot(axes=axes, normalize=normalize, **kwargs)(inputs)


def concatenated_mask(inputs: list, masks: list, axis: int) -> Tensor:
    """The mask of inputs concatenated on `axis`: a missing mask keeps every step, a mask of
    lower rank gains the feature axis, and a step is kept when all of its features are."""
    parts = []
    for x, m in zip(inputs, masks, strict=True):
        if m is None:
            parts.append(K.ones_like(x, dtype="bool"))
        elif K.ndim(m) < K.ndim(x):
            parts.append(K.expand_dims(m))
        else:
            parts.append(m)
    return K.all(K.concatenate(parts, axis=axis), axis=-1)
