"""`HDF5Matrix`: an HDF5 dataset used in place of a numpy array (`keras.utils.io_utils`)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

__all__ = ["HDF5Matrix"]


class HDF5Matrix:
    """Rows `start` to `end` of an HDF5 dataset, read from the file on each indexing.

    `fit`, `evaluate` and `predict` accept it wherever they accept a numpy array and read
    one batch at a time, so the dataset never has to fit in memory. Reading is fastest in
    order: use it with `fit(..., shuffle='batch')`, which shuffles whole batches (each
    batch is one contiguous read). Files are opened read-only and cached in the class
    dict `refs` (path -> open file), shared by every matrix on the same file.

    Args:
        datapath: path of the HDF5 file.
        dataset: name (path) of the dataset inside the file.
        start: first row (inclusive).
        end: last row (exclusive); None for the dataset's length.
        normalizer: a function applied to every array read.

    Raises:
        FileNotFoundError: `datapath` does not exist.
        OSError: `datapath` is not an HDF5 file.
        KeyError: the file has no dataset `dataset` (the message lists those it has).
        ValueError: `start`/`end` outside the dataset.

    Example:
        ```python
        x = HDF5Matrix('data.h5', 'x', start=0, end=1000)
        y = HDF5Matrix('data.h5', 'y', start=0, end=1000)
        model.fit(x, y, batch_size=32, shuffle='batch')
        ```
    """

    refs: ClassVar[dict[str, Any]] = {}

    def __init__(self, datapath: str | os.PathLike, dataset: str, start: int = 0,
                 end: int | None = None, normalizer: Callable[[np.ndarray], Any] | None = None) -> None:  # fmt: skip
        import h5py

        path = os.fspath(datapath)
        f = self.refs.get(path)
        if f is None or not f.id.valid:  # not yet opened, or closed since
            if not os.path.exists(path):
                raise FileNotFoundError(f"HDF5Matrix: no such file: {path!r}")
            try:
                f = h5py.File(path, "r")
            except OSError as err:
                raise OSError(
                    f"HDF5Matrix: {path!r} cannot be opened as an HDF5 file: {err}"
                ) from err
            self.refs[path] = f
        data = f.get(dataset)
        if not isinstance(data, h5py.Dataset):
            found: list[str] = []
            f.visititems(
                lambda name, obj: found.append(name) if isinstance(obj, h5py.Dataset) else None
            )
            what = "no dataset" if data is None else "a group, not a dataset,"
            raise KeyError(
                f"HDF5Matrix: the file {path!r} has {what} at {dataset!r}; datasets in the file: {found}"
            )
        if data.ndim == 0:
            raise ValueError(
                f"HDF5Matrix: dataset {dataset!r} in {path!r} is a scalar; it needs a first (sample) axis"
            )
        n = int(data.shape[0])
        end = n if end is None else int(end)
        if not 0 <= int(start) <= end <= n:
            raise ValueError(
                f"HDF5Matrix: rows start={start}, end={end} are outside dataset {dataset!r} of "
                f"{n} rows in {path!r}; need 0 <= start <= end <= {n}"
            )
        self.datapath = path
        self.data = data
        self.start = int(start)
        self.end = end
        self.normalizer = normalizer

    def __len__(self) -> int:
        return self.end - self.start

    def __getitem__(self, key: Any) -> Any:
        n = len(self)
        if isinstance(key, slice):
            start, stop, step = key.indices(n)
            if step == 1:
                rows = self.data[self.start + start : self.start + max(start, stop)]
            else:
                rows = self._take(np.arange(start, stop, step))
        elif isinstance(key, (int, np.integer)) and not isinstance(key, bool):
            i = int(key) + n if key < 0 else int(key)
            if not 0 <= i < n:
                raise IndexError(f"HDF5Matrix: index {key} is out of range for {n} rows")
            rows = self.data[self.start + i]
        elif isinstance(key, (list, tuple, np.ndarray)):
            rows = self._take(np.asarray(key))
        else:
            raise IndexError(
                f"HDF5Matrix: indices must be an int, a slice, a list or an integer array, got "
                f"{type(key).__name__}"
            )
        return self.normalizer(rows) if self.normalizer is not None else rows

    def _take(self, index: np.ndarray) -> np.ndarray:
        """Rows at integer `index` (any shape, any order). HDF5 reads need increasing
        indices, so the distinct rows are read sorted (one contiguous read when they form a
        run, as the batches of `shuffle='batch'` do) and then put in the asked order."""
        n = len(self)
        if index.size == 0:
            return np.empty(index.shape + self.data.shape[1:], dtype=self.data.dtype)
        if index.dtype.kind not in "iu":
            raise IndexError(f"HDF5Matrix: array indices must be integers, got dtype {index.dtype}")
        flat = np.where(index < 0, index + n, index).ravel()
        if flat.min() < 0 or flat.max() >= n:
            raise IndexError(
                f"HDF5Matrix: indices {int(index.min())}..{int(index.max())} out of range for {n} rows"
            )
        rows, inverse = np.unique(flat, return_inverse=True)
        first = self.start + int(rows[0])
        if rows[-1] - rows[0] == len(rows) - 1:
            values = self.data[first : first + len(rows)]
        else:
            values = self.data[(rows + self.start).tolist()]
        if len(rows) != len(flat) or np.any(rows != flat):
            values = values[inverse.ravel()]
        return values.reshape(index.shape + self.data.shape[1:])

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        """All the rows, read at once (`np.asarray(matrix)`)."""
        return np.asarray(self[:], dtype=dtype)

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self),) + tuple(self.data.shape[1:])

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    def __repr__(self) -> str:
        return (
            f"HDF5Matrix({self.datapath!r}, {self.data.name!r}, start={self.start}, end={self.end})"
        )
