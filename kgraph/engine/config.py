"""Model configs in Keras's own format: `get_config`/`from_config`, `to_json`/`to_yaml`.

A functional model's config lists its layers, each with the calls that belong to the
model (`inbound_nodes`), and names its inputs and outputs by `[layer, node, tensor]`::

    {'name': 'model_1',
     'layers': [{'name': 'input_1', 'class_name': 'InputLayer', 'config': {...},
                 'inbound_nodes': []},
                {'name': 'dense_1', 'class_name': 'Dense', 'config': {...},
                 'inbound_nodes': [[['input_1', 0, 0, {}]]]}],
     'input_layers': [['input_1', 0, 0]],
     'output_layers': [['dense_1', 0, 0]]}

Node indices count only the model's own calls of each layer (a layer shared with another
model keeps its numbering consistent within this config); a nested model's count starts
at 1, because its node 0 is its own input-to-output node. A Sequential config is the
Keras 2.0.5 list `[{'class_name', 'config'}, ...]`; `from_config` also reads tf-keras's
`{'name', 'layers'}` form, whose first entry may be an InputLayer.
"""

from __future__ import annotations

import copy
import json
import warnings
from collections import deque
from collections.abc import Mapping
from typing import Any

from kgraph.engine.config_dialects import (
    CallSpec,
    TensorRef,
    parse_inbound_nodes,
    parse_tensor_refs,
)
from kgraph.engine.topology import InputLayer, Layer

__all__ = [
    "KERAS_VERSION",
    "BACKEND",
    "network_config",
    "network_from_config",
    "sequential_config",
    "sequential_from_config",
    "model_to_dict",
    "model_to_json",
    "model_to_yaml",
]

KERAS_VERSION = "2.0.5"
"""The Keras version whose config format kgraph writes."""

BACKEND = "tensorflow"
"""The backend written next to the config: kgraph keeps TensorFlow's weight layouts, and
Keras readers convert kernels when a file names another backend."""


def _is_container(layer: Any) -> bool:
    from kgraph.engine.network import Container

    return isinstance(layer, Container)


def _model_nodes(model: Any) -> set[tuple[int, int]]:
    """`(id(layer), node_index)` of every call between the model's inputs and outputs."""
    keep: set[tuple[int, int]] = set()
    inputs = {id(x) for x in model.inputs}
    stack = list(model.outputs)
    while stack:
        tensor = stack.pop()
        layer, node_index, _ = tensor._keras_history
        key = (id(layer), node_index)
        if key in keep:
            continue
        keep.add(key)
        if id(tensor) not in inputs:
            stack.extend(layer.inbound_nodes[node_index].input_tensors)
    return keep


def _call_kwargs(layer: Layer, arguments: Mapping[str, Any] | None) -> dict[str, Any]:
    if not arguments:
        return {}
    try:
        json.dumps(arguments)
    except TypeError:
        warnings.warn(
            f"Layer {layer.name} was passed non-serializable keyword arguments: {arguments}. "
            "They will not be included in the serialized model (and thus will be missing at "
            "deserialization time).",
            stacklevel=4,
        )
        return {}
    return dict(arguments)


def network_config(model: Any) -> dict[str, Any]:
    """`Container.get_config()`: the functional model's layers, calls, inputs and outputs.

    Returns:
        A fresh dict (deep-copied) in the format of the module docstring.
    """
    nodes = _model_nodes(model)
    renumber: dict[tuple[int, int], int] = {}
    for layer in model.layers:
        kept = 1 if _is_container(layer) else 0
        for index in range(len(layer.inbound_nodes)):
            if (id(layer), index) in nodes:
                renumber[(id(layer), index)] = kept
                kept += 1

    layer_configs = []
    for layer in model.layers:
        inbound = []
        for index, node in enumerate(layer.inbound_nodes):
            if (id(layer), index) not in nodes or not node.inbound_layers:
                continue
            kwargs = _call_kwargs(layer, node.arguments)
            sources = zip(node.inbound_layers, node.node_indices, node.tensor_indices, strict=True)
            inbound.append(
                [[src.name, renumber.get((id(src), ni), 0), ti, kwargs] for src, ni, ti in sources]
            )
        layer_configs.append(
            {
                "name": layer.name,
                "class_name": type(layer).__name__,
                "config": layer.get_config(),
                "inbound_nodes": inbound,
            }
        )

    def refs(tensors: list) -> list[list[Any]]:
        out = []
        for x in tensors:
            layer, node_index, tensor_index = x._keras_history
            out.append([layer.name, renumber[(id(layer), node_index)], tensor_index])
        return out

    config = {
        "name": model.name,
        "layers": layer_configs,
        "input_layers": refs(model.inputs),
        "output_layers": refs(model.outputs),
    }
    return copy.deepcopy(config)


