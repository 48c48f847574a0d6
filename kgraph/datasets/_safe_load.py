"""Reading downloaded dataset files without running code from them.

The CIFAR batches are Python pickles and the IMDB and Reuters `.npz` files hold object
arrays, which numpy stores as pickles too. Keras 2.0.5 reads both with plain `pickle.load`
and `np.load`, and a pickle can call any importable function while it loads. Here every
pickle goes through `SafeUnpickler`, whose `find_class` admits only what these files are
made of: numpy's array, dtype and scalar reconstruction, and plain builtin containers,
strings and numbers. Any other global (`os.system`, `builtins.eval`, `subprocess.Popen`,
...) raises `UnsafePickleError` naming it, before anything is called. Arrays without
objects are read with `allow_pickle=False`. Where Keras publishes a file's hash,
`get_file` checks it before the file is kept, so these readers only see verified downloads
(or files the user placed in the cache).
"""

from __future__ import annotations

import io
import json
import os
import pickle
import zipfile
from collections.abc import Callable, Sequence
from typing import IO, Any

import numpy as np

__all__ = ["SafeUnpickler", "UnsafePickleError", "load_json", "load_npz", "load_pickle"]

# Looked up from live objects, so the names resolve on numpy 1 (`numpy.core`) and numpy 2
# (`numpy._core`) alike, whichever of them wrote the file.
_RECONSTRUCT: Callable[..., Any] = np.ndarray((0,)).__reduce__()[0]
_SCALAR: Callable[..., Any] = np.float64(0).__reduce__()[0]

_NUMPY: dict[str, Any] = {"_reconstruct": _RECONSTRUCT, "scalar": _SCALAR}
_NUMPY_MODULES = ("numpy.core.multiarray", "numpy._core.multiarray")
_BUILTINS: dict[str, Any] = {
    t.__name__: t
    for t in (list, dict, tuple, set, frozenset, bytes, bytearray, str, int, float, complex, bool)
}
_BUILTIN_MODULES = ("builtins", "__builtin__")


class UnsafePickleError(pickle.UnpicklingError):
    """A dataset file asked to load something other than arrays and plain data."""


class SafeUnpickler(pickle.Unpickler):
    """An unpickler that builds numpy arrays and builtin data, and refuses everything else.

    Args:
        file: the binary stream to read.
        source: the file's name, for error messages.
        encoding: how to decode Python 2 strings ('bytes' keeps them as bytes).
    """

    def __init__(self, file: IO[bytes], source: str, encoding: str = "ASCII") -> None:
        super().__init__(file, encoding=encoding)
        self.source = source

    def find_class(self, module: str, name: str) -> Any:
        if module in _NUMPY_MODULES and name in _NUMPY:
            return _NUMPY[name]
        if module == "numpy" and name in ("ndarray", "dtype"):
            return getattr(np, name)
        if module in _BUILTIN_MODULES and name in _BUILTINS:
            return _BUILTINS[name]
        if (module, name) == ("_codecs", "encode"):  # how protocol 2 spells a bytes object
            import codecs

            return codecs.encode
        raise UnsafePickleError(
            f"Refusing to load the global {module}.{name} from {self.source}: a dataset file "
            "may only hold numpy arrays and plain lists, dicts, strings and numbers. The file "
            "is corrupt or not the published dataset; delete it so that it is downloaded again."
        )

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError(
            f"Refusing to load a persistent id from {self.source}: dataset files have none."
        )


def load_pickle(path: str, encoding: str = "ASCII") -> Any:
    """Unpickles the file at `path` with `SafeUnpickler`.

    Raises:
        UnsafePickleError: the pickle refers to anything but arrays and plain data.
    """
    with open(path, "rb") as f:
        return SafeUnpickler(f, path, encoding=encoding).load()


_HEADER_READERS = {
    (1, 0): np.lib.format.read_array_header_1_0,
    (2, 0): np.lib.format.read_array_header_2_0,
}


def _read_npy(data: bytes, source: str) -> np.ndarray:
    """One `.npy` payload; object arrays through `SafeUnpickler`, others without pickle."""
    stream = io.BytesIO(data)
    version = np.lib.format.read_magic(stream)
    if version not in _HEADER_READERS:
        # Format 3.0 only differs in allowing utf-8 field names, which no dataset uses.
        raise ValueError(f"{source}: unsupported .npy format version {version}.")
    _, _, dtype = _HEADER_READERS[version](stream)
    if not dtype.hasobject:
        stream.seek(0)
        return np.lib.format.read_array(stream, allow_pickle=False)
    array = SafeUnpickler(stream, source, encoding="latin1").load()
    if not isinstance(array, np.ndarray):
        raise ValueError(f"{source}: expected a pickled numpy array, found {type(array).__name__}.")
    return array


def load_npz(path: str, keys: Sequence[str]) -> tuple[np.ndarray, ...]:
    """The arrays `keys` of the `.npz` archive at `path`, in that order.

    Raises:
        UnsafePickleError: an object array refers to anything but arrays and plain data.
        ValueError: an array is missing.
    """
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        arrays = []
        for key in keys:
            member = key + ".npy"
            if member not in names:
                held = sorted(n[:-4] for n in names if n.endswith(".npy"))
                raise ValueError(f"{path} has no array {key!r}; it holds {held}.")
            arrays.append(_read_npy(archive.read(member), f"{path}:{member}"))
    return tuple(arrays)


def load_json(path: str) -> Any:
    """The JSON document at `path` (JSON cannot carry code, so it needs no checks)."""
    with open(os.fspath(path), encoding="utf-8") as f:
        return json.load(f)
