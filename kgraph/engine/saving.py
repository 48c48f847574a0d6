"""HDF5 weight files in Keras's own layout, written atomically, read without running code.

Layout (Keras 2): root attrs `layer_names`, `backend`, `keras_version`; one group per layer
with attr `weight_names` and one dataset per weight at its name (`dense_1/kernel:0` makes a
subgroup). Full-model files keep the same layout under `model_weights`. Name lists too large
for one HDF5 attribute are split into `layer_names0`, `layer_names1`, ... as Keras does.

Every reader turns what a damaged or foreign file makes h5py, numpy or json raise into a
`KerasFileError` (a `ValueError`) that names the file and what is wrong with it.
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
from kgraph.engine.saving_legacy import convert_weights, file_origin

__all__ = [
    "save_weights", "load_weights", "atomic_h5", "open_h5", "reading", "KerasFileError",
    "KERAS_FORMAT_VERSION", "save_attributes", "load_attributes", "save_weights_to_group",
    "load_weights_from_group",
]  # fmt: skip

KERAS_FORMAT_VERSION = "2.0.5"
"""The Keras version whose file layout kgraph writes (readers branch on this attribute)."""

HDF5_OBJECT_HEADER_LIMIT = 64512
"""Bytes an HDF5 object header holds: a longer attribute must be split (Keras's limit)."""


class KerasFileError(ValueError):
    """A file that is not a readable Keras model or weight file: not HDF5, truncated,
    corrupted, or missing what the Keras layout requires. The message names the file."""


def _h5py():
    import h5py

    return h5py


def _file_mode(filepath: str) -> int:
    """The permissions a plain `open(filepath, "w")` would give (temp files start at 0600)."""
    if os.path.exists(filepath):
        return os.stat(filepath).st_mode & 0o777
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def target_directory(filepath: str) -> str:
    """The folder a file is to be written into; FileNotFoundError naming it when missing
    (the temporary file written first would otherwise appear in the message)."""
    directory = os.path.dirname(os.path.abspath(filepath))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"Cannot write {filepath}: no such directory {directory}")
    return directory


@contextlib.contextmanager
def atomic_h5(filepath: str, overwrite: bool = True) -> Iterator[Any]:
    """An HDF5 file opened for writing at a temporary path and renamed over `filepath` only
    when the block succeeds, so a failed or interrupted save never destroys the old file."""
    h5py = _h5py()
    filepath = os.fspath(filepath)
    if not overwrite and os.path.exists(filepath):
        raise FileExistsError(f"{filepath} exists and overwrite=False")
    directory = target_directory(filepath)
    fd, tmp = tempfile.mkstemp(prefix=".kgraph-", suffix=".h5.tmp", dir=directory)
    os.close(fd)
    try:
        with h5py.File(tmp, "w") as f:
            yield f
        os.chmod(tmp, _file_mode(filepath))
        os.replace(tmp, filepath)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@contextlib.contextmanager
def open_h5(filepath: str) -> Iterator[Any]:
    """Opens an HDF5 file for reading; anything else gives a KerasFileError that says so."""
    from kgraph.engine.h5_probe import ProbeFailed, probe

    h5py = _h5py()
    filepath = os.fspath(filepath)
    if not os.path.exists(filepath):
        raise FileNotFoundError(f"No such file: {filepath!r}")
    if os.path.isdir(filepath):
        raise KerasFileError(f"{filepath} is a directory, not an HDF5 file")
    try:
        probe(filepath)  # the HDF5 library can crash on a damaged file: try it in a child
    except ProbeFailed as err:
        raise KerasFileError(f"{filepath} is damaged: {err}") from None
    try:
        f = h5py.File(filepath, "r")
    except FileNotFoundError:
        raise
    except (OSError, ValueError) as err:
        raise KerasFileError(
            f"{filepath} is not a readable HDF5 file (truncated, corrupted or another format): {err}"
        ) from None
    try:
        yield f
    finally:
        f.close()


@contextlib.contextmanager
def reading(filepath: Any) -> Iterator[None]:
    """Turns the errors a damaged file makes h5py, numpy or json raise while it is read into
    a KerasFileError; kgraph's own ValueErrors and TypeErrors (already clear: an unknown
    layer, a shape that does not fit) pass through unchanged."""
    try:
        yield
    except (KerasFileError, FileNotFoundError):
        raise
    except UnicodeError as err:  # names and configs are UTF-8 text in every Keras file
        raise KerasFileError(f"{filepath}: the file is damaged or not a Keras file ({err})") from err
    except (ValueError, TypeError) as err:
        if _raised_by_kgraph(err):
            raise
        raise KerasFileError(
            f"{filepath}: the file is damaged or not a Keras file ({type(err).__name__}: {err})"
        ) from err
    except (OSError, KeyError, IndexError, AttributeError, RuntimeError, OverflowError,
            MemoryError, RecursionError) as err:  # fmt: skip
        raise KerasFileError(
            f"{filepath}: the file is damaged or not a Keras file "
            f"({type(err).__name__}: {err})"
        ) from err


