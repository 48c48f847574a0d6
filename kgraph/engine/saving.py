"""HDF5 weight files in Keras's own layout, written atomically, read without running code.

Layout (Keras 2): root attrs `layer_names`, `backend`, `keras_version`; one group per layer
with attr `weight_names` and one dataset per weight at its name (`dense_1/kernel:0` makes a
subgroup). Full-model files keep the same layout under `model_weights`.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from kgraph import backend as K

__all__ = ["save_weights", "load_weights", "atomic_h5", "open_h5", "KERAS_FORMAT_VERSION"]

KERAS_FORMAT_VERSION = "2.0.5"
"""The Keras version whose file layout kgraph writes (readers branch on this attribute)."""


def _h5py():
    import h5py

    return h5py


@contextlib.contextmanager
def atomic_h5(filepath: str, overwrite: bool = True) -> Iterator[Any]:
    """An HDF5 file opened for writing at a temporary path and renamed over `filepath` only
    when the block succeeds, so a failed or interrupted save never destroys the old file."""
    h5py = _h5py()
    filepath = os.fspath(filepath)
    if not overwrite and os.path.exists(filepath):
        raise FileExistsError(f"{filepath} exists and overwrite=False")
    directory = os.path.dirname(os.path.abspath(filepath))
    fd, tmp = tempfile.mkstemp(prefix=".kgraph-", suffix=".h5.tmp", dir=directory)
    os.close(fd)
    try:
        with h5py.File(tmp, "w") as f:
            yield f
        os.replace(tmp, filepath)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@contextlib.contextmanager
def open_h5(filepath: str) -> Iterator[Any]:
    """Opens an HDF5 file for reading; anything else gives a ValueError that says so."""
    h5py = _h5py()
    try:
        f = h5py.File(os.fspath(filepath), "r")
    except FileNotFoundError:
        raise
    except (OSError, ValueError) as err:
        raise ValueError(f"{filepath} is not a readable HDF5 file (truncated, corrupted or another format): {err}") from None
    try:
        yield f
    finally:
        f.close()


def _layer_weights(layer) -> list:
    """A layer's weights in file order (a nested model: all trainable, then non-trainable)."""
    if hasattr(layer, "_node_order"):
        return list(layer.trainable_weights) + list(layer.non_trainable_weights)
    return list(layer.weights)


def _saved_layers(model) -> list:
    return list(model.layers)


def save_weights_to_group(group, layers: Sequence[Any]) -> None:
    group.attrs["layer_names"] = np.array([la.name.encode("utf8") for la in layers])
    group.attrs["backend"] = b"tensorflow"
    group.attrs["keras_version"] = KERAS_FORMAT_VERSION.encode("utf8")
    for layer in layers:
        g = group.create_group(layer.name)
        weights = _layer_weights(layer)
        names = [w.name for w in weights]
        g.attrs["weight_names"] = np.array([n.encode("utf8") for n in names], dtype="S" if names else "S1")
        for name, value in zip(names, K.batch_get_value(weights)):
            ds = g.create_dataset(name, value.shape, dtype=value.dtype)
            ds[()] = value


def save_weights(model, filepath: str, overwrite: bool = True) -> None:
    """Writes the model's weights in Keras 2's HDF5 layout (atomically)."""
    with atomic_h5(filepath, overwrite) as f:
        save_weights_to_group(f, _saved_layers(model))


def _attr_strings(group, name: str) -> list[str]:
    if name not in group.attrs:
        raise ValueError(f"Not a Keras weight file: group {group.name!r} has no {name!r} attribute")
    values = group.attrs[name]
    if isinstance(values, (bytes, str)):
        values = [values]
    return [v.decode("utf8") if isinstance(v, bytes) else str(v) for v in np.asarray(values).ravel()]


def _read_layer(group, layer_name: str) -> tuple[list[str], list[np.ndarray]]:
    if layer_name not in group:
        raise ValueError(f"Weight file lists layer {layer_name!r} but has no group for it")
    g = group[layer_name]
    names = _attr_strings(g, "weight_names")
    values = []
    for n in names:
        if n not in g:
            raise ValueError(f"Weight file: layer {layer_name!r} lists weight {n!r} that is missing")
        values.append(np.asarray(g[n][()]))
    return names, values


def _assign(layer, values: list[np.ndarray], skip_mismatch: bool, source: str) -> None:
    weights = _layer_weights(layer)
    if len(weights) != len(values):
        msg = (f"Layer {layer.name} ({type(layer).__name__}) expects {len(weights)} weight(s), but "
               f"the saved weights for {source} have {len(values)} element(s).")  # fmt: skip
        if skip_mismatch:
            warnings.warn(f"Skipping loading of weights for layer {layer.name}: {msg}", stacklevel=3)
            return
        raise ValueError(msg)
    for w, v in zip(weights, values):
        if tuple(w.shape) != tuple(v.shape):
            msg = (f"Layer {layer.name}: weight {w.name} has shape {tuple(w.shape)}, but the saved "
                   f"weight for {source} has shape {tuple(v.shape)}.")  # fmt: skip
            if skip_mismatch:
                warnings.warn(f"Skipping loading of weights for layer {layer.name}: {msg}", stacklevel=3)
                return
            raise ValueError(msg)
    K.batch_set_value(list(zip(weights, values)))


def load_weights_from_group(group, layers: Sequence[Any], by_name: bool = False, skip_mismatch: bool = False) -> None:
    if "layer_names" not in group.attrs and "model_weights" in group:
        group = group["model_weights"]
    file_layers = _attr_strings(group, "layer_names")
    if by_name:
        index: dict[str, list] = {}
        for layer in layers:
            index.setdefault(layer.name, []).append(layer)
        for name in file_layers:
            _, values = _read_layer(group, name)
            for layer in index.get(name, []):
                _assign(layer, values, skip_mismatch, f"layer {name!r}")
        return
    with_weights = [la for la in layers if _layer_weights(la)]
    saved = [(n, _read_layer(group, n)[1]) for n in file_layers]
    saved = [(n, v) for n, v in saved if v]
    if len(saved) != len(with_weights):
        raise ValueError(
            f"You are trying to load a weight file containing {len(saved)} layers into a model "
            f"with {len(with_weights)} layers."
        )
    for layer, (name, values) in zip(with_weights, saved):
        _assign(layer, values, skip_mismatch, f"layer {name!r}")


def load_weights(model, filepath: str, by_name: bool = False, skip_mismatch: bool = False) -> None:
    """Loads weights saved by kgraph or Keras (2.0.x or tf-keras 2.x, Keras 2 layout)."""
    if skip_mismatch and not by_name:
        raise ValueError("When calling model.load_weights, skip_mismatch can only be set to True when by_name is True.")
    with open_h5(filepath) as f:
        load_weights_from_group(f, _saved_layers(model), by_name=by_name, skip_mismatch=skip_mismatch)
