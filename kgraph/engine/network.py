"""Container: a graph of layer calls from input tensors to output tensors."""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

import numpy as np

from kgraph import backend as K
from kgraph.engine.topology import InputLayer, Layer, Node, to_list
from kgraph.ir import Variable, provenance_scope

__all__ = ["Container"]


class Container(Layer):
    """A directed graph of layers, itself usable as a layer (functional models)."""

    def __init__(self, inputs: Any, outputs: Any, name: str | None = None) -> None:
        super().__init__(name=name or f"model_{K.get_uid('model')}")
        self._init_graph(inputs, outputs)

    def _init_graph(self, inputs: Any, outputs: Any) -> None:
        # Dicts of tensors are taken in their order (their keys do not rename anything).
        self.inputs = list(inputs.values()) if isinstance(inputs, dict) else to_list(inputs)
        self.outputs = list(outputs.values()) if isinstance(outputs, dict) else to_list(outputs)
        for x in self.inputs:
            history = getattr(x, "_keras_history", None)
            if history is None or not isinstance(history[0], InputLayer):
                raise TypeError(
                    f"Input tensors to a {type(self).__name__} must come from `Input` "
                    f"(an InputLayer); got {x!r}"
                )
        if len({id(x) for x in self.inputs}) != len(self.inputs):
            raise ValueError("The list of inputs passed to the model is redundant: all inputs should only appear once.")
        self.input_layers = [x._keras_history[0] for x in self.inputs]
        self.output_layers = [x._keras_history[0] for x in self.outputs]
        self.layers = self._sorted_layers()
        names = [la.name for la in self.layers]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise RuntimeError(f"The name {dup[0]!r} is used {names.count(dup[0])} times in the model. All layer names should be unique.")
        self.input_names = [la.name for la in self.input_layers]
        self.output_names = [la.name for la in self.output_layers]
        self._set_own_node()
        self.built = True

    def _set_own_node(self) -> None:
        """Node 0 of a container links its inputs to its outputs, as Keras records it, so
        `model.get_output_at(0)` and `Sequential.add(model)` see the model's own graph."""
        shapes_in = [tuple(x._keras_shape) for x in self.inputs]
        shapes_out = [tuple(x._keras_shape) for x in self.outputs]
        later_calls = self.inbound_nodes[1:]
        self.inbound_nodes = []
        Node(self, [], [], [], self.inputs, self.outputs, [None] * len(self.inputs),
             [None] * len(self.outputs), shapes_in, shapes_out)  # fmt: skip
        self.inbound_nodes += later_calls
        self._order_cache = None

    def _node_order(self) -> list[tuple[Layer, Node]]:
        """The (layer, node) calls between the inputs and the outputs, dependencies first."""
        if getattr(self, "_order_cache", None) is not None:
            return self._order_cache
        order: list[tuple[Layer, Node]] = []
        seen: set[int] = set()
        inputs = {id(x) for x in self.inputs}

        def visit(tensor) -> None:
            if id(tensor) in inputs:
                return
            layer, node_index, _ = tensor._keras_history
            node = layer.inbound_nodes[node_index]
            if id(node) in seen:
                return
            seen.add(id(node))
            for x in node.input_tensors:
                visit(x)
            order.append((layer, node))

        for out in self.outputs:
            visit(out)
        self._order_cache = order
        return order

    def call(self, inputs, mask=None, **kwargs):
        """Applies the model's layers to new input tensors (a model used as a layer)."""
        new_inputs = to_list(inputs)
        if len(new_inputs) != len(self.inputs):
            raise ValueError(
                f"Model {self.name} expects {len(self.inputs)} input(s) but was called on "
                f"{len(new_inputs)} tensor(s)."
            )
        masks = to_list(mask) if mask is not None else [None] * len(new_inputs)
        values = {id(x): (y, m) for x, y, m in zip(self.inputs, new_inputs, masks)}
        for layer, node in self._node_order():
            args = [values[id(x)] for x in node.input_tensors]
            ins = [a for a, _ in args]
            in_masks = [m for _, m in args]
            call_kwargs = dict(node.arguments or {})
            with provenance_scope(layer.name):
                if "mask" in inspect.signature(layer.call).parameters:
                    call_kwargs["mask"] = in_masks[0] if len(in_masks) == 1 else in_masks
                outs = to_list(layer.call(ins[0] if len(ins) == 1 else ins, **call_kwargs))
                if getattr(layer, "activity_regularizer", None) is not None:
                    for o in outs:
                        layer.add_loss(layer.activity_regularizer(o))
                out_masks = to_list(layer.compute_mask(ins[0] if len(ins) == 1 else ins,
                                                       in_masks[0] if len(in_masks) == 1 else in_masks))  # fmt: skip
            for x, y, m in zip(node.output_tensors, outs, out_masks + [None] * len(outs)):
                values[id(x)] = (y, m)
        results = [values[id(x)] for x in self.outputs]
        self._last_output_masks = [m for _, m in results]
        self._last_output_shapes = [tuple(y.shape) for y, _ in results]
        outs = [y for y, _ in results]
        return outs[0] if len(outs) == 1 else outs

    def compute_output_shape(self, input_shape):
        shapes = getattr(self, "_last_output_shapes", None) or [tuple(x._keras_shape) for x in self.outputs]
        return shapes[0] if len(shapes) == 1 else shapes

    def compute_mask(self, inputs, mask=None):
        masks = getattr(self, "_last_output_masks", None)
        if not masks or all(m is None for m in masks):
            return None
        return masks[0] if len(masks) == 1 else masks

    @property
    def nodes_by_depth(self) -> dict[int, list[Node]]:
        """This graph's nodes (layer calls, input layers' own included) by their largest
        distance from an output, as Keras keeps them: a shared layer's calls from other
        graphs are not among them."""
        found: dict[int, tuple[Node, int]] = {}
        inputs = {id(x) for x in self.inputs}

        def visit(tensor: Any, d: int) -> None:
            layer, node_index, _ = tensor._keras_history
            node = layer.inbound_nodes[node_index]
            if id(node) in found and found[id(node)][1] >= d:
                return
            found[id(node)] = (node, d)
            if id(tensor) in inputs or not node.inbound_layers:
                return
            for x in node.input_tensors:
                visit(x, d + 1)

        for out in self.outputs:
            visit(out, 0)
        by_depth: dict[int, list[Node]] = {}
        for node, d in found.values():
            by_depth.setdefault(d, []).append(node)
        return dict(sorted(by_depth.items()))

    def _sorted_layers(self) -> list[Layer]:
        """Layers by decreasing depth from the outputs (inputs first), as Keras orders them."""
        depth: dict[int, int] = {}
        layers: dict[int, Layer] = {}
        order: list[int] = []
        inputs = {id(x) for x in self.inputs}

        node_depth: dict[int, int] = {}

        def visit(tensor: Any, d: int) -> None:
            # Depth is tracked per call (node), so a layer called twice in a chain is fine;
            # a layer's depth is the largest of its calls' depths.
            layer, node_index, _ = tensor._keras_history
            key = id(layer)
            if key not in layers:
                layers[key] = layer
                order.append(key)
            depth[key] = max(depth.get(key, 0), d)
            if id(tensor) in inputs or isinstance(layer, InputLayer):
                return
            node = layer.inbound_nodes[node_index]
            if node_depth.get(id(node), -1) >= d:
                return
            node_depth[id(node)] = d
            if not node.inbound_layers:
                return
            for x in node.input_tensors:
                visit(x, d + 1)

        for out in self.outputs:
            visit(out, 0)
        for x in self.inputs:
            layer = x._keras_history[0]
            if id(layer) not in layers:
                raise ValueError(f"Input {layer.name} is not connected to the outputs.")
        for key, layer in layers.items():
            if isinstance(layer, InputLayer):
                if not any(layer is il for il in self.input_layers):
                    raise ValueError(
                        f"Graph disconnected: cannot obtain value for tensor of input layer "
                        f'"{layer.name}". The following previous inputs were accessed without issue: '
                        f"{[la.name for la in self.input_layers]}"
                    )
        return [layers[k] for k in sorted(order, key=lambda k: -depth[k])]

    # -- weights ------------------------------------------------------------------------
    def _own_layers(self) -> list[Layer]:
        return [la for la in self.layers if not isinstance(la, InputLayer)]

    @property
    def trainable_weights(self) -> list[Variable]:
        if not self.trainable:
            return []
        out: list[Variable] = []
        for layer in self._own_layers():
            out += [w for w in layer.trainable_weights if w not in out]
        return out

    @property
    def non_trainable_weights(self) -> list[Variable]:
        out: list[Variable] = []
        for layer in self._own_layers():
            out += [w for w in layer.non_trainable_weights if w not in out]
        if not self.trainable:
            out = [w for layer in self._own_layers() for w in layer.trainable_weights] + out
        return out

    @property
    def weights(self) -> list[Variable]:
        out: list[Variable] = []
        for layer in self._own_layers():
            out += [w for w in layer.weights if w not in out]
        return out

    def get_weights(self) -> list[np.ndarray]:
        return K.batch_get_value(self.weights)

    def set_weights(self, weights: Sequence[Any]) -> None:
        params = self.weights
        if len(weights) != len(params):
            raise ValueError(
                f"You called `set_weights(weights)` on model {self.name} with a list of "
                f"{len(weights)} arrays, but the model has {len(params)} weights."
            )
        for p, w in zip(params, weights):
            if tuple(p.shape) != tuple(np.shape(w)):
                raise ValueError(
                    f"Weight {p.name} has shape {p.shape}, but the provided array has shape {np.shape(w)}"
                )
        K.batch_set_value(list(zip(params, weights)))

    def _unconditional(self, attr: str) -> list:
        """Losses or updates of this model's layers (recursively) made outside any call."""
        out = list(getattr(self, f"_unconditional_{attr}", []))
        for layer in self._own_layers():
            if isinstance(layer, Container):
                out += layer._unconditional(attr)
            else:
                out += getattr(layer, f"_unconditional_{attr}", [])
        return out

    def _collect(self, attr: str) -> list:
        out = self._unconditional(attr)
        for _, node in self._node_order():
            out += getattr(node, f"call_{attr}", [])
        unique: list = []
        for x in out:
            if not any(x is y for y in unique):
                unique.append(x)
        return unique

    @property
    def losses(self) -> list:
        """The unconditional losses of the layers plus those of this model's own calls."""
        return self._collect("losses")

    @losses.setter
    def losses(self, value: list) -> None:
        pass

    @property
    def updates(self) -> list:
        """State updates (e.g. moving averages) of this model's own layer calls."""
        return self._collect("updates")

    @updates.setter
    def updates(self, value: list) -> None:
        pass

    @property
    def stateful(self) -> bool:
        return any(getattr(layer, "stateful", False) for layer in self._own_layers())

    @stateful.setter
    def stateful(self, value: bool) -> None:
        pass

    @property
    def state_updates(self) -> list:
        """The new states of this model's stateful layer calls (recurrent layers with
        `stateful=True`): every program, predict and evaluate included, applies them."""
        out = []
        for layer, node in self._node_order():
            if isinstance(layer, Container):
                # A nested model's call replays its layers on this model's tensors: its
                # state updates are the ones of that call that write its state variables.
                state_vars = [u[0] for u in layer.state_updates]
                out += [
                    u for u in node.call_updates
                    if isinstance(u, tuple) and any(u[0] is v for v in state_vars)
                ]
            elif getattr(layer, "stateful", False):
                out += [u for u in node.call_updates if isinstance(u, tuple)]
        return out

    def reset_states(self) -> None:
        """Zeros the states of every stateful layer."""
        for layer in self._own_layers():
            if getattr(layer, "stateful", False) and hasattr(layer, "reset_states"):
                layer.reset_states()

    @property
    def uses_learning_phase(self) -> bool:
        return any(getattr(x, "_uses_learning_phase", False) for x in self.outputs)

    @uses_learning_phase.setter
    def uses_learning_phase(self, value: bool) -> None:
        pass

    def save_weights(self, filepath: str, overwrite: bool = True) -> None:
        """Saves the weights to HDF5 in Keras 2's layout (atomically: a failed save keeps the
        previous file)."""
        from kgraph.engine.saving import save_weights

        save_weights(self, filepath, overwrite=overwrite)

    def save(self, filepath: str, overwrite: bool = True, include_optimizer: bool = True) -> None:
        """Saves the architecture, weights, training config and optimizer state to one HDF5
        file in Keras's layout (atomically); `kgraph.models.load_model` reads it back."""
        from kgraph.engine.saving_model import save_model

        save_model(self, filepath, overwrite=overwrite, include_optimizer=include_optimizer)

    def load_weights(self, filepath: str, by_name: bool = False, skip_mismatch: bool = False) -> None:
        """Loads HDF5 weights written by kgraph or Keras, by topology or by layer name."""
        from kgraph.engine.saving import load_weights

        load_weights(self, filepath, by_name=by_name, skip_mismatch=skip_mismatch)

    def count_params(self) -> int:
        return int(sum(int(np.prod(w.shape)) for w in self.weights))

    def get_layer(self, name: str | None = None, index: int | None = None) -> Layer | None:
        """A layer by name or by index into `layers`; an unknown name gives None (Keras 2.0.5)."""
        if index is not None:
            if len(self.layers) <= index:
                raise ValueError(f"Was asked to retrieve layer at index {index} but model only has {len(self.layers)} layers.")
            return self.layers[index]
        if not name:
            raise ValueError("Provide either a layer name or layer index.")
        for layer in self.layers:
            if layer.name == name:
                return layer
        return None

    def summary(self, line_length: int | None = None, positions: Any = None, print_fn: Any = print) -> None:
        from kgraph.utils.layer_utils import print_summary

        print_summary(self, line_length=line_length, positions=positions, print_fn=print_fn)

    @property
    def input_shape(self) -> Any:
        shapes = [tuple(x._keras_shape) for x in self.inputs]
        return shapes[0] if len(shapes) == 1 else shapes

    @property
    def output_shape(self) -> Any:
        shapes = [tuple(x._keras_shape) for x in self.outputs]
        return shapes[0] if len(shapes) == 1 else shapes

    @property
    def input(self) -> Any:
        return self.inputs[0] if len(self.inputs) == 1 else self.inputs

    @property
    def output(self) -> Any:
        return self.outputs[0] if len(self.outputs) == 1 else self.outputs

    # -- configuration (Keras's format; the logic lives in kgraph.engine.config) ----------
    def get_config(self) -> dict[str, Any]:
        """`{'name', 'layers', 'input_layers', 'output_layers'}` (KERAS_API.md 7.4)."""
        from kgraph.engine.config import network_config

        return network_config(self)

    @classmethod
    def from_config(cls, config: dict[str, Any], custom_objects: dict[str, Any] | None = None,
                    safe_mode: bool = True) -> Container:  # fmt: skip
        """Rebuilds a model from `get_config()` (also configs written by tf-keras / Keras 3)."""
        from kgraph.engine.config import network_from_config

        return network_from_config(cls, config, custom_objects, safe_mode)

    def to_json(self, **kwargs: Any) -> str:
        """The architecture as JSON; `kwargs` go to `json.dumps`."""
        from kgraph.engine.config import model_to_json

        return model_to_json(self, **kwargs)

    def to_yaml(self, **kwargs: Any) -> str:
        """The architecture as YAML; `kwargs` go to `yaml.dump`."""
        from kgraph.engine.config import model_to_yaml

        return model_to_yaml(self, **kwargs)