def _require(config: Any, key: str, what: str) -> Any:
    if not isinstance(config, Mapping):
        raise ValueError(f"{what} must be a dict, got {type(config).__name__}: {str(config)[:200]}")
    if key not in config:
        raise ValueError(f"Malformed {what}: missing key {key!r} (keys found: {sorted(config)})")
    return config[key]


class _Rebuild:
    """Replays the calls of a functional config on freshly deserialized layers."""

    def __init__(self, layers: dict[str, Layer], calls: dict[str, deque[CallSpec]]) -> None:
        self.layers = layers
        self.calls = calls
        # (layer name, node index in the config) -> index in the new layer's inbound_nodes.
        # Nodes a layer has from construction (an InputLayer's, a model's own node 0) keep
        # their index, and the config numbers the calls after them.
        self.node_map: dict[tuple[str, int], int] = {}
        self.next_index: dict[str, int] = {}
        for name, layer in layers.items():
            for index in range(len(layer.inbound_nodes)):
                self.node_map[(name, index)] = index
            self.next_index[name] = len(layer.inbound_nodes)

    def tensor(self, ref: TensorRef) -> Any:
        index = self.node_map.get((ref.layer, ref.node_index))
        if index is None:
            return None
        outputs = self.layers[ref.layer].inbound_nodes[index].output_tensors
        if ref.tensor_index >= len(outputs):
            raise ValueError(
                f"The config refers to output {ref.tensor_index} of node {ref.node_index} of "
                f"layer {ref.layer!r}, which has {len(outputs)} output(s)."
            )
        return outputs[ref.tensor_index]

    def _call(self, name: str, spec: CallSpec) -> bool:
        inputs = [self.tensor(ref) for ref in spec.inputs]
        if any(x is None for x in inputs):
            return False  # an input comes from a call not made yet: try again later
        layer = self.layers[name]
        layer(inputs if spec.as_list or len(inputs) > 1 else inputs[0], **spec.kwargs)
        self.node_map[(name, self.next_index[name])] = len(layer.inbound_nodes) - 1
        self.next_index[name] += 1
        return True

    def run(self) -> None:
        """Calls the layers in config order, deferring calls whose inputs are not made yet
        (a shared layer's second call may take the output of a layer listed after it)."""
        while any(self.calls.values()):
            progressed = False
            for name, queue in self.calls.items():
                while queue and self._call(name, queue[0]):
                    queue.popleft()
                    progressed = True
            if not progressed:
                name, queue = next((n, q) for n, q in self.calls.items() if q)
                missing = next(r for r in queue[0].inputs if self.tensor(r) is None)
                raise ValueError(
                    f"Cannot rebuild the model: layer {name!r} is called on node "
                    f"{missing.node_index} of layer {missing.layer!r}, which the config never "
                    f"creates (it lists {self.next_index[missing.layer]} node(s) of that layer)."
                )


