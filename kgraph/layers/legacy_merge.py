"""Keras 1's `Merge` layer and `merge` function, deprecated but kept as in Keras 2.0.5.

`Merge(layers=[left, right], mode='concat')` merges the outputs of layers or models that
already exist, so it can start a `Sequential` model whose inputs are those of the
branches (Keras 1's way to build a model with several inputs). Modes: 'sum', 'mul',
'ave', 'max', 'concat' (on `concat_axis`), 'dot' and 'cos' (over `dot_axes`, the cosine
as a (batch, 1) column), or a callable of the list of inputs with its `output_shape`.
Callables are serialized as the Lambda layer serializes them: by name, or as bytecode that
`from_config` refuses in safe mode.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from functools import reduce
from typing import Any

from kgraph import backend as K
from kgraph.engine.topology import Layer
from kgraph.layers.core_extra import _load_callable, _serialize_callable
from kgraph.layers.merge import concatenated_mask

__all__ = ["Merge", "merge", "flatten_branches"]

_MODES = ("sum", "mul", "concat", "ave", "cos", "dot", "max")


def _axes(dot_axes: Any) -> list[int]:
    if isinstance(dot_axes, int):
        return [dot_axes, dot_axes]
    if not isinstance(dot_axes, (list, tuple)) or not all(isinstance(a, int) for a in dot_axes):
        raise ValueError(
            f"Invalid format for dot_axes: {dot_axes!r}; it should be an int or a list of "
            "two ints (Keras 1's [(2,), (2,)] is written [2, 2])"
        )
    return list(dot_axes)


class Merge(Layer):
    """Merges a list of tensors (or the outputs of a list of layers) into one."""

    def __init__(self, layers=None, mode="sum", concat_axis=-1, dot_axes=-1, output_shape=None,
                 output_mask=None, arguments=None, node_indices=None, tensor_indices=None,
                 name=None):  # fmt: skip
        warnings.warn("The `Merge` layer is deprecated: use the layers of `kgraph.layers.merge` "
                      "(`add`, `concatenate`, ...) instead.", stacklevel=2)  # fmt: skip
        if not callable(mode) and mode not in _MODES:
            raise ValueError(f"Invalid merge mode: {mode!r}; valid modes: {', '.join(_MODES)} or a callable")
        if mode in ("dot", "cos") and len(_axes(dot_axes)) != 2:
            raise ValueError(f"Merge: dot_axes should be an int or a list of two ints, got {dot_axes!r}")
        super().__init__(name=name)
        self.mode, self.concat_axis, self.dot_axes = mode, concat_axis, _axes(dot_axes)
        self._output_shape, self._output_mask = output_shape, output_mask
        self.arguments = dict(arguments or {})
        self.supports_masking = True
        self.branches = list(layers or [])
        if layers:
            node_indices = node_indices or [0] * len(layers)
            tensor_indices = tensor_indices or [0] * len(layers)
            if len(layers) < 2:
                raise ValueError(f"Merge {self.name}: needs at least 2 layers, got {len(layers)}")
            tensors = []
            for layer, n, t in zip(layers, node_indices, tensor_indices, strict=True):
                if not layer.inbound_nodes:
                    raise ValueError(f"Merge {self.name}: layer {layer.name} has not been connected "
                                     "to an input yet (give it an input_shape)")  # fmt: skip
                tensors.append(layer.inbound_nodes[n].output_tensors[t])
            self(tensors)

    def _check(self, inputs: Any) -> list:
        if not isinstance(inputs, list) or len(inputs) < 2:
            raise ValueError(f"Merge {self.name}: expects a list of at least 2 tensors, got {inputs!r}")
        if self.mode in ("dot", "cos") and len(inputs) != 2:
            raise ValueError(f"Merge {self.name}: mode {self.mode!r} merges exactly 2 tensors, got {len(inputs)}")
        return inputs

    def call(self, inputs: Any, mask: Any = None) -> Any:
        inputs = self._check(inputs)
        if callable(self.mode):
            return self.mode(inputs, **self.arguments)
        if self.mode == "sum":
            return reduce(lambda a, b: a + b, inputs)
        if self.mode == "ave":
            return reduce(lambda a, b: a + b, inputs) / len(inputs)
        if self.mode == "mul":
            return reduce(lambda a, b: a * b, inputs)
        if self.mode == "max":
            return reduce(K.maximum, inputs)
        if self.mode == "concat":
            return K.concatenate(inputs, axis=self.concat_axis)
        left, right = inputs
        axes = [a % K.ndim(x) for a, x in zip(self.dot_axes, inputs, strict=True)]
        if self.mode == "dot":
            return K.batch_dot(left, right, axes)
        norms = K.sqrt(K.batch_dot(left, left, axes) * K.batch_dot(right, right, axes))
        cosine = K.batch_dot(left, right, axes) / K.maximum(norms, K.epsilon())
        # The declared (batch, 1): 2.0.5 added an axis to batch_dot's (batch, 1) as well.
        return cosine if K.ndim(cosine) == 2 else K.expand_dims(cosine, 1)

    def compute_output_shape(self, input_shape: Any) -> Any:
        shapes = [tuple(s) for s in input_shape]
        if callable(self.mode):
            if callable(self._output_shape):
                return tuple(self._output_shape(shapes))
            if self._output_shape is not None:
                return (shapes[0][0],) + tuple(self._output_shape)
            return shapes[0]
        if self.mode in ("sum", "mul", "ave", "max"):
            return shapes[0]
        if self.mode == "concat":
            axis = self.concat_axis % len(shapes[0])
            sizes = [s[axis] for s in shapes]
            size = None if None in sizes else sum(sizes)
            return shapes[0][:axis] + (size,) + shapes[0][axis + 1 :]
        if self.mode == "cos":
            return (shapes[0][0], 1)
        first, second = list(shapes[0]), list(shapes[1])
        first.pop(self.dot_axes[0] % len(first))
        second.pop(self.dot_axes[1] % len(second))
        second.pop(0)
        out = first + second
        return tuple(out + [1] if len(out) == 1 else out)

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        if mask is None or all(m is None for m in mask):
            return None
        if callable(self._output_mask):
            return self._output_mask(mask)
        if self._output_mask is not None:
            return self._output_mask
        if self.mode in ("sum", "mul", "ave", "max"):
            kept = [K.expand_dims(m, 0) for m in mask if m is not None]
            return K.all(K.concatenate(kept, axis=0), axis=0, keepdims=False)
        if self.mode == "concat":
            return concatenated_mask(inputs, mask, self.concat_axis)
        return None

    def get_config(self) -> dict[str, Any]:
        """The merge's own settings; a Sequential model that starts with this Merge adds its
        branches' configs under 'layers', as Keras 2.0.5 does."""
        config: dict[str, Any] = {"name": self.name, "concat_axis": self.concat_axis,
                                  "dot_axes": self.dot_axes, "arguments": self.arguments}  # fmt: skip
        for key, value in (("mode", self.mode), ("output_shape", self._output_shape),
                           ("output_mask", self._output_mask)):  # fmt: skip
            if callable(value):
                config[key], config[f"{key}_type"] = _serialize_callable(value, f"merge {key}")
            else:
                config[key], config[f"{key}_type"] = value, "raw"
        return config

    @classmethod
    def from_config(cls, config: dict, custom_objects: dict | None = None, safe_mode: bool = True) -> Merge:
        """`config['layers']`, when present, holds the branch models themselves (Sequential's
        `from_config` rebuilds them from their configs first)."""
        config = dict(config)
        name = config.get("name", "merge")
        for key in ("mode", "output_shape", "output_mask"):
            kind = config.pop(f"{key}_type", "raw")
            if kind != "raw":
                config[key] = _load_callable(config[key], kind, f"merge {key}", name, custom_objects,
                                             dict(custom_objects or {}), safe_mode)  # fmt: skip
        if isinstance(config.get("output_shape"), list):
            config["output_shape"] = tuple(config["output_shape"])
        return cls(**config)