def _raised_by_kgraph(err: BaseException) -> bool:
    """Whether the innermost frame of `err` is kgraph's own code (whose messages already say
    what is wrong) rather than h5py's, numpy's or json's."""
    tb = err.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and str(tb.tb_frame.f_globals.get("__name__", "")).startswith(("kgraph", "lowering"))


def save_attributes(group, name: str, values: Sequence[str]) -> None:
    """Writes a list of strings as attribute `name`, split into `name0`, `name1`, ... when
    it exceeds what one HDF5 object header holds (as Keras writes long name lists)."""
    data = np.array([v.encode("utf8") for v in values], dtype="S" if values else "S1")
    too_long = [v for v in values if len(v.encode("utf8")) > HDF5_OBJECT_HEADER_LIMIT]
    if too_long:
        raise ValueError(
            f"The following attributes cannot be saved to HDF5 because they are larger than "
            f"{HDF5_OBJECT_HEADER_LIMIT} bytes: {too_long[0][:80]}..."
        )
    chunks = 1
    while chunks < max(len(data), 1) and np.array_split(data, chunks)[0].nbytes >= HDF5_OBJECT_HEADER_LIMIT:
        chunks += 1
    if chunks > 1:
        for i, chunk in enumerate(np.array_split(data, chunks)):
            group.attrs[f"{name}{i}"] = chunk
    else:
        group.attrs[name] = data


def load_attributes(group, name: str) -> list[str] | None:
    """A list of strings stored by `save_attributes` (or by Keras / tf-keras), or None."""
    if name in group.attrs:
        raw = [group.attrs[name]]
    elif f"{name}0" in group.attrs:
        raw, i = [], 0
        while f"{name}{i}" in group.attrs:
            raw.append(group.attrs[f"{name}{i}"])
            i += 1
    else:
        return None
    out: list[str] = []
    for values in raw:
        if isinstance(values, (bytes, str)):
            values = [values]
        values = np.asarray(values)
        # An empty list is written as an empty float array by h5py (tf-keras does that).
        if values.size and values.dtype.kind not in ("S", "U", "O"):
            raise KerasFileError(
                f"Not a Keras file: attribute {name!r} of group {group.name!r} holds "
                f"{values.dtype} values, not names"
            )
        for v in values.ravel():
            if not isinstance(v, (bytes, str)):
                raise KerasFileError(f"Not a Keras file: attribute {name!r} holds {type(v).__name__}, not names")
            out.append(v.decode("utf8") if isinstance(v, bytes) else v)
    return out


def attr_text(group, name: str) -> str | None:
    """A string attribute (`model_config`, `keras_version`...) written as bytes or str."""
    if name not in group.attrs:
        return None
    value = group.attrs[name]
    if isinstance(value, np.ndarray) and value.shape == () and value.dtype.kind in ("S", "U", "O"):
        value = value.item()
    if isinstance(value, bytes):
        return value.decode("utf8")
    if isinstance(value, str):
        return value
    raise KerasFileError(f"Not a Keras file: attribute {name!r} should be text, found {type(value).__name__}")


def _layer_weights(layer) -> list:
    """A layer's weights in file order (a nested model: all trainable, then non-trainable)."""
    if hasattr(layer, "_node_order"):
        return list(layer.trainable_weights) + list(layer.non_trainable_weights)
    return list(layer.weights)


def saved_layers(model) -> list:
    # Sequential files list the layers it trains (a legacy Merge's branches flattened).
    from kgraph.models import Sequential

    return list(model._own_layers()) if isinstance(model, Sequential) else list(model.layers)


def save_weights_to_group(group, layers: Sequence[Any]) -> None:
    """Writes `layers`' weights into `group` in Keras 2's layout (KERAS_API.md 7.1)."""
    save_attributes(group, "layer_names", [la.name for la in layers])
    group.attrs["backend"] = b"tensorflow"
    group.attrs["keras_version"] = KERAS_FORMAT_VERSION.encode("utf8")
    for layer in layers:
        g = group.create_group(layer.name)
        weights = _layer_weights(layer)
        names = [w.name for w in weights]
        save_attributes(g, "weight_names", names)
        for name, value in zip(names, K.batch_get_value(weights)):
            ds = g.create_dataset(name, value.shape, dtype=value.dtype)
            ds[()] = value


