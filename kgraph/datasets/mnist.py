"""MNIST handwritten digits, as `keras.datasets.mnist` in Keras 2.0.5.

60,000 training and 10,000 test grayscale images of 28x28 pixels, with their digits.
`mnist.npz` holds plain uint8 arrays; it is read without pickle support, after `get_file`
has checked the download's sha256.
"""

from __future__ import annotations

import numpy as np

from kgraph.datasets._safe_load import load_npz
from kgraph.utils.data_utils import get_file

__all__ = ["load_data"]

_ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
_FILE_HASH = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"


def load_data(path: str = "mnist.npz") -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """Loads MNIST, downloading it into `~/.keras/datasets` the first time.

    Args:
        path: the file's name in the cache.

    Returns:
        `(x_train, y_train), (x_test, y_test)`: uint8 images of shape `(n, 28, 28)` and
        uint8 digits of shape `(n,)`.

    Example:
        ```python
        (x_train, y_train), (x_test, y_test) = mnist.load_data()
        x_train = x_train.reshape(60000, 784).astype('float32') / 255
        ```
    """
    path = get_file(path, origin=_ORIGIN, file_hash=_FILE_HASH)
    x_train, y_train, x_test, y_test = load_npz(path, ["x_train", "y_train", "x_test", "y_test"])
    return (x_train, y_train), (x_test, y_test)
