"""`model_from_config`, `model_from_json`, `model_from_yaml` (`keras.models`).

They read configs written by kgraph, Keras 2.0.5, tf-keras 2.x and Keras 3. Loading runs no
code from the config: YAML is read with a safe loader, and a `Lambda`'s bytecode is
refused unless `safe_mode=False`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

__all__ = ["model_from_config", "model_from_json", "model_from_yaml"]


def model_from_config(config: Mapping[str, Any], custom_objects: Mapping[str, Any] | None = None,
                      safe_mode: bool = True) -> Any:  # fmt: skip
    """Instantiates a model from `{'class_name', 'config'}` (what `to_json` holds).

    Args:
        config: the model config dict (`keras_version`/`backend` keys are ignored).
        custom_objects: names of custom layers, functions, ...
        safe_mode: refuse configs that would run code when loaded.

    Returns:
        A `Model` or `Sequential` (uncompiled, freshly initialized weights).

    Raises:
        TypeError: `config` is a list (that is a Sequential's inner config).
        ValueError: an unknown class name or a malformed config.

    Example:
        ```python
        clone = model_from_config({'class_name': 'Sequential', 'config': model.get_config()})
        ```
    """
    from kgraph.layers.serialization import deserialize

    if isinstance(config, list):
        raise TypeError(
            "`model_from_config` expects a dictionary, not a list. Maybe you meant to use "
            "`Sequential.from_config(config)`?"
        )
    try:
        return deserialize(config, custom_objects=custom_objects, safe_mode=safe_mode)
    except (ValueError, TypeError, KeyError):
        raise
    except Exception as err:  # a malformed value deep in a layer's config
        raise ValueError(
            f"Cannot build the model from this config: {type(err).__name__}: {err}"
        ) from err


def model_from_json(json_string: str, custom_objects: Mapping[str, Any] | None = None,
                    safe_mode: bool = True) -> Any:  # fmt: skip
    """Instantiates a model from `model.to_json()` (or a JSON config written by Keras).

    Example:
        ```python
        clone = model_from_json(model.to_json())
        clone.set_weights(model.get_weights())
        ```
    """
    try:
        config = json.loads(json_string)
    except RecursionError:
        raise ValueError("The model JSON is nested too deeply to be a model config") from None
    return model_from_config(config, custom_objects, safe_mode)


def _safe_yaml_loader() -> type:
    import yaml

    class Loader(yaml.SafeLoader):
        """SafeLoader that also reads `!!python/tuple`, which Keras 2.0.5's `to_yaml` writes
        for shapes (as a list; nothing else of Python's tags is accepted)."""

    Loader.add_constructor(
        "tag:yaml.org,2002:python/tuple", lambda loader, node: loader.construct_sequence(node)
    )
    return Loader


def model_from_yaml(yaml_string: str, custom_objects: Mapping[str, Any] | None = None,
                    safe_mode: bool = True) -> Any:  # fmt: skip
    """Instantiates a model from `model.to_yaml()` (or Keras 2.0.5's YAML)."""
    try:
        import yaml
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("`model_from_yaml` requires PyYAML: pip install pyyaml") from err
    config = yaml.load(yaml_string, Loader=_safe_yaml_loader())  # noqa: S506 - a SafeLoader
    return model_from_config(config, custom_objects, safe_mode)
