"""Model and layer configs written by tf-keras 2.x and Keras 3, read in Keras 2.0.5 terms.

kgraph writes the Keras 2.0.5 format. Later Keras versions write the same information
with other keys; this module maps them, so `model_from_json` loads what any Keras wrote:

- layer entries gain `module`, `registered_name` and `build_config` keys (ignored);
- `dtype` becomes a policy dict (`{'class_name': 'DTypePolicy', 'config': {'name': ...}}`);
- InputLayer's `batch_input_shape` becomes `batch_shape`, with new `ragged`/`optional` flags;
- initializers get new class names (`GlorotUniform` for 2.0.5's `VarianceScaling` form),
  regularizers `L1`/`L2`, and activations may be `{'class_name': 'function', ...}`;
- Keras 3 writes inbound nodes as `{'args': [keras tensors], 'kwargs': {...}}` and one
  input or output as a flat `[name, node_index, tensor_index]`.

A new key that is set to its neutral value (`ragged=False`) is dropped; one that asks for
something kgraph does not do (`ragged=True`) raises an error naming the layer and the key.
"""

from __future__ import annotations

import inspect
import warnings
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "TensorRef",
    "CallSpec",
    "normalize_layer_config",
    "parse_inbound_nodes",
    "parse_tensor_refs",
]


@dataclass(frozen=True)
class TensorRef:
    """One tensor of a model config: output `tensor_index` of node `node_index` of a layer."""

    layer: str
    node_index: int
    tensor_index: int


@dataclass(frozen=True)
class CallSpec:
    """One call of a layer in a model config: its input tensors and call keyword arguments.

    `as_list` says the layer was called on a list even with a single tensor (only Keras 3
    records that); otherwise one tensor is passed alone and several as a list.
    """

    inputs: tuple[TensorRef, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)
    as_list: bool = False


# New keys, and the values that mean "what Keras 2.0.5 does anyway".
_NEUTRAL: dict[str, tuple[Any, ...]] = {
    "ragged": (False,),
    "optional": (False,),
    "sparse": (False,),
    "data_format": ("channels_last", None),
    "groups": (1,),
    "output_padding": (None,),
    "keepdims": (False,),
    "interpolation": ("nearest",),
    "synchronized": (False,),
    "renorm": (False,),
    "quantization_config": (None,),
    "lora_rank": (None, 0),
    "lora_alpha": (None,),
    "autocast": (True,),
}
# New keys that only choose how the same function is computed or how noise is drawn.
_IGNORABLE = frozenset({"implementation", "seed"})

# tf-keras / Keras 3 initializer classes that 2.0.5 writes as VarianceScaling.
_VARIANCE_SCALING: dict[str, tuple[float, str, str]] = {
    "GlorotUniform": (1.0, "fan_avg", "uniform"),
    "GlorotNormal": (1.0, "fan_avg", "normal"),
    "HeUniform": (2.0, "fan_in", "uniform"),
    "HeNormal": (2.0, "fan_in", "normal"),
    "LecunUniform": (1.0, "fan_in", "uniform"),
    "LecunNormal": (1.0, "fan_in", "normal"),
}


def _where(class_name: str, config: dict) -> str:
    name = config.get("name")
    return f"layer {name!r} ({class_name})" if name else f"a {class_name} layer"


def _dtype(value: Any, where: str) -> Any:
    if isinstance(value, dict):  # tf-keras `Policy`, Keras 3 `DTypePolicy`
        name = (value.get("config") or {}).get("name")
        if not isinstance(name, str):
            raise ValueError(f"{where}: cannot read the dtype policy {value!r} (no config.name)")
        value = name
    if isinstance(value, str) and value.startswith("mixed_"):
        warnings.warn(
            f"{where}: dtype policy {value!r} asks for mixed precision, which kgraph does not "
            "do; the layer computes in float32 (its variable dtype).",
            stacklevel=4,
        )
        return "float32"
    return value


