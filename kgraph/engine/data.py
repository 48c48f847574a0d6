"""Checking and arranging user data before any work starts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from kgraph.utils.io_utils import HDF5Matrix

__all__ = ["standardize_input_data", "check_array_lengths", "check_loss_and_target", "slice_arrays", "batch_ranges"]


def _as_array(value: Any, name: str, prefix: str) -> np.ndarray | HDF5Matrix:
    # An HDF5Matrix stays on disk and is read batch by batch; a 1-D one (one value per
    # sample, e.g. labels) is read whole, as it becomes a (n, 1) array.
    lazy = isinstance(value, HDF5Matrix) and value.ndim > 1
    array = value if lazy else np.asarray(value[:] if isinstance(value, HDF5Matrix) else value)
    if array.dtype.kind not in "biuf":
        raise TypeError(
            f"Error when checking {prefix}: {name} must be a numeric array, but got an array of "
            f"dtype {array.dtype} (shape {array.shape}). Convert it with np.asarray(..., dtype='float32')."
        )
    return array


def _holds_arrays(data: Sequence[Any]) -> bool:
    return any(len(getattr(d, "shape", ())) > 0 for d in data)


def standardize_input_data(
    data: Any,
    names: Sequence[str],
    shapes: Sequence[tuple | None] | None = None,
    check_batch_axis: bool = True,
    exception_prefix: str = "",
    owners: Sequence[str] | None = None,
) -> list[np.ndarray]:
    """Turns an array, a list or a dict of arrays into a list in `names` order, checked
    against `shapes` (the batch axis excepted). `owners` names the layer behind each name."""
    if not names:
        return []
    if data is None:
        raise ValueError(f"Error when checking {exception_prefix}: no data was provided; expected arrays for {list(names)}")
    if isinstance(data, dict):
        missing = [n for n in names if n not in data]
        if missing:
            raise ValueError(f'No data provided for "{missing[0]}". Need data for each key in: {list(names)}')
        extra = sorted(set(data) - set(names))
        if extra:
            raise ValueError(f"Error when checking {exception_prefix}: unexpected keys {extra}; valid keys: {list(names)}")
        arrays = [data[n] for n in names]
    elif isinstance(data, (list, tuple)) and len(data) != len(names) == 1 and not _holds_arrays(data):
        # A plain (nested) list of numbers is the data of a single input, as in Keras.
        arrays = [data]
    elif isinstance(data, (list, tuple)):
        if len(data) != len(names):
            raise ValueError(
                f"Error when checking model {exception_prefix}: the list of Numpy arrays that you are "
                f"passing to your model is not the size the model expected. Expected to see "
                f"{len(names)} array(s) but instead got {len(data)} array(s)."
            )
        arrays = list(data)
    else:
        if len(names) > 1:
            raise ValueError(
                f"Error when checking model {exception_prefix}: the model expects {len(names)} arrays "
                f"({list(names)}) but received a single array."
            )
        arrays = [data]
    out = []
    for i, (name, value) in enumerate(zip(names, arrays)):
        array = _as_array(value, name, exception_prefix)
        if array.ndim == 1:
            array = array.reshape(-1, 1)
        if shapes is not None and shapes[i] is not None:
            shape = tuple(shapes[i])
            owner = f" (the input of layer {owners[i]})" if owners and owners[i] else ""
            if array.ndim != len(shape):
                raise ValueError(
                    f"Error when checking {exception_prefix}: expected {name}{owner} to have "
                    f"{len(shape)} dimensions, but got array with shape {array.shape}"
                )
            for j, (dim, ref) in enumerate(zip(array.shape, shape)):
                if (j or check_batch_axis) and ref is not None and dim != ref:
                    raise ValueError(
                        f"Error when checking {exception_prefix}: expected {name}{owner} to have "
                        f"shape {shape} but got array with shape {array.shape}"
                    )
        out.append(array)
    return out


def check_array_lengths(inputs: Sequence[np.ndarray], targets: Sequence[np.ndarray], weights: Sequence[np.ndarray] | None = None) -> None:
    def counts(arrays):
        return {int(a.shape[0]) for a in arrays if a is not None}

    x, y, w = counts(inputs), counts(targets), counts(weights or [])
    if len(x) > 1:
        raise ValueError(f"All input arrays (x) should have the same number of samples. Got array shapes: {[a.shape for a in inputs]}")
    if len(y) > 1:
        raise ValueError(f"All target arrays (y) should have the same number of samples. Got array shapes: {[a.shape for a in targets]}")
    if x and y and x != y:
        raise ValueError(
            f"Input arrays should have the same number of samples as target arrays. Found "
            f"{x.pop()} input samples and {y.pop()} target samples."
        )
    if w and y and w != y:
        raise ValueError(
            f"Sample weight arrays should have the same number of samples as target arrays. Got "
            f"{w.pop()} sample weights and {y.pop()} target samples."
        )


def check_loss_and_target(targets: Sequence[np.ndarray], loss_fns: Sequence[Any], output_shapes: Sequence[tuple]) -> None:
    """Catches targets that cannot fit their loss, as Keras does for its built-in losses."""
    for y, fn, shape in zip(targets, loss_fns, output_shapes):
        if fn is None:
            continue
        name = getattr(fn, "__name__", "")
        if name == "categorical_crossentropy" and y.shape[-1] == 1:
            raise ValueError(
                f"You are passing a target array of shape {y.shape} while using as loss "
                "`categorical_crossentropy`. `categorical_crossentropy` expects targets to be "
                "binary matrices (1s and 0s) of shape (samples, classes). If your targets are "
                "integer classes, you can convert them via `kgraph.utils.to_categorical(y)`, or "
                "use the loss `sparse_categorical_crossentropy`."
            )
        if name in ("mean_squared_error", "binary_crossentropy", "categorical_crossentropy", "mean_absolute_error"):
            for got, want in zip(y.shape[1:], shape[1:]):
                if want is not None and got != want:
                    raise ValueError(
                        f"A target array with shape {y.shape} was passed for an output of shape "
                        f"{shape} while using as loss `{name}`. This loss expects targets to have "
                        "the same shape as the output."
                    )


def slice_arrays(arrays: Sequence[np.ndarray], index: Any) -> list[np.ndarray]:
    return [a[index] for a in arrays]


def batch_ranges(n: int, batch_size: int) -> list[tuple[int, int]]:
    return [(i, min(n, i + batch_size)) for i in range(0, n, batch_size)]