def merge(inputs: list, mode: str | Callable = "sum", concat_axis: int = -1, dot_axes: Any = -1,
          output_shape: Any = None, output_mask: Any = None, arguments: dict | None = None,
          name: str | None = None) -> Any:  # fmt: skip
    """The functional form: the merged tensor of a list of Keras tensors (deprecated)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        layer = Merge(mode=mode, concat_axis=concat_axis, dot_axes=dot_axes, output_shape=output_shape,
                      output_mask=output_mask, arguments=arguments, name=name)  # fmt: skip
    warnings.warn("The `merge` function is deprecated: use the functions of `kgraph.layers.merge` "
                  "(`add`, `concatenate`, ...) instead.", stacklevel=2)  # fmt: skip
    return layer(inputs)


def flatten_branches(layers: list) -> list:
    """A Sequential model's layers as Keras 2.0.5 trains and saves a legacy
    Sequential-of-Merge: the branches' layers first (each branch model's own layers, a
    branch that itself starts with a Merge flattened the same way), then the rest; the
    Merge itself holds no weights."""
    if not layers or not isinstance(layers[0], Merge) or not layers[0].branches:
        return list(layers)
    flat: list = []
    for branch in layers[0].branches:
        inner = getattr(branch, "layers", None)
        for layer in flatten_branches(inner) if inner else [branch]:
            if not any(layer is f for f in flat):
                flat.append(layer)
    return flat + [la for la in layers[1:] if not any(la is f for f in flat)]