def network_from_config(cls: type, config: Mapping[str, Any], custom_objects: Mapping[str, Any] | None = None,
                        safe_mode: bool = True) -> Any:  # fmt: skip
    """`Container.from_config`: deserializes every layer, then replays the calls.

    Raises:
        TypeError: a list (a Sequential config) was given.
        ValueError: a malformed config (the message names the missing key or bad entry),
            a reference to a layer or node the config does not define, or an unknown class.
    """
    from kgraph.layers.serialization import deserialize

    if isinstance(config, list):
        raise TypeError(
            f"{cls.__name__}.from_config expects a dict, not a list: a list is a Sequential "
            "config; use `Sequential.from_config(config)`."
        )
    entries = _require(config, "layers", "model config")
    input_refs = parse_tensor_refs(_require(config, "input_layers", "model config"), "input_layers")
    output_refs = parse_tensor_refs(
        _require(config, "output_layers", "model config"), "output_layers"
    )
    layers: dict[str, Layer] = {}
    calls: dict[str, deque[CallSpec]] = {}
    for i, entry in enumerate(entries):
        what = f"entry {i} of the model config's layers"
        inbound = _require(entry, "inbound_nodes", what)
        layer_config = _require(entry, "config", what)
        name = entry.get("name") or (
            layer_config.get("name") if isinstance(layer_config, Mapping) else None
        )
        if not name:
            raise ValueError(f"Malformed {what}: missing key 'name'")
        if name in layers:
            raise ValueError(
                f"The model config lists layer {name!r} twice; layer names must be unique."
            )
        layer = deserialize(entry, custom_objects=custom_objects, safe_mode=safe_mode)
        layer.name = name  # a Sequential in 2.0.5's list form carries no name of its own
        layers[name] = layer
        calls[name] = deque(parse_inbound_nodes(inbound, name))
    for name, queue in calls.items():
        for spec in queue:
            for ref in spec.inputs:
                if ref.layer not in layers:
                    raise ValueError(
                        f"Layer {name!r} takes an input from layer {ref.layer!r}, which is not in "
                        f"the model config (layers: {', '.join(layers)})."
                    )
    for ref in input_refs + output_refs:
        if ref.layer not in layers:
            raise ValueError(
                f"The model config's inputs/outputs name layer {ref.layer!r}, which it does not list."
            )
    rebuild = _Rebuild(layers, calls)
    rebuild.run()
    inputs = [rebuild.tensor(ref) for ref in input_refs]
    outputs = [rebuild.tensor(ref) for ref in output_refs]
    for ref, x in zip(input_refs + output_refs, inputs + outputs, strict=True):
        if x is None:
            raise ValueError(
                f"The model config names node {ref.node_index} of layer {ref.layer!r}, which it never creates."
            )
    model = cls(inputs, outputs, name=config.get("name"))
    if config.get("trainable") is False:
        model.trainable = False
    return model


def sequential_config(model: Any) -> list[dict[str, Any]]:
    """`Sequential.get_config()`: Keras 2.0.5's list of `{'class_name', 'config'}`.

    The first layer carries the input shape (`batch_input_shape`, `dtype`) even when it was
    connected to an `Input` rather than given `input_shape`, so the list alone rebuilds the
    model.
    """
    configs = [{"class_name": type(la).__name__, "config": la.get_config()} for la in model.layers]
    branches = getattr(model.layers[0], "branches", None) if model.layers else None
    if branches:
        # A legacy Merge of branch models: Keras 2.0.5 nests their configs in the Merge's.
        configs[0]["config"]["layers"] = [
            {"class_name": type(b).__name__, "config": b.get_config()} for b in branches
        ]
    elif configs and model.inputs and not _is_container(model.layers[0]):
        first = configs[0]["config"]
        if "batch_input_shape" not in first:
            first["batch_input_shape"] = tuple(model.inputs[0]._keras_shape)
            first["dtype"] = model.input_layers[0].dtype
    return copy.deepcopy(configs)


