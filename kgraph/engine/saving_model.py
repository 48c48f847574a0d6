"""Whole-model HDF5 files in Keras's layout: `model.save` and `kgraph.models.load_model`.

Layout (KERAS_API.md 7.2)::

    /                    attrs keras_version, backend, model_config (JSON),
                         training_config (JSON, when compiled and include_optimizer)
    /model_weights       the weight-file layout of `save_weights`
    /optimizer_weights   attr weight_names; one dataset per optimizer weight, in the
                         order tf-keras restores them (see saving_optimizer)

Loading reads files written by kgraph, Keras 2.0.x and tf-keras 2.x (whose training config
stores metric objects, loss objects and newer optimizer settings, mapped here onto their
Keras 2.0.5 equivalents). It never runs code from the file: the config is JSON, and a
`Lambda` stored as bytecode is refused unless `safe_mode=False`.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Mapping
from typing import Any

from kgraph.engine.saving import (
    KERAS_FORMAT_VERSION,
    KerasFileError,
    atomic_h5,
    attr_text,
    load_weights_from_group,
    open_h5,
    reading,
    save_weights_to_group,
    saved_layers,
)
from kgraph.engine.saving_optimizer import restore_optimizer_weights, save_optimizer_weights

__all__ = ["save_model", "load_model", "training_config", "compile_args"]


def _plain(value: Any) -> Any:
    """`loss`/`metrics` as Keras 2.0.5 stores them: functions by name, containers as is."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if callable(value):
        return getattr(value, "__name__", type(value).__name__)
    return value


def training_config(model: Any) -> dict[str, Any]:
    """The `training_config` attribute: optimizer config, loss, metrics, loss weights and
    sample weight mode, as passed to `compile`."""
    optimizer = model.optimizer
    return {
        "optimizer_config": {"class_name": type(optimizer).__name__, "config": optimizer.get_config()},
        "loss": _plain(model.loss),
        "metrics": _plain(model.metrics),
        "sample_weight_mode": model.sample_weight_mode,
        "loss_weights": _plain(model.loss_weights),
    }


def save_model(model: Any, filepath: str, overwrite: bool = True, include_optimizer: bool = True) -> None:
    """Writes the architecture, weights, training config and optimizer state to one HDF5
    file in Keras's layout, atomically (a failed save keeps the previous file).

    Args:
        model: a `Model` or `Sequential`.
        filepath: where to write.
        overwrite: replace an existing file (False raises FileExistsError instead).
        include_optimizer: also write the training config and the optimizer's state.
    """
    from kgraph.engine.config import model_to_json

    config = json.loads(model_to_json(model))
    model_config = {"class_name": config["class_name"], "config": config["config"]}
    compiled = getattr(model, "_compiled", False) and getattr(model, "optimizer", None) is not None
    with atomic_h5(filepath, overwrite) as f:
        f.attrs["keras_version"] = KERAS_FORMAT_VERSION.encode("utf8")
        f.attrs["backend"] = b"tensorflow"
        f.attrs["model_config"] = json.dumps(model_config).encode("utf8")
        save_weights_to_group(f.create_group("model_weights"), saved_layers(model))
        if include_optimizer and compiled:
            f.attrs["training_config"] = json.dumps(training_config(model)).encode("utf8")
            save_optimizer_weights(f, model.optimizer, model._collected_trainable_weights,
                                   model.trainable_weights)  # fmt: skip


def _json_attr(f: Any, name: str, filepath: str) -> Any:
    text = attr_text(f, name)
    if text is None:
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as err:
        raise KerasFileError(f"{filepath}: the {name!r} attribute is not valid JSON ({err})") from None