def save_weights(model, filepath: str, overwrite: bool = True) -> None:
    """Writes the model's weights in Keras 2's HDF5 layout (atomically)."""
    with atomic_h5(filepath, overwrite) as f:
        save_weights_to_group(f, saved_layers(model))


def _attr_strings(group, name: str) -> list[str]:
    values = load_attributes(group, name)
    if values is None:
        raise KerasFileError(f"Not a Keras weight file: group {group.name!r} has no {name!r} attribute")
    return values


def read_array(group, name: str, what: str) -> np.ndarray:
    """The numeric dataset `name` of `group`, checked (a group or text is a damaged file)."""
    h5py = _h5py()
    if name not in group:
        raise KerasFileError(f"{what} lists weight {name!r}, which is missing from the file")
    if not isinstance(group.get(name, getlink=True), h5py.HardLink):
        # Soft and external links could point anywhere, even into other files.
        raise KerasFileError(f"{what}: weight {name!r} is a link, not a dataset")
    ds = group[name]
    if not isinstance(ds, h5py.Dataset):
        raise KerasFileError(f"{what}: {name!r} should be a dataset but is a {type(ds).__name__}")
    if ds.dtype.kind not in "fiub" or ds.dtype.fields is not None:
        raise KerasFileError(f"{what}: weight {name!r} holds {ds.dtype} values, not numbers")
    size = os.path.getsize(ds.file.filename)
    if ds.chunks is None and ds.nbytes > size:
        raise KerasFileError(
            f"{what}: weight {name!r} claims {ds.nbytes} bytes of data in a {size}-byte file"
        )
    return np.asarray(ds[()])


def _read_layer(group, layer_name: str) -> tuple[list[str], list[np.ndarray]]:
    if layer_name not in group or not isinstance(group[layer_name], _h5py().Group):
        raise KerasFileError(f"Weight file lists layer {layer_name!r} but has no group for it")
    g = group[layer_name]
    names = _attr_strings(g, "weight_names")
    return names, [read_array(g, n, f"Weight file: layer {layer_name!r}") for n in names]


def _assign(layer, values: list[np.ndarray], skip_mismatch: bool, source: str, origin: tuple[str, str | None]) -> None:
    weights = _layer_weights(layer)
    try:
        values = convert_weights(layer, values, *origin)
    except (IndexError, ValueError) as err:
        detail = f" ({err})" if isinstance(err, ValueError) else ""
        raise ValueError(
            f"Layer {layer.name} ({type(layer).__name__}): the saved weights for {source} "
            f"(Keras {origin[0]}, {len(values)} array(s), shapes "
            f"{[tuple(v.shape) for v in values]}) do not fit its {len(weights)} weight(s)"
            f"{detail}."
        ) from None
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
    """Assigns the weights stored in `group` (Keras 2 layout) to `layers` (KERAS_API.md 7.3)."""
    if load_attributes(group, "layer_names") is None and "model_weights" in group:
        group = group["model_weights"]
    if load_attributes(group, "layer_names") is None and "layers" in group:
        raise KerasFileError(
            "This is a Keras 3 weight file (`*.weights.h5`, groups `layers/<name>/vars`), which "
            "kgraph does not read; save the weights from tf-keras under a name not ending in "
            "`.weights.h5` to get the Keras 2 layout."
        )
    file_layers = _attr_strings(group, "layer_names")
    origin = file_origin(group)
    if by_name:
        index: dict[str, list] = {}
        for layer in layers:
            index.setdefault(layer.name, []).append(layer)
        for name in file_layers:
            _, values = _read_layer(group, name)
            for layer in index.get(name, []):
                _assign(layer, values, skip_mismatch, f"layer {name!r}", origin)
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
        _assign(layer, values, skip_mismatch, f"layer {name!r}", origin)


def load_weights(model, filepath: str, by_name: bool = False, skip_mismatch: bool = False) -> None:
    """Loads weights saved by kgraph or Keras (1.x, 2.0.x or tf-keras 2.x, any backend);
    older layouts are converted as Keras does (`saving_legacy`).

    Raises:
        KerasFileError: the file is not HDF5, is damaged, or lacks the Keras layout.
        ValueError: the file's layers or weights do not fit the model (counts, shapes).
    """
    if skip_mismatch and not by_name:
        raise ValueError("When calling model.load_weights, skip_mismatch can only be set to True when by_name is True.")
    with open_h5(filepath) as f, reading(filepath):
        load_weights_from_group(f, saved_layers(model), by_name=by_name, skip_mismatch=skip_mismatch)
