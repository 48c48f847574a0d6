"""`keras.layers.serialize` / `deserialize`: a layer (or model) to and from its config."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kgraph.engine.config_dialects import normalize_layer_config
from kgraph.engine.topology import Layer
from kgraph.utils.generic_utils import (
    CustomObjectScope,
    deserialize_keras_object,
    get_custom_objects,
    has_arg,
)

__all__ = ["serialize", "deserialize"]


def serialize(layer: Layer) -> dict[str, Any]:
    """`{'class_name': ..., 'config': layer.get_config()}`.

    Example:
        ```python
        serialize(Dense(2))['class_name']   # 'Dense'
        ```
    """
    return {"class_name": type(layer).__name__, "config": layer.get_config()}


def _layer_classes() -> dict[str, type]:
    """Every layer class of `kgraph.layers` (read at call time), plus the model classes."""
    import kgraph.layers as layers_module
    from kgraph.models import Model, Sequential

    classes = {
        name: obj
        for name, obj in vars(layers_module).items()
        if isinstance(obj, type) and issubclass(obj, Layer)
    }
    # tf-keras and Keras 3 write functional models as 'Functional'.
    classes.update(Model=Model, Sequential=Sequential, Functional=Model)
    return classes


def _resolve(config: Mapping[str, Any], custom_objects: Mapping[str, Any] | None) -> type:
    classes = _layer_classes()
    class_name = config["class_name"]
    try:
        cls = deserialize_keras_object(class_name, classes, custom_objects, "layer")
    except ValueError:
        # A registered custom class (tf-keras / Keras 3 write 'package>Name').
        registered = config.get("registered_name")
        scope = {**get_custom_objects(), **(custom_objects or {})}
        if not isinstance(registered, str) or registered not in scope:
            raise
        cls = scope[registered]
    if not (isinstance(cls, type) and issubclass(cls, Layer)):
        raise TypeError(f"{class_name!r} names {cls!r}, which is not a Layer class")
    return cls


def deserialize(
    config: Mapping[str, Any],
    custom_objects: Mapping[str, Any] | None = None,
    safe_mode: bool = True,
) -> Layer:
    """Builds a layer or model from `{'class_name', 'config'}`.

    The class is looked up among the layer classes of `kgraph.layers`, `Model` (also
    under tf-keras's name `Functional`) and `Sequential`, then `custom_objects`
    and the global custom objects (`CustomObjectScope`). Configs written by Keras 2.0.5,
    tf-keras 2.x and Keras 3 all load (see `kgraph.engine.config_dialects`).

    Args:
        config: the serialized layer (`serialize`'s output, or an entry of a model config).
        custom_objects: names of custom layers, initializers, functions, ...
        safe_mode: refuse configs that would run code when loaded (a `Lambda`'s bytecode).

    Returns:
        The layer (unconnected) or the model.

    Raises:
        ValueError: an unknown class name (the message lists the valid ones), or a
            malformed config (the message names the missing key).
        TypeError: a config key the layer's constructor does not take, naming the layer.

    Example:
        ```python
        layer = deserialize({'class_name': 'Dense', 'config': {'units': 3}})
        ```
    """
    if not isinstance(config, Mapping):
        raise ValueError(
            f"A layer config must be a dict with keys 'class_name' and 'config', got "
            f"{type(config).__name__}: {str(config)[:200]}"
        )
    for key in ("class_name", "config"):
        if key not in config:
            raise ValueError(
                f"Malformed layer config: missing key {key!r} (keys found: {sorted(config)}): "
                f"{str(dict(config))[:200]}"
            )
    from kgraph.engine.network import Container

    cls = _resolve(config, custom_objects)
    class_name, layer_config = config["class_name"], config["config"]
    is_model = issubclass(cls, Container)
    if isinstance(layer_config, Mapping) and not is_model:
        layer_config = normalize_layer_config(cls, class_name, dict(layer_config))
    kwargs: dict[str, Any] = {}
    if has_arg(cls.from_config, "custom_objects"):
        kwargs["custom_objects"] = {**get_custom_objects(), **(custom_objects or {})}
    if has_arg(cls.from_config, "safe_mode"):
        kwargs["safe_mode"] = safe_mode
    with CustomObjectScope(dict(custom_objects or {})):
        if is_model:
            return cls.from_config(layer_config, **kwargs)
        try:
            return cls.from_config(layer_config, **kwargs)
        except TypeError as err:
            name = layer_config.get("name") if isinstance(layer_config, Mapping) else None
            raise TypeError(
                f"Cannot build layer {name!r} ({class_name}) from its config: {err}"
            ) from err
