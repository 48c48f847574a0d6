"""CIFAR-100 small images classification, as `keras.datasets.cifar100` in Keras 2.0.5.

50,000 training and 10,000 test colour images of 32x32 pixels in 100 fine classes grouped
into 20 coarse ones, read from the Python version's pickled batches with the restricted
unpickler of `kgraph.datasets.cifar` (after `get_file` has checked the archive's sha256).
"""

from __future__ import annotations

import os

import numpy as np

from kgraph.datasets.cifar import channels, load_batch
from kgraph.utils.data_utils import get_file

__all__ = ["load_data"]

_DIRNAME = "cifar-100-python"
_ORIGIN = "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"
_FILE_HASH = "85cd44d02ba6437773c5bbd22e183051d648de2e7d6b014e1ef29b855ba677a7"
_LABEL_MODES = ("fine", "coarse")


def load_data(label_mode: str = "fine") -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """Loads CIFAR-100, downloading it into `~/.keras/datasets` the first time.

    Args:
        label_mode: 'fine' (100 classes) or 'coarse' (20 superclasses).

    Returns:
        `(x_train, y_train), (x_test, y_test)`: uint8 images of shape `(n, 32, 32, 3)`
        (`(n, 3, 32, 32)` under 'channels_first') and int64 labels of shape `(n, 1)`.

    Raises:
        ValueError: an unknown `label_mode`.

    Example:
        ```python
        (x_train, y_train), (x_test, y_test) = cifar100.load_data(label_mode='coarse')
        ```
    """
    if label_mode not in _LABEL_MODES:
        raise ValueError(
            f"cifar100.load_data: label_mode must be one of {', '.join(map(repr, _LABEL_MODES))}"
            f"; received {label_mode!r}."
        )
    path = get_file(_DIRNAME, origin=_ORIGIN, untar=True, file_hash=_FILE_HASH)
    x_train, y_train = load_batch(os.path.join(path, "train"), label_key=label_mode + "_labels")
    x_test, y_test = load_batch(os.path.join(path, "test"), label_key=label_mode + "_labels")
    y_train = np.reshape(y_train, (len(y_train), 1))
    y_test = np.reshape(y_test, (len(y_test), 1))
    return (channels(x_train), y_train), (channels(x_test), y_test)
