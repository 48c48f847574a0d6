"""The Keras 2 layer contract: Layer, InputSpec, Node, InputLayer and Input."""

from __future__ import annotations

import inspect
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from kgraph import backend as K
from kgraph import constraints as _constraints
from kgraph import initializers as _initializers
from kgraph import regularizers as _regularizers
from kgraph.engine import legacy
from kgraph.ir import Tensor, Variable, provenance_scope

__all__ = ["Layer", "InputSpec", "Node", "InputLayer", "Input", "to_list", "snake_case"]

_LAYER_KWARGS = {
    "input_shape", "batch_input_shape", "batch_size", "dtype", "name", "trainable", "weights",
    "input_dtype",
}  # fmt: skip


# Losses and updates added while a layer call is running belong to that call (its Node);
# the rest (weight regularizers made in `build`) are unconditional.
_CALL_CAPTURE: list[tuple[list, list]] = []


def to_list(x: Any) -> list:
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _unwrap(x: list) -> Any:
    return x[0] if len(x) == 1 else x


def snake_case(name: str) -> str:
    s = re.sub("(.)([A-Z][a-z0-9]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", s).lower()


class InputSpec:
    """What a layer accepts: dtype, exact shape, ndim bounds and fixed axis sizes."""

    def __init__(self, dtype=None, shape=None, ndim=None, max_ndim=None, min_ndim=None, axes=None):
        self.dtype = dtype
        self.shape = shape
        self.ndim = len(shape) if shape is not None else ndim
        self.max_ndim = max_ndim
        self.min_ndim = min_ndim
        self.axes = axes or {}


class Node:
    """One call of a layer: the tensors it consumed and produced."""

    def __init__(self, outbound_layer, inbound_layers, node_indices, tensor_indices,
                 input_tensors, output_tensors, input_masks, output_masks, input_shapes,
                 output_shapes, arguments=None):  # fmt: skip
        self.outbound_layer = outbound_layer
        self.inbound_layers = inbound_layers
        self.node_indices = node_indices
        self.tensor_indices = tensor_indices
        self.input_tensors = input_tensors
        self.output_tensors = output_tensors
        self.input_masks = input_masks
        self.output_masks = output_masks
        self.input_shapes = input_shapes
        self.output_shapes = output_shapes
        self.arguments = arguments
        self.call_losses: list = []
        self.call_updates: list = []
        for layer in inbound_layers:
            if layer is not None:
                layer.outbound_nodes.append(self)
        outbound_layer.inbound_nodes.append(self)

    def get_config(self) -> dict:
        return {
            "outbound_layer": self.outbound_layer.name,
            "inbound_layers": [la.name if la is not None else None for la in self.inbound_layers],
            "node_indices": self.node_indices,
            "tensor_indices": self.tensor_indices,
        }


