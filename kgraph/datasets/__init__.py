"""Small datasets for examples and tests, as `keras.datasets` in Keras 2.0.5.

Each `load_data` downloads its files once into `~/.keras/datasets` with
`kgraph.utils.data_utils.get_file` (atomic, hash-checked) and returns numpy arrays as Keras
2.0.5 does. Pickled content (the CIFAR batches, the IMDB and Reuters object arrays) is read
with a restricted unpickler that refuses to load anything but arrays and plain data, so a
tampered file cannot run code.
"""

from __future__ import annotations

from kgraph.datasets import boston_housing, cifar, cifar10, cifar100, imdb, mnist, reuters

__all__ = ["boston_housing", "cifar", "cifar10", "cifar100", "imdb", "mnist", "reuters"]
