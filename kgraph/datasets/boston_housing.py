"""Boston housing price regression, as `keras.datasets.boston_housing` in Keras 2.0.5.

506 samples of 13 attributes of houses around Boston in the late 1970s, with their median
values in k$. `boston_housing.npz` holds plain float arrays; it is read without pickle
support, after `get_file` has checked the download's sha256. The shuffle is 2.0.5's
(`np.random.seed(seed)` before each of the two shuffles).
"""

from __future__ import annotations

import numpy as np

from kgraph.datasets._safe_load import load_npz
from kgraph.datasets._sequences import shuffled
from kgraph.utils.data_utils import get_file

__all__ = ["load_data"]

_ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/boston_housing.npz"
_FILE_HASH = "f553886a1f8d56431e820c5b82552d9d95cfcb96d1e678153f8839538947dff5"


def load_data(path: str = "boston_housing.npz", seed: int = 113,
              test_split: float = 0.2) -> tuple[tuple[np.ndarray, np.ndarray], ...]:  # fmt: skip
    """Loads the Boston housing dataset, downloading it into `~/.keras/datasets` the first
    time.

    Args:
        path: the file's name in the cache.
        seed: the shuffling seed.
        test_split: the fraction of samples, from the end, that form the test set.

    Returns:
        `(x_train, y_train), (x_test, y_test)`: float64 attributes of shape `(n, 13)` and
        prices of shape `(n,)`; the first `int(506 * (1 - test_split))` samples train.

    Raises:
        ValueError: `test_split` is not in [0, 1).

    Example:
        ```python
        (x_train, y_train), (x_test, y_test) = boston_housing.load_data()
        ```
    """
    if not 0 <= test_split < 1:
        raise ValueError(
            f"boston_housing.load_data: test_split must be in [0, 1); received {test_split!r}."
        )
    path = get_file(path, origin=_ORIGIN, file_hash=_FILE_HASH)
    x, y = shuffled(*load_npz(path, ["x", "y"]), seed)
    n = int(len(x) * (1 - test_split))
    return (x[:n].copy(), y[:n].copy()), (x[n:].copy(), y[n:].copy())