class Layer:
    """Base class of every layer: `build` creates weights, `call` builds the computation.

    Calling a layer on Keras tensors builds it on first use, adds its ops to the graph
    (recording the layer as their provenance), and returns new Keras tensors.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        legacy.install(cls)  # Keras 1 argument names, for the classes that had them

    def __init__(self, **kwargs: Any) -> None:
        for kw in kwargs:
            if kw not in _LAYER_KWARGS:
                raise TypeError(
                    f"Keyword argument not understood: {kw!r}; valid layer arguments: "
                    f"{', '.join(sorted(_LAYER_KWARGS))}"
                )
        name = kwargs.get("name")
        if not name:
            prefix = snake_case(type(self).__name__)
            name = f"{prefix}_{K.get_uid(prefix)}"
        self.name: str = name
        self.trainable: bool = kwargs.get("trainable", True)
        self._trainable_weights: list[Variable] = []
        self._non_trainable_weights: list[Variable] = []
        self.losses: list = []
        self.updates: list = []
        self._unconditional_losses: list = []
        self._unconditional_updates: list = []
        self.constraints: dict = {}
        self.inbound_nodes: list[Node] = []
        self.outbound_nodes: list[Node] = []
        self.built = False
        self.supports_masking = False
        self.input_spec: InputSpec | list | None = None
        self.uses_learning_phase = False
        self.stateful = False
        if "input_shape" in kwargs or "batch_input_shape" in kwargs:
            if "batch_input_shape" in kwargs:
                batch_input_shape = tuple(kwargs["batch_input_shape"])
            else:
                batch_input_shape = (kwargs.get("batch_size"),) + tuple(kwargs["input_shape"])
            self.batch_input_shape = batch_input_shape
        self.dtype = kwargs.get("dtype") or kwargs.get("input_dtype") or K.floatx()
        self._initial_weights = kwargs.get("weights")

    # -- weights ------------------------------------------------------------------------
    @property
    def trainable_weights(self) -> list[Variable]:
        return list(self._trainable_weights) if self.trainable else []

    @property
    def non_trainable_weights(self) -> list[Variable]:
        if self.trainable:
            return list(self._non_trainable_weights)
        return self._trainable_weights + self._non_trainable_weights

    @property
    def weights(self) -> list[Variable]:
        return self.trainable_weights + self.non_trainable_weights

    def add_weight(self, name, shape, dtype=None, initializer=None, regularizer=None,
                   trainable=True, constraint=None) -> Variable:  # fmt: skip
        """Creates a weight named `<layer>/<name>:0`, registering its regularizer and constraint."""
        init = _initializers.get(initializer or "glorot_uniform")
        dtype = dtype or K.floatx()
        value = np.asarray(init(tuple(shape), dtype=dtype), dtype=dtype)
        constraint = _constraints.get(constraint)
        weight = Variable(value, name=f"{self.name}/{name}", trainable=trainable, constraint=constraint)
        regularizer = _regularizers.get(regularizer)
        if regularizer is not None:
            with provenance_scope(f"{self.name}/regularizer"):
                self.add_loss(regularizer(weight))
        if constraint is not None:
            self.constraints[weight] = constraint
        (self._trainable_weights if trainable else self._non_trainable_weights).append(weight)
        return weight

    def get_weights(self) -> list[np.ndarray]:
        return K.batch_get_value(self.weights)

    def set_weights(self, weights: Sequence[Any]) -> None:
        params = self.weights
        if len(params) != len(weights):
            raise ValueError(
                f'You called `set_weights(weights)` on layer "{self.name}" with a weight list of '
                f"length {len(weights)}, but the layer was expecting {len(params)} weights. "
                f"Provided weights: {str(weights)[:50]}..."
            )
        for p, w in zip(params, weights):
            if tuple(p.shape) != tuple(np.shape(w)):
                raise ValueError(
                    f"Layer weight shape {p.shape} not compatible with provided weight shape "
                    f"{np.shape(w)} (weight {p.name} of layer {self.name})"
                )
        K.batch_set_value(list(zip(params, weights)))

    def count_params(self) -> int:
        if not self.built:
            raise RuntimeError(
                f"You tried to call `count_params` on {self.name}, but the layer isn't built. "
                "You can build it manually via: `layer.build(batch_input_shape)`."
            )
        return int(sum(int(np.prod(w.shape)) for w in self.weights))

    def add_loss(self, losses: Any, inputs: Any = None) -> None:
        """Adds loss tensors. Inside a layer call they belong to that call (a model collects
        the losses of its own calls); outside any call they are unconditional."""
        items = to_list(losses)
        self.losses += items
        if _CALL_CAPTURE:
            for captured_losses, _ in _CALL_CAPTURE:
                captured_losses.extend(items)
        else:
            self._unconditional_losses += items

    def add_update(self, updates: Any, inputs: Any = None) -> None:
        """Adds `(variable, new value)` updates, attributed like `add_loss`."""
        items = to_list(updates)
        self.updates += items
        if _CALL_CAPTURE:
            for _, captured_updates in _CALL_CAPTURE:
                captured_updates.extend(items)
        else:
            self._unconditional_updates += items

    # -- the call contract --------------------------------------------------------------
    def build(self, input_shape: Any) -> None:
        self.built = True

    def call(self, inputs: Any, **kwargs: Any) -> Any:
        return inputs

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        if not self.supports_masking and mask is not None and any(m is not None for m in to_list(mask)):
            raise TypeError(f"Layer {self.name} does not support masking, but was passed an input_mask: {mask}")
        return mask if self.supports_masking else None

    def assert_input_compatibility(self, inputs: Any) -> None:
        if self.input_spec is None:
            return
        specs, ins = to_list(self.input_spec), to_list(inputs)
        if len(specs) != len(ins):
            raise ValueError(f"Layer {self.name} expects {len(specs)} inputs, but it received {len(ins)} input tensors.")
        for i, (spec, x) in enumerate(zip(specs, ins)):
            if spec is None:
                continue
            shape = K.int_shape(x)
            where = f"Input {i} is incompatible with layer {self.name}"
            if spec.ndim is not None and len(shape) != spec.ndim:
                raise ValueError(f"{where}: expected ndim={spec.ndim}, found ndim={len(shape)} (input shape {shape})")
            if spec.min_ndim is not None and len(shape) < spec.min_ndim:
                raise ValueError(f"{where}: expected min_ndim={spec.min_ndim}, found ndim={len(shape)} (input shape {shape})")
            if spec.max_ndim is not None and len(shape) > spec.max_ndim:
                raise ValueError(f"{where}: expected max_ndim={spec.max_ndim}, found ndim={len(shape)} (input shape {shape})")
            for axis, value in spec.axes.items():
                if value is not None and shape[axis] not in (value, None):
                    raise ValueError(
                        f"{where}: expected axis {axis} of input shape to have value {value} "
                        f"but got shape {shape}"
                    )

    def __call__(self, inputs: Any, **kwargs: Any) -> Any:
        with provenance_scope(self.name):
            ins = to_list(inputs)
            for x in ins:
                if not isinstance(x, Tensor):
                    raise TypeError(
                        f"Layer {self.name} was called with an input that isn't a symbolic tensor "
                        f"(got {type(x).__name__}). All inputs to the layer should be tensors."
                    )
            if not self.built:
                self.assert_input_compatibility(inputs)
                shapes = [K.int_shape(x) for x in ins]
                self.build(_unwrap(shapes))
                self.built = True
                if self._initial_weights is not None:
                    self.set_weights(self._initial_weights)
                    self._initial_weights = None
            self.assert_input_compatibility(inputs)
            masks = [getattr(x, "_keras_mask", None) for x in ins]
            previous_mask = _unwrap(masks)
            if "mask" in inspect.signature(self.call).parameters and "mask" not in kwargs:
                kwargs["mask"] = previous_mask
            captured: tuple[list, list] = ([], [])
            _CALL_CAPTURE.append(captured)
            try:
                outputs = to_list(self.call(inputs, **kwargs))
                outputs = [K.identity(o) if any(o is x for x in ins) else o for o in outputs]
                if getattr(self, "activity_regularizer", None) is not None:
                    with provenance_scope(f"{self.name}/activity_regularizer"):
                        for o in outputs:
                            self.add_loss(self.activity_regularizer(o))
            finally:
                _CALL_CAPTURE.pop()
            output_mask = to_list(self.compute_mask(inputs, previous_mask))
            input_shapes = [K.int_shape(x) for x in ins]
            output_shapes = to_list(self.compute_output_shape(_unwrap(input_shapes)))
            if output_shapes and not isinstance(output_shapes[0], (tuple, list)) :
                output_shapes = [tuple(output_shapes)]
            self._add_inbound_node(ins, outputs, masks, output_mask, input_shapes, output_shapes, kwargs)
            self.inbound_nodes[-1].call_losses, self.inbound_nodes[-1].call_updates = captured
        return _unwrap(outputs)

    def _add_inbound_node(self, ins, outputs, masks, output_masks, input_shapes, output_shapes, arguments):
        layers, node_indices, tensor_indices = [], [], []
        for x in ins:
            history = getattr(x, "_keras_history", None)
            layer, node_index, tensor_index = history if history else (None, 0, 0)
            layers.append(layer)
            node_indices.append(node_index)
            tensor_indices.append(tensor_index)
        arguments = {k: v for k, v in arguments.items() if k != "mask"}
        Node(self, layers, node_indices, tensor_indices, ins, outputs, masks,
             output_masks + [None] * (len(outputs) - len(output_masks)), input_shapes,
             output_shapes, arguments or None)  # fmt: skip
        node_index = len(self.inbound_nodes) - 1
        for i, (o, shape) in enumerate(zip(outputs, output_shapes + [None] * len(outputs))):
            o._keras_shape = tuple(shape) if shape is not None else tuple(o.shape)
            o._keras_history = (self, node_index, i)
            o._keras_mask = output_masks[i] if i < len(output_masks) else None
            o._uses_learning_phase = self.uses_learning_phase

    # -- per-node accessors -------------------------------------------------------------
    def _node_attr(self, index: int, attr: str, what: str) -> Any:
        if not self.inbound_nodes:
            raise RuntimeError(f"The layer {self.name} has never been called and thus has no defined {what}.")
        if index >= len(self.inbound_nodes):
            raise ValueError(f"Asked to get {what} at node {index}, but the layer has only {len(self.inbound_nodes)} inbound nodes.")
        return _unwrap(getattr(self.inbound_nodes[index], attr))

    def _single(self, attr: str, what: str) -> Any:
        if len(self.inbound_nodes) > 1:
            raise AttributeError(
                f"Layer {self.name} has multiple inbound nodes, hence the notion of \"layer {what}\" is "
                f"ill-defined. Use `get_{what.replace(' ', '_')}_at(node_index)` instead."
            )
        if not self.inbound_nodes:
            raise AttributeError(f"Layer {self.name} is not connected, no {what} to return.")
        return self._node_attr(0, attr, what)

    def get_input_at(self, node_index: int) -> Any:
        return self._node_attr(node_index, "input_tensors", "input")

    def get_output_at(self, node_index: int) -> Any:
        return self._node_attr(node_index, "output_tensors", "output")

    def get_input_shape_at(self, node_index: int) -> Any:
        return self._node_attr(node_index, "input_shapes", "input shape")

    def get_output_shape_at(self, node_index: int) -> Any:
        return self._node_attr(node_index, "output_shapes", "output shape")

    def get_input_mask_at(self, node_index: int) -> Any:
        return self._node_attr(node_index, "input_masks", "input mask")

    def get_output_mask_at(self, node_index: int) -> Any:
        return self._node_attr(node_index, "output_masks", "output mask")

    @property
    def input(self) -> Any:
        return self._single("input_tensors", "input")

    @property
    def output(self) -> Any:
        return self._single("output_tensors", "output")

    def _shared_shape(self, attr: str, what: str) -> Any:
        if not self.inbound_nodes:
            raise AttributeError(f'The layer "{self.name}" has never been called and thus has no defined {what}.')
        shapes = {str(getattr(n, attr)) for n in self.inbound_nodes}
        if len(shapes) > 1:
            raise AttributeError(
                f'The layer "{self.name}" has multiple inbound nodes with different {what}s. Hence the '
                f'notion of "{what}" is ill-defined for the layer. Use `get_{what.replace(" ", "_")}_at(node_index)` instead.'
            )
        return _unwrap(getattr(self.inbound_nodes[0], attr))

    @property
    def input_shape(self) -> Any:
        return self._shared_shape("input_shapes", "input shape")

    @property
    def output_shape(self) -> Any:
        return self._shared_shape("output_shapes", "output shape")

    @property
    def input_mask(self) -> Any:
        return self._single("input_masks", "input mask")

    @property
    def output_mask(self) -> Any:
        return self._single("output_masks", "output mask")

    # -- configuration ------------------------------------------------------------------
    def get_config(self) -> dict:
        config = {"name": self.name, "trainable": self.trainable}
        if hasattr(self, "batch_input_shape"):
            config["batch_input_shape"] = self.batch_input_shape
        if hasattr(self, "dtype"):
            config["dtype"] = self.dtype
        return config

    @classmethod
    def from_config(cls, config: dict) -> Layer:
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}>"


class InputLayer(Layer):
    """The layer behind `Input`: a graph input (placeholder) named after the layer."""

    def __init__(self, input_shape=None, batch_size=None, batch_input_shape=None, dtype=None,
                 input_tensor=None, sparse=False, name=None, input_dtype=None):  # fmt: skip
        if not name:
            name = f"input_{K.get_uid('input')}"
        super().__init__(name=name, dtype=dtype or input_dtype)
        self.trainable = False
        self.built = True
        self.sparse = sparse
        if sparse:
            raise ValueError("Sparse inputs are not supported by kgraph.")
        if input_shape is not None and batch_input_shape is not None:
            raise ValueError("Only provide the input_shape OR batch_input_shape argument to InputLayer, not both at the same time.")
        if input_tensor is not None and batch_input_shape is None:
            batch_input_shape = K.int_shape(input_tensor)
        elif batch_input_shape is None:
            if input_shape is None:
                raise ValueError("An Input layer should be passed either a `batch_input_shape` or an `input_shape`.")
            batch_input_shape = (batch_size,) + tuple(input_shape)
        self.batch_input_shape = tuple(None if d is None else int(d) for d in batch_input_shape)
        self.dtype = dtype or input_dtype or K.floatx()
        if input_tensor is None:
            input_tensor = K.placeholder(shape=self.batch_input_shape, dtype=self.dtype, name=self.name)
        self.is_placeholder = True
        input_tensor._keras_shape = self.batch_input_shape
        input_tensor._uses_learning_phase = False
        input_tensor._keras_history = (self, 0, 0)
        input_tensor._keras_mask = None
        Node(self, [], [], [], [input_tensor], [input_tensor], [None], [None],
             [self.batch_input_shape], [self.batch_input_shape])  # fmt: skip

    def get_config(self) -> dict:
        return {"batch_input_shape": self.batch_input_shape, "dtype": self.dtype,
                "sparse": self.sparse, "name": self.name}  # fmt: skip


def Input(shape=None, batch_shape=None, name=None, dtype=None, sparse=False, tensor=None):  # noqa: N802
    """Creates a symbolic input tensor (a graph input) for a functional model.

    Example:
        ```python
        x = Input(shape=(32,))
        y = Dense(16, activation='softmax')(x)
        model = Model(x, y)
        ```
    """
    if batch_shape is None and shape is None and tensor is None:
        raise ValueError("Please provide to Input either a `shape` or a `batch_shape` argument. "
                         "Note that `shape` does not include the batch dimension.")  # fmt: skip
    if shape is not None and batch_shape is None:
        batch_shape = (None,) + tuple(shape)
    layer = InputLayer(batch_input_shape=batch_shape, name=name, dtype=dtype, sparse=sparse, input_tensor=tensor)
    return _unwrap(layer.inbound_nodes[0].output_tensors)


def source_inputs(tensor: Any) -> list[Any]:
    """The Input tensors that `tensor` is computed from, in the order met (Keras 2.0.5's
    `get_source_inputs`)."""
    found: list[Any] = []

    def visit(layer: Any, node_index: int) -> None:
        node = layer.inbound_nodes[node_index]
        if not node.inbound_layers:
            for x in node.input_tensors:
                if not any(x is f for f in found):
                    found.append(x)
            return
        for inbound, index in zip(node.inbound_layers, node.node_indices):
            visit(inbound, index)

    layer, node_index, _ = tensor._keras_history
    visit(layer, node_index)
    return found