def load_model(filepath: str, custom_objects: Mapping[str, Any] | None = None, compile: bool = True,  # noqa: A002
               safe_mode: bool = True) -> Any:  # fmt: skip
    """Loads a model saved by `model.save` (kgraph, Keras 2.0.x or tf-keras 2.x, HDF5).

    Args:
        filepath: the `.h5` file.
        custom_objects: names of custom layers, losses, metrics, optimizers...
        compile: compile with the saved training config and restore the optimizer state,
            so that training continues where it stopped. A file without a training config
            gives an uncompiled model (with a warning).
        safe_mode: refuse a `Lambda` stored as Python bytecode (loading it would run code
            from the file). Pass False only for files you trust.

    Returns:
        The model, with its weights (and optimizer state) as saved.

    Raises:
        FileNotFoundError: no such file.
        KerasFileError: not an HDF5 file, damaged, a weights-only file, or a config this
            version cannot read (the message says which).
        ValueError: a config that asks for code (`safe_mode`), an unknown class or function
            name (pass `custom_objects`), or weights that do not fit the architecture.

    Example:
        ```python
        model.save('model.h5')
        model = kgraph.models.load_model('model.h5')
        model.train_on_batch(x, y)   # continues with the saved optimizer state
        ```
    """
    from kgraph.models_io import model_from_config
    from kgraph.utils.generic_utils import CustomObjectScope

    filepath = os.fspath(filepath)
    with open_h5(filepath) as f, reading(filepath), CustomObjectScope(dict(custom_objects or {})):
        model_config = _json_attr(f, "model_config", filepath)
        if model_config is None:
            hint = (" It holds only weights: build the model and call `model.load_weights`."
                    if "layer_names" in f.attrs else "")  # fmt: skip
            raise KerasFileError(f"{filepath} has no model config (attribute 'model_config').{hint}")
        if not isinstance(model_config, Mapping):
            raise KerasFileError(f"{filepath}: the model config is a {type(model_config).__name__}, not an object")
        model = model_from_config(model_config, custom_objects=custom_objects, safe_mode=safe_mode)
        if "model_weights" not in f:
            raise KerasFileError(f"{filepath} has a model config but no 'model_weights' group")
        load_weights_from_group(f["model_weights"], saved_layers(model))
        if not compile:
            return model
        config = _json_attr(f, "training_config", filepath)
        if config is None:
            warnings.warn("No training configuration found in save file: the model was *not* "
                          "compiled. Compile it manually.", stacklevel=2)  # fmt: skip
            return model
        model.compile(**compile_args(config, model.output_names))
        if "optimizer_weights" in f:
            model._make_train_function()
            restore_optimizer_weights(model, f["optimizer_weights"], attr_text(f, "keras_version"),
                                      config["optimizer_config"])  # fmt: skip
    return model


# -- training configs written by Keras 2.0.x and tf-keras 2.x ------------------------------

_LOSS_CLASSES = {
    "MeanSquaredError": "mean_squared_error", "MeanAbsoluteError": "mean_absolute_error",
    "MeanAbsolutePercentageError": "mean_absolute_percentage_error",
    "MeanSquaredLogarithmicError": "mean_squared_logarithmic_error",
    "BinaryCrossentropy": "binary_crossentropy", "CategoricalCrossentropy": "categorical_crossentropy",
    "SparseCategoricalCrossentropy": "sparse_categorical_crossentropy", "Hinge": "hinge",
    "SquaredHinge": "squared_hinge", "CategoricalHinge": "categorical_hinge",
    "KLDivergence": "kullback_leibler_divergence", "Poisson": "poisson", "LogCosh": "logcosh",
}  # fmt: skip
_METRIC_CLASSES = {
    "BinaryAccuracy": "binary_accuracy", "CategoricalAccuracy": "categorical_accuracy",
    "SparseCategoricalAccuracy": "sparse_categorical_accuracy",
    "TopKCategoricalAccuracy": "top_k_categorical_accuracy",
    "SparseTopKCategoricalAccuracy": "sparse_top_k_categorical_accuracy", **_LOSS_CLASSES,
}  # fmt: skip
_ACCURACIES = ("binary_accuracy", "categorical_accuracy", "sparse_categorical_accuracy")
# Settings of tf-keras loss/metric objects that leave Keras 2.0.5's function unchanged.
_NEUTRAL = {"name": None, "dtype": None, "reduction": ("auto", "sum_over_batch_size"),
            "from_logits": (False,), "label_smoothing": (0, 0.0), "axis": (-1,),
            "fn": None, "k": (5,), "ignore_class": (None,)}  # fmt: skip


def _is_object(value: Any) -> bool:
    return isinstance(value, Mapping) and "class_name" in value


