"""Core layers without weights: Lambda, Reshape, Permute, RepeatVector,
ActivityRegularization and Masking."""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

import numpy as np

from kgraph import backend as K
from kgraph import regularizers
from kgraph.engine.topology import InputSpec, Layer, to_list
from kgraph.ir import Graph, Tensor
from kgraph.ir import build as B
from kgraph.utils.generic_utils import deserialize_keras_object, func_dump, func_load, has_arg

__all__ = ["Lambda", "Reshape", "Permute", "RepeatVector", "ActivityRegularization", "Masking"]

Shape = tuple[int | None, ...]


def _freeze(shape: Any) -> Any:
    if isinstance(shape, list):
        return tuple(_freeze(s) for s in shape)
    return tuple(shape)


def _serialize_callable(fn: Callable, what: str) -> tuple[Any, str]:
    """A `<lambda>` travels as `func_dump` bytecode; a named callable by its name."""
    if isinstance(fn, types.FunctionType) and fn.__name__ == "<lambda>":
        return func_dump(fn), "lambda"
    name = getattr(fn, "__name__", None)
    if name is None:
        raise ValueError(
            f"Cannot serialize the {what} {fn!r} of a Lambda layer: it has no __name__."
        )
    return name, "function"


class Lambda(Layer):
    """Wraps an arbitrary expression written with `kgraph.backend` as a layer.

    Args:
        function: called as `function(inputs, **arguments)` (plus `mask=` when it takes a
            `mask` argument); `inputs` is a list for several inputs.
        output_shape: the output shape without the batch axis (a tuple), a function of the
            input shape(s) returning the full shape, or None to take it from the traced IR.
        mask: a mask tensor or a function `mask(inputs, previous_mask)`; when given, the
            layer supports masking. Without it the layer outputs no mask.
        arguments: extra keyword arguments for `function`.

    Serialization: a `lambda` is stored as Python bytecode (Keras's `func_dump`), a named
    function by its name (Keras 2.0.5 dumps the bytecode of every Python function; by name,
    loading runs no code from the file). `from_config` refuses stored bytecode unless it is
    called with `safe_mode=False`; named functions are looked up in `custom_objects`.

    Example:
        ```python
        model.add(Lambda(lambda x: x ** 2))
        model.add(Lambda(lambda x, k: x[:, :k], arguments={'k': 3}, output_shape=(3,)))
        ```
    """

    def __init__(self, function: Callable, output_shape: Any = None, mask: Any = None,
                 arguments: dict | None = None, **kwargs: Any) -> None:  # fmt: skip
        super().__init__(**kwargs)
        if not callable(function):
            raise TypeError(
                f"Lambda layer {self.name}: `function` must be callable, got {function!r}"
            )
        self.function = function
        self.arguments = arguments if arguments else {}
        if mask is not None:
            self.supports_masking = True
        self.mask = mask
        if output_shape is None or callable(output_shape):
            self._output_shape = output_shape
        elif isinstance(output_shape, (tuple, list)):
            self._output_shape = tuple(output_shape)
        else:
            raise TypeError(
                f"In Lambda, `output_shape` must be a list, a tuple, or a function "
                f"(layer {self.name} got {output_shape!r})."
            )
        self._traced: tuple[Any, Any] | None = None

    def call(self, inputs: Any, mask: Any = None, **kwargs: Any) -> Any:
        arguments = dict(self.arguments)
        if has_arg(self.function, "mask"):
            arguments["mask"] = mask
        outputs = self.function(inputs, **arguments)
        in_shapes = [K.int_shape(x) for x in to_list(inputs)]
        out_shapes = [K.int_shape(y) for y in to_list(outputs)]
        self._traced = (
            _freeze(in_shapes[0] if len(in_shapes) == 1 else in_shapes),
            out_shapes if isinstance(outputs, list) else out_shapes[0],
        )
        return outputs

    def _infer_output_shape(self, input_shape: Any) -> Any:
        if self._traced is not None and self._traced[0] == _freeze(input_shape):
            return self._traced[1]
        # Trace the function on fresh placeholders in a scratch graph.
        with Graph(f"{self.name}_shape").as_default():
            if isinstance(input_shape, list):
                x = [K.placeholder(shape=s) for s in input_shape]
            else:
                x = K.placeholder(shape=input_shape)
            traced = self._traced
            y = self.call(x)
            self._traced = traced
        return [K.int_shape(e) for e in y] if isinstance(y, list) else K.int_shape(y)

    def compute_output_shape(self, input_shape: Any) -> Any:
        if self._output_shape is None:
            return self._infer_output_shape(input_shape)
        if isinstance(self._output_shape, tuple):
            if isinstance(input_shape, list):
                num_samples = input_shape[0][0]
            else:
                num_samples = input_shape[0] if input_shape else None
            return (num_samples,) + self._output_shape
        shape = self._output_shape(input_shape)
        if not isinstance(shape, (list, tuple)):
            raise ValueError(
                f"`output_shape` function must return a tuple or a list of tuples "
                f"(layer {self.name} got {shape!r})."
            )
        if isinstance(shape, list) and (not shape or isinstance(shape[0], int) or shape[0] is None):
            shape = tuple(shape)
        return shape

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        if callable(self.mask):
            return self.mask(inputs, mask)
        return self.mask

    def get_config(self) -> dict:
        function, function_type = _serialize_callable(self.function, "function")
        if callable(self._output_shape):
            output_shape, output_shape_type = _serialize_callable(
                self._output_shape, "output_shape"
            )
        else:
            output_shape, output_shape_type = self._output_shape, "raw"
        config = {
            "function": function,
            "function_type": function_type,
            "output_shape": output_shape,
            "output_shape_type": output_shape_type,
            "arguments": self.arguments,
        }
        return {**super().get_config(), **config}

    @classmethod
    def from_config(
        cls, config: dict, custom_objects: dict | None = None, safe_mode: bool = True
    ) -> Lambda:
        """Rebuilds a Lambda layer from `get_config()` (Keras 2.0.5 or tf-keras format;
        tf-keras's extra `mask`/`mask_type` keys are honoured, its `*module` keys ignored).

        Args:
            config: the layer config.
            custom_objects: names of the functions stored by name.
            safe_mode: refuse a function stored as Python bytecode, which would run code
                taken from the config. Pass False only for configs from a trusted source.

        Raises:
            ValueError: bytecode in safe mode, an unknown function name, or an unknown
                function type.
        """
        config = dict(config)
        for extra in ("module", "output_shape_module", "mask_module"):  # tf-keras's additions
            config.pop(extra, None)
        name = config.get("name", "lambda")
        globs = {**globals(), **(custom_objects or {})}
        loaded = {}
        for key, what in (("function", "function"), ("output_shape", "output_shape function"),
                          ("mask", "mask function")):  # fmt: skip
            value = config.pop(key, None)
            kind = config.pop(f"{key}_type", "function" if key == "function" else "raw")
            if kind != "raw":
                value = _load_callable(value, kind, f"{what} in Lambda layer", name,
                                       custom_objects, globs, safe_mode)  # fmt: skip
            loaded[key] = value
        arguments = dict(config.pop("arguments", None) or {})
        for key, value in arguments.items():
            # numpy arguments travel as {'type': 'ndarray', 'value': list}.
            if isinstance(value, dict) and value.get("type") == "ndarray":
                arguments[key] = np.array(value["value"])
        return cls(loaded["function"], output_shape=loaded["output_shape"], mask=loaded["mask"],
                   arguments=arguments, **config)  # fmt: skip