def sequential_from_config(cls: type, config: Any, custom_objects: Mapping[str, Any] | None = None,
                           safe_mode: bool = True) -> Any:  # fmt: skip
    """`Sequential.from_config`: Keras 2.0.5's list, or tf-keras's / Keras 3's
    `{'name', 'layers'}` whose first entry may be an InputLayer.

    Raises:
        TypeError: neither a list nor a dict.
        ValueError: a malformed entry (naming the missing key), or an InputLayer that is not first.
    """
    from kgraph.layers.serialization import deserialize

    name, build_shape, trainable = None, None, True
    if isinstance(config, Mapping):
        entries = _require(config, "layers", "Sequential config")
        name, build_shape = config.get("name"), config.get("build_input_shape")
        trainable = config.get("trainable", True)
    elif isinstance(config, (list, tuple)):
        entries = config
    else:
        raise TypeError(
            "A Sequential config is a list of layer configs or a dict with a 'layers' list; "
            f"got {type(config).__name__}"
        )
    model = cls(name=name)
    pending_input = None
    for i, entry in enumerate(entries):
        if i == 0 and _is_merge_of_branches(entry):
            model.add(_merge_of_branches(entry, custom_objects, safe_mode))
            continue
        layer = deserialize(entry, custom_objects=custom_objects, safe_mode=safe_mode)
        if isinstance(layer, InputLayer):
            if model.layers or pending_input is not None:
                raise ValueError(
                    f"Sequential config: InputLayer {layer.name!r} must be the first entry."
                )
            pending_input = layer.inbound_nodes[0].output_tensors[0]
            continue
        if not model.layers and not _is_container(layer):
            if pending_input is None and not hasattr(layer, "batch_input_shape") and build_shape:
                # Keras 3 records a Sequential built without an Input as `build_input_shape`.
                pending_input = InputLayer(
                    batch_input_shape=build_shape, name=f"{layer.name}_input"
                )
                pending_input = pending_input.inbound_nodes[0].output_tensors[0]
            if pending_input is not None:
                layer(pending_input)
        model.add(layer)
    if not trainable:
        model.trainable = False
    return model


def _is_merge_of_branches(entry: Any) -> bool:
    return (
        isinstance(entry, Mapping)
        and entry.get("class_name") == "Merge"
        and isinstance(entry.get("config"), Mapping)
        and "layers" in entry["config"]
    )


def _merge_of_branches(entry: Mapping[str, Any], custom_objects: Mapping[str, Any] | None,
                       safe_mode: bool) -> Any:  # fmt: skip
    """Keras 2.0.5's legacy first layer: a Merge whose config lists its branch models."""
    from kgraph.layers.legacy_merge import Merge
    from kgraph.layers.serialization import deserialize

    config = dict(entry["config"])
    branches = config.pop("layers")
    if not isinstance(branches, (list, tuple)):
        raise ValueError(f"Merge config: 'layers' should be a list of branch configs, got {type(branches).__name__}")
    config["layers"] = [deserialize(b, custom_objects=custom_objects, safe_mode=safe_mode) for b in branches]
    return Merge.from_config(config, custom_objects=custom_objects, safe_mode=safe_mode)


def model_to_dict(model: Any) -> dict[str, Any]:
    """`{'class_name', 'config', 'keras_version', 'backend'}`, what `to_json` writes."""
    return {
        "class_name": type(model).__name__,
        "config": model.get_config(),
        "keras_version": KERAS_VERSION,
        "backend": BACKEND,
    }


def _json_default(obj: Any) -> Any:
    """Keras's `get_json_type`: configurable objects, numpy values and named callables."""
    if hasattr(obj, "get_config"):
        return {"class_name": type(obj).__name__, "config": obj.get_config()}
    if type(obj).__module__ == "numpy":
        if getattr(obj, "ndim", 0):
            return {"type": "ndarray", "value": obj.tolist()}
        return obj.item()
    if callable(obj):
        return obj.__name__
    raise TypeError(f"Not JSON serializable: {obj!r}")


def model_to_json(model: Any, **kwargs: Any) -> str:
    """The model's architecture as JSON (`kwargs` go to `json.dumps`)."""
    return json.dumps(model_to_dict(model), default=_json_default, **kwargs)


def model_to_yaml(model: Any, **kwargs: Any) -> str:
    """The model's architecture as YAML (`kwargs` go to `yaml.dump`).

    Tuples are written as plain lists, so `yaml.safe_load` reads the result.
    """
    try:
        import yaml
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("`to_yaml` requires PyYAML: pip install pyyaml") from err
    plain = json.loads(model_to_json(model))
    return yaml.safe_dump(plain, **kwargs)