def _initializer(value: Any, where: str) -> Any:
    name, cfg = value["class_name"], dict(value.get("config") or {})
    for key in ("input_axes", "output_axes"):  # Keras 3 fan axes; None = Keras 2's fans
        if cfg.get(key, None) is None:
            cfg.pop(key, None)
        else:
            raise ValueError(
                f"{where}: initializer {name} with {key}={cfg[key]!r} is not supported"
            )
    if name in _VARIANCE_SCALING:
        scale, mode, distribution = _VARIANCE_SCALING[name]
        return {"class_name": "VarianceScaling",
                "config": {"scale": scale, "mode": mode, "distribution": distribution,
                           "seed": cfg.get("seed")}}  # fmt: skip
    if name == "VarianceScaling":
        distribution = cfg.get("distribution", "normal")
        if distribution == "untruncated_normal":
            warnings.warn(
                f"{where}: VarianceScaling distribution 'untruncated_normal' has no Keras 2.0.5 "
                "form; kgraph draws from the truncated normal instead.",
                stacklevel=4,
            )
        if distribution in ("truncated_normal", "untruncated_normal"):
            cfg["distribution"] = "normal"
    return {"class_name": name, "config": cfg}


def _regularizer(value: Any) -> Any:
    name, cfg = value["class_name"], dict(value.get("config") or {})
    if name == "L1":
        return {"class_name": "L1L2", "config": {"l1": cfg.get("l1", 0.01), "l2": 0.0}}
    if name == "L2":
        return {"class_name": "L1L2", "config": {"l1": 0.0, "l2": cfg.get("l2", 0.01)}}
    return {"class_name": name, "config": cfg}


def _sub_object(key: str, value: Any, where: str) -> Any:
    if not isinstance(value, dict) or "class_name" not in value:
        return value
    if key.endswith("activation") and value["class_name"] == "function":
        return value.get("config")  # Keras 3 writes a named function as a dict
    if key.endswith("_initializer"):
        return _initializer(value, where)
    if key.endswith("_regularizer"):
        return _regularizer(value)
    if key.endswith("_constraint"):
        return {"class_name": value["class_name"], "config": dict(value.get("config") or {})}
    return value


def _named_args(init: Any) -> set[str]:
    try:
        params = inspect.signature(init).parameters
    except (TypeError, ValueError):
        return set()
    named = {p.name for p in params.values() if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}
    return named - {"self"}


def _constructor_args(cls: type) -> tuple[set[str], set[str]]:
    """The named arguments of `cls.__init__`, and those of it and its bases' `__init__`s
    (a subclass may take a base's argument through `**kwargs`, or pin it itself)."""
    inherited: set[str] = set()
    for klass in cls.__mro__:
        if "__init__" in vars(klass):
            inherited |= _named_args(vars(klass)["__init__"])
    return _named_args(cls.__init__), inherited


def normalize_layer_config(cls: type, class_name: str, config: dict) -> dict:
    """A layer config from any Keras, in the keys of kgraph's (Keras 2.0.5's) constructors.

    Args:
        cls: the layer class the config will build.
        class_name: the config's `class_name`, for messages.
        config: the layer's `config` dict (not modified).

    Returns:
        A new dict.

    Raises:
        ValueError: a new key with a value kgraph cannot honour, naming the layer.
    """
    where = _where(class_name, config)
    out = dict(config)
    if "batch_shape" in out:
        batch_shape = out.pop("batch_shape")
        out.setdefault("batch_input_shape", batch_shape)
    if "input_shape" in out and "batch_input_shape" in out:
        out.pop("input_shape")  # Keras writes both for an InputLayer; the batch form is complete
    if "dtype" in out:
        out["dtype"] = _dtype(out["dtype"], where)
    axis = out.get("axis")
    if class_name == "BatchNormalization" and isinstance(axis, list) and len(axis) == 1:
        out["axis"] = axis[0]  # tf-keras writes the built layer's axis as a one-item list
    own, inherited = _constructor_args(cls)
    for key in list(out):
        if key in own:
            out[key] = _sub_object(key, out[key], where)
        elif key in _IGNORABLE:
            del out[key]
        elif key in _NEUTRAL and out[key] in _NEUTRAL[key]:
            del out[key]
        elif key in _NEUTRAL and key not in inherited:
            raise ValueError(
                f"{where}: config key {key!r} = {out[key]!r} is not supported by kgraph "
                f"(only {', '.join(repr(v) for v in _NEUTRAL[key])} can be loaded)."
            )
        else:
            out[key] = _sub_object(key, out[key], where)
    return out