def _load_callable(stored: Any, kind: str, what: str, layer: str, custom_objects: dict | None,
                   globs: dict, safe_mode: bool) -> Callable:  # fmt: skip
    if kind == "function":
        return deserialize_keras_object(
            stored, custom_objects=custom_objects, printable_module_name=what
        )
    if kind == "lambda":
        if safe_mode:
            raise ValueError(
                f"Refusing to load the {what} {layer!r}: it is stored as Python bytecode, and "
                "loading it would execute code taken from the config. If you trust its source, "
                "pass `safe_mode=False`; otherwise rebuild the layer with a named function "
                "given in `custom_objects`."
            )
        return func_load(stored, globs=globs)
    raise ValueError(
        f"Unknown function type {kind!r} for the {what} {layer!r}: expected 'function' or 'lambda'."
    )


class Reshape(Layer):
    """Reshapes the non-batch axes to `target_shape`; one axis may be -1 (inferred).

    Example:
        ```python
        model.add(Reshape((3, 4), input_shape=(12,)))  # (None, 3, 4)
        model.add(Reshape((-1, 2)))                     # (None, 6, 2)
        ```
    """

    def __init__(self, target_shape: tuple[int, ...], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        try:
            self.target_shape = tuple(int(d) for d in target_shape)
        except TypeError:
            raise TypeError(
                f"Reshape layer {self.name}: `target_shape` must be a tuple of ints, got {target_shape!r}"
            ) from None
        if any(d == 0 or d < -1 for d in self.target_shape):
            raise ValueError(
                f"Reshape layer {self.name}: the dimensions of `target_shape` must be positive "
                f"or -1, got {self.target_shape}"
            )

    def _fix_unknown_dimension(self, input_shape: Shape, output_shape: Shape) -> Shape:
        output = list(output_shape)
        known, unknown = 1, None
        for index, dim in enumerate(output):
            if dim < 0:
                if unknown is not None:
                    raise ValueError(
                        f"Can only specify one unknown dimension (layer {self.name}, target shape {self.target_shape})."
                    )
                unknown = index
            else:
                known *= dim
        original = int(np.prod(input_shape, dtype=np.int64))
        if unknown is not None:
            if known == 0 or original % known != 0:
                raise ValueError(self._size_error(input_shape, original))
            output[unknown] = original // known
        elif original != known:
            raise ValueError(self._size_error(input_shape, original))
        return tuple(output)

    def _size_error(self, input_shape: Shape, original: int) -> str:
        return (
            f"total size of new array must be unchanged: layer {self.name} cannot reshape an "
            f"input of shape {tuple(input_shape)} ({original} values per sample) to "
            f"{self.target_shape}"
        )

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        if None in input_shape[1:]:
            if self.target_shape.count(-1) > 1:
                raise ValueError(
                    f"Can only specify one unknown dimension (layer {self.name}, target shape {self.target_shape})."
                )
            return (input_shape[0],) + tuple(None if d == -1 else d for d in self.target_shape)
        return (input_shape[0],) + self._fix_unknown_dimension(input_shape[1:], self.target_shape)

    def call(self, inputs: Tensor, **kwargs: Any) -> Tensor:
        target = self.compute_output_shape(K.int_shape(inputs))[1:]
        return B.reshape(inputs, [0] + [-1 if d is None else d for d in target])

    def get_config(self) -> dict:
        return {**super().get_config(), "target_shape": self.target_shape}


class Permute(Layer):
    """Permutes the non-batch axes: `dims` is 1-based, e.g. `(2, 1)` swaps the first two.

    Example:
        ```python
        model.add(Permute((2, 1), input_shape=(10, 64)))  # (None, 64, 10)
        ```
    """

    def __init__(self, dims: tuple[int, ...], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dims = tuple(dims)
        if sorted(self.dims) != list(range(1, len(self.dims) + 1)):
            raise ValueError(
                f"Invalid permutation `dims` for Permute layer {self.name}: {self.dims}. The set "
                "of indices in `dims` must be consecutive and start from 1 (the batch axis is "
                "not part of `dims`)."
            )
        self.input_spec = InputSpec(ndim=len(self.dims) + 1)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        output_shape = list(input_shape)
        for i, dim in enumerate(self.dims):
            output_shape[i + 1] = input_shape[dim]
        return tuple(output_shape)

    def call(self, inputs: Tensor, **kwargs: Any) -> Tensor:
        return K.permute_dimensions(inputs, (0,) + self.dims)

    def get_config(self) -> dict:
        return {**super().get_config(), "dims": self.dims}


class RepeatVector(Layer):
    """Repeats a `(batch, features)` input `n` times: `(batch, n, features)`."""

    def __init__(self, n: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if int(n) != n or n < 1:
            raise ValueError(
                f"RepeatVector layer {self.name}: `n` must be a positive integer, got {n!r}"
            )
        self.n = n
        self.input_spec = InputSpec(ndim=2)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return (input_shape[0], self.n, input_shape[1])

    def call(self, inputs: Tensor, **kwargs: Any) -> Tensor:
        return K.repeat(inputs, int(self.n))

    def get_config(self) -> dict:
        return {**super().get_config(), "n": self.n}


class ActivityRegularization(Layer):
    """The identity, adding `L1L2(l1, l2)` of its output to the model's losses."""

    def __init__(self, l1: float = 0.0, l2: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.supports_masking = True
        self.l1 = l1
        self.l2 = l2
        self.activity_regularizer = regularizers.L1L2(l1=l1, l2=l2)

    def get_config(self) -> dict:
        return {**super().get_config(), "l1": self.l1, "l2": self.l2}


class Masking(Layer):
    """Masks timesteps whose features all equal `mask_value`.

    The output is the input with those timesteps zeroed, and the output mask is
    `any(x != mask_value, axis=-1)`, which downstream layers that support masking use to
    skip them.

    Example:
        ```python
        model.add(Masking(mask_value=0., input_shape=(timesteps, features)))
        ```
    """

    def __init__(self, mask_value: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.supports_masking = True
        self.mask_value = mask_value

    def compute_mask(self, inputs: Tensor, mask: Any = None) -> Tensor:
        return K.any(K.not_equal(inputs, self.mask_value), axis=-1)

    def call(self, inputs: Tensor, **kwargs: Any) -> Tensor:
        keep = K.any(K.not_equal(inputs, self.mask_value), axis=-1, keepdims=True)
        return inputs * K.cast(keep, inputs.dtype)

    def get_config(self) -> dict:
        return {**super().get_config(), "mask_value": self.mask_value}
