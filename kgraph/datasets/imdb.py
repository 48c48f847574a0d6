"""IMDB movie review sentiment classification, as `keras.datasets.imdb` in Keras 2.0.5.

25,000 training and 25,000 test reviews labelled by sentiment (1 positive, 0 negative).
A review is a list of word indices; index `i` is the `i`-th most frequent word in the
training set, so `num_words` and `skip_top` filter by frequency.

The reviews are stored in `imdb.npz` as object arrays, which numpy pickles: they are read
with a restricted unpickler that builds arrays and lists and refuses anything else (see
`kgraph.datasets._safe_load`), after `get_file` has checked the download's sha256.

Two 2.0.5 bugs are fixed, as later Keras versions fixed them: with `maxlen`, the training
and test reviews are filtered separately (2.0.5 split the filtered reviews at the original
training-set size, moving test reviews into the training set); with `oov_char=None`,
out-of-range words are dropped (2.0.5 kept only them). The shuffles (`np.random.seed(seed)`
for the training set, `seed * 2` for the test set) and the other rules are 2.0.5's.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kgraph.datasets import _sequences as seq
from kgraph.datasets._safe_load import load_json, load_npz
from kgraph.utils.data_utils import get_file

__all__ = ["get_word_index", "load_data"]

_BASE = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
_ORIGIN = _BASE + "imdb.npz"
_FILE_HASH = "69664113be75683a8fe16e3ed0ab59fda8886cb3cd7ada244f7d9544e4676b9f"
_WORD_INDEX_ORIGIN = _BASE + "imdb_word_index.json"
_WORD_INDEX_HASH = "bfafd718b763782e994055a2d397834f"


def load_data(path: str = "imdb.npz", num_words: int | None = None, skip_top: int = 0,
              maxlen: int | None = None, seed: int = 113, start_char: int | None = 1,
              oov_char: int | None = 2, index_from: int = 3,
              **kwargs: Any) -> tuple[tuple[np.ndarray, np.ndarray], ...]:  # fmt: skip
    """Loads the IMDB dataset, downloading it into `~/.keras/datasets` the first time.

    Args:
        path: the file's name in the cache.
        num_words: keep the `num_words - index_from` most frequent words (as indices below
            `num_words`); the others become `oov_char`. None keeps all but the largest
            index present.
        skip_top: indices below this (after the `index_from` offset, the start character
            included) become `oov_char`.
        maxlen: keep only the reviews shorter than this, counting the start character.
        seed: the shuffling seed (`seed * 2` for the test set).
        start_char: prepended to every review; None for none.
        oov_char: what replaces filtered words; None drops them.
        index_from: added to every word index.
        **kwargs: `nb_words`, Keras 1's name for `num_words`.

    Returns:
        `(x_train, y_train), (x_test, y_test)`: 1-D object arrays of lists of ints, and the
        labels as stored (int64).

    Raises:
        ValueError: no review is shorter than `maxlen`.
        UnsafePickleError: the file holds anything but arrays and lists.

    Example:
        ```python
        (x_train, y_train), (x_test, y_test) = imdb.load_data(num_words=20000)
        x_train = sequence.pad_sequences(x_train, maxlen=80)
        ```
    """
    num_words = seq.num_words_argument(num_words, kwargs, "imdb.load_data")
    path = get_file(path, origin=_ORIGIN, file_hash=_FILE_HASH)
    x_train, y_train, x_test, y_test = load_npz(path, ["x_train", "y_train", "x_test", "y_test"])
    x_train, y_train = seq.shuffled(x_train, y_train, seed)
    x_test, y_test = seq.shuffled(x_test, y_test, seed * 2)

    train, train_labels = seq.drop_long(
        seq.offset(x_train, start_char, index_from), y_train, maxlen
    )
    test, test_labels = seq.drop_long(seq.offset(x_test, start_char, index_from), y_test, maxlen)
    seq.check_kept(len(train) + len(test), maxlen, "imdb.load_data")
    xs = seq.clip_vocabulary(train + test, num_words, skip_top, oov_char)
    n = len(train)
    return (
        seq.arrays(xs[:n], train_labels, y_train.dtype),
        seq.arrays(xs[n:], test_labels, y_test.dtype),
    )


def get_word_index(path: str = "imdb_word_index.json") -> dict[str, int]:
    """The dictionary from words to their indices in the IMDB reviews (before `index_from`).

    Args:
        path: the file's name in the cache.
    """
    return load_json(get_file(path, origin=_WORD_INDEX_ORIGIN, file_hash=_WORD_INDEX_HASH))