def _function_name(entry: Any, table: Mapping[str, str], what: str) -> Any:
    """A loss/metric entry of a training config as a Keras 2.0.5 name (or the name of a
    custom function, resolved later through `custom_objects`)."""
    if entry is None or isinstance(entry, str):
        return entry
    if not _is_object(entry):
        raise KerasFileError(f"Cannot read the {what} {entry!r} in the training config")
    class_name, config = entry["class_name"], entry.get("config")
    if class_name == "function" and isinstance(config, str):  # Keras 3 names a function so
        return config
    if not isinstance(config, Mapping):
        config = {}
    if class_name == "MeanMetricWrapper":
        fn, name = config.get("fn"), config.get("name")
        if fn in _ACCURACIES and isinstance(name, str) and name.endswith(("acc", "accuracy")):
            return "acc"
        if isinstance(fn, str):
            return fn
        raise KerasFileError(f"Cannot read the {what} {entry!r}: no function name")
    name = table.get(class_name)
    bad = {k: v for k, v in config.items()
           if k not in _NEUTRAL or (_NEUTRAL[k] is not None and v not in _NEUTRAL[k])}  # fmt: skip
    if name is None or bad:
        detail = f" with {bad}" if name is not None else ""
        raise ValueError(
            f"The training config uses the {what} {class_name}{detail}, which has no Keras 2.0.5 "
            "equivalent. Load with `compile=False` and compile the model yourself."
        )
    return name


def _per_output(value: Any, outputs: list[str], convert) -> Any:
    if isinstance(value, Mapping) and not _is_object(value):
        return {k: convert(v) for k, v in value.items()}
    if isinstance(value, list):
        return [convert(v) for v in value]
    return convert(value)


def _metrics(value: Any, outputs: list[str]) -> Any:
    """2.0.5's `metrics` (a list, or a dict by output) from 2.0.5's or tf-keras's form
    (tf-keras: one list per output, `null` for none)."""
    def one(v):
        return _function_name(v, _METRIC_CLASSES, "metric")

    if value is None:
        return None
    if isinstance(value, Mapping) and not _is_object(value):
        return {k: [one(m) for m in (v if isinstance(v, list) else [v])] for k, v in value.items()}
    if not isinstance(value, list):
        return [one(value)]
    if value and all(isinstance(v, list) or v is None for v in value):
        per_output = [[one(m) for m in (v or []) if m is not None] for v in value]
        if len(per_output) != len(outputs):
            raise KerasFileError(f"The training config lists metrics for {len(per_output)} outputs; the model has {len(outputs)}")
        if all(p == per_output[0] for p in per_output):
            return per_output[0]
        return {name: p for name, p in zip(outputs, per_output) if p}
    return [one(m) for m in value]


def compile_args(config: Any, output_names: list[str]) -> dict[str, Any]:
    """`Model.compile` arguments from a training config written by Keras 2.0.x or tf-keras.

    Raises:
        KerasFileError: a malformed training config.
        ValueError: an optimizer, loss or metric setting with no Keras 2.0.5 equivalent.
    """
    from kgraph import optimizers

    if not isinstance(config, Mapping) or not _is_object(config.get("optimizer_config")):
        raise KerasFileError("The training config has no optimizer_config {'class_name', 'config'}")
    opt = dict(config["optimizer_config"])
    if not isinstance(opt["class_name"], str) or not isinstance(opt.get("config", {}), Mapping):
        raise KerasFileError(f"Malformed optimizer_config in the training config: {opt!r}"[:300])
    # tf-keras registers its current optimizers as `Custom>Adam`, Keras 3 as module paths.
    opt["class_name"] = opt["class_name"].split(">")[-1]
    opt["config"] = dict(opt.get("config") or {})
    if config.get("weighted_metrics"):
        warnings.warn("The training config's weighted_metrics are not part of Keras 2.0.5 and "
                      "are not restored.", stacklevel=3)  # fmt: skip
    loss_weights = config.get("loss_weights")
    if loss_weights is not None and not isinstance(loss_weights, (list, Mapping)):
        raise KerasFileError(f"Malformed loss_weights in the training config: {loss_weights!r}")
    mode = config.get("sample_weight_mode")
    if mode is not None and not isinstance(mode, (str, list, Mapping)):
        raise KerasFileError(f"Malformed sample_weight_mode in the training config: {mode!r}")
    return {
        "optimizer": optimizers.deserialize(opt),
        "loss": _per_output(config.get("loss"), output_names,
                            lambda v: _function_name(v, _LOSS_CLASSES, "loss")),  # fmt: skip
        "metrics": _metrics(config.get("metrics"), output_names),
        "loss_weights": loss_weights,
        "sample_weight_mode": mode,
    }