def _ref(entry: Any, where: str) -> TensorRef:
    if (
        not isinstance(entry, (list, tuple))
        or len(entry) < 3
        or not isinstance(entry[0], str)
        or not all(isinstance(i, int) for i in entry[1:3])
    ):
        raise ValueError(
            f"{where}: a tensor reference must be [layer_name, node_index, tensor_index], "
            f"got {entry!r}"
        )
    return TensorRef(entry[0], entry[1], entry[2])


def parse_tensor_refs(refs: Any, where: str) -> list[TensorRef]:
    """`input_layers`/`output_layers`: a list of `[name, node, tensor]`, or one flat triple."""
    if not isinstance(refs, (list, tuple)):
        raise ValueError(
            f"{where} must be a list of [layer_name, node_index, tensor_index], got {refs!r}"
        )
    if len(refs) == 3 and isinstance(refs[0], str):
        refs = [refs]
    return [_ref(r, where) for r in refs]


def _keras3_tensor(value: Any, where: str) -> TensorRef | None:
    if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
        history = (value.get("config") or {}).get("keras_history")
        return _ref(history, where)
    return None


def _has_tensor(value: Any) -> bool:
    if isinstance(value, dict):
        return value.get("class_name") == "__keras_tensor__" or any(
            map(_has_tensor, value.values())
        )
    if isinstance(value, (list, tuple)):
        return any(map(_has_tensor, value))
    return False


def _keras3_node(node: dict, where: str) -> CallSpec:
    args = node.get("args", [])
    kwargs = dict(node.get("kwargs") or {})
    for key, value in kwargs.items():
        if _has_tensor(value):
            raise ValueError(
                f"{where}: call argument {key!r} is a tensor, which kgraph cannot rebuild from a config"
            )
    if not args:
        raise ValueError(f"{where}: a node without positional arguments: {node!r}")
    if len(args) > 1:
        raise ValueError(
            f"{where}: kgraph rebuilds calls with one positional argument, got {len(args)}"
        )
    first = args[0]
    as_list = isinstance(first, (list, tuple))
    items = list(first) if as_list else [first]
    refs = [_keras3_tensor(v, where) for v in items]
    if any(r is None for r in refs):
        raise ValueError(f"{where}: a node's input is not a Keras tensor: {first!r}")
    return CallSpec(tuple(refs), kwargs, as_list)


def parse_inbound_nodes(nodes: Any, layer_name: str) -> list[CallSpec]:
    """A layer entry's `inbound_nodes`, in the 2.0.5/tf-keras list form or Keras 3's dicts.

    Raises:
        ValueError: an entry of neither form, naming the layer.
    """
    where = f"Layer {layer_name!r}, inbound_nodes"
    if not isinstance(nodes, (list, tuple)):
        raise ValueError(f"{where} must be a list, got {nodes!r}")
    calls = []
    for node in nodes:
        if isinstance(node, dict):
            calls.append(_keras3_node(node, where))
            continue
        if not isinstance(node, (list, tuple)) or not node:
            raise ValueError(
                f"{where}: each node must be a non-empty list of tensor entries, got {node!r}"
            )
        refs, kwargs = [], {}
        for entry in node:
            if not isinstance(entry, (list, tuple)) or len(entry) not in (3, 4):
                raise ValueError(
                    f"{where}: improperly formatted model config: each entry must be "
                    f"[layer_name, node_index, tensor_index] or [..., kwargs], got {entry!r}"
                )
            refs.append(_ref(entry, where))
            if len(entry) == 4:
                kwargs = dict(entry[3] or {})
        calls.append(CallSpec(tuple(refs), kwargs))
    return calls
