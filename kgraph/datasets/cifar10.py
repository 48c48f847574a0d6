"""CIFAR-10 small images classification, as `keras.datasets.cifar10` in Keras 2.0.5.

50,000 training and 10,000 test colour images of 32x32 pixels in 10 classes, read from
the Python version's pickled batches with the restricted unpickler of
`kgraph.datasets.cifar` (after `get_file` has checked the archive's sha256).
"""

from __future__ import annotations

import os

import numpy as np

from kgraph.datasets.cifar import channels, load_batch
from kgraph.utils.data_utils import get_file

__all__ = ["load_data"]

_DIRNAME = "cifar-10-batches-py"
_ORIGIN = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
_FILE_HASH = "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"


def load_data() -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """Loads CIFAR-10, downloading it into `~/.keras/datasets` the first time.

    Returns:
        `(x_train, y_train), (x_test, y_test)`: uint8 images of shape `(n, 32, 32, 3)`
        (`(n, 3, 32, 32)` under 'channels_first') and labels 0-9 of shape `(n, 1)`: uint8
        for training and int64 for test, as in Keras 2.0.5.

    Example:
        ```python
        (x_train, y_train), (x_test, y_test) = cifar10.load_data()
        ```
    """
    path = get_file(_DIRNAME, origin=_ORIGIN, untar=True, file_hash=_FILE_HASH)
    batches = [load_batch(os.path.join(path, f"data_batch_{i}")) for i in range(1, 6)]
    x_train = np.concatenate([x for x, _ in batches]).astype("uint8")
    y_train = np.concatenate([np.asarray(y) for _, y in batches]).astype("uint8")
    x_test, y_test = load_batch(os.path.join(path, "test_batch"))
    y_train = np.reshape(y_train, (len(y_train), 1))
    y_test = np.reshape(y_test, (len(y_test), 1))
    return (channels(x_train), y_train), (channels(x_test), y_test)
