"""Reading the batches of the CIFAR datasets' Python version (`keras.datasets.cifar`).

A batch is a pickled dict written by Python 2: `b'data'` (uint8, one row of 3072 bytes per
image: the red, green and blue 32x32 planes) and the labels (`b'labels'` for CIFAR-10,
`b'fine_labels'` and `b'coarse_labels'` for CIFAR-100). Keras unpickles it with plain
`pickle.load`; here it goes through `SafeUnpickler`, which builds numpy arrays and plain
data and refuses any other global by name, so a tampered batch cannot run code.
"""

from __future__ import annotations

import numpy as np

from kgraph._config import image_data_format
from kgraph.datasets._safe_load import load_pickle

__all__ = ["load_batch"]


def load_batch(fpath: str, label_key: str = "labels") -> tuple[np.ndarray, list[int]]:
    """Reads one CIFAR batch.

    Args:
        fpath: the batch file.
        label_key: the labels' key: 'labels', 'fine_labels' or 'coarse_labels'.

    Returns:
        `(data, labels)`: uint8 images of shape `(n, 3, 32, 32)` and their labels.

    Raises:
        UnsafePickleError: the file refers to anything but arrays and plain data.
        ValueError: the file is not a CIFAR batch with `label_key`.
    """
    batch = load_pickle(fpath, encoding="bytes")
    if not isinstance(batch, dict):
        raise ValueError(f"{fpath} is not a CIFAR batch: it holds a {type(batch).__name__}.")
    batch = {k.decode("utf8") if isinstance(k, bytes) else k: v for k, v in batch.items()}
    missing = [k for k in ("data", label_key) if k not in batch]
    if missing:
        raise ValueError(f"{fpath} is not a CIFAR batch with {missing}; it has {sorted(batch)}.")
    data = np.asarray(batch["data"])
    return data.reshape(data.shape[0], 3, 32, 32), batch[label_key]


def channels(x: np.ndarray) -> np.ndarray:
    """`(n, 3, 32, 32)` images in the layout of `K.image_data_format()`."""
    return x.transpose(0, 2, 3, 1) if image_data_format() == "channels_last" else x
