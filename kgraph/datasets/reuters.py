"""Reuters newswire topic classification, as `keras.datasets.reuters` in Keras 2.0.5.

11,228 newswires from Reuters labelled with one of 46 topics. A newswire is a list of word
indices; index `i` is the `i`-th most frequent word, so `num_words` and `skip_top` filter by
frequency.

The newswires are stored in `reuters.npz` as an object array, which numpy pickles: it is
read with a restricted unpickler that builds arrays and lists and refuses anything else (see
`kgraph.datasets._safe_load`), after `get_file` has checked the download's sha256.

As in 2.0.5, the shuffle is `np.random.seed(seed)`, `maxlen` filters before the split, and
the split is at `int(len(xs) * (1 - test_split))`. One 2.0.5 bug is fixed, as later Keras
versions fixed it: with `oov_char=None`, out-of-range words are dropped (2.0.5 kept only them).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kgraph.datasets import _sequences as seq
from kgraph.datasets._safe_load import load_json, load_npz
from kgraph.utils.data_utils import get_file

__all__ = ["get_word_index", "load_data"]

_BASE = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
_ORIGIN = _BASE + "reuters.npz"
_FILE_HASH = "d6586e694ee56d7a4e65172e12b3e987c03096cb01eab99753921ef915959916"
_WORD_INDEX_ORIGIN = _BASE + "reuters_word_index.json"
_WORD_INDEX_HASH = "4d44cc38712099c9e383dc6e5f11a921"


def load_data(path: str = "reuters.npz", num_words: int | None = None, skip_top: int = 0,
              maxlen: int | None = None, test_split: float = 0.2, seed: int = 113,
              start_char: int | None = 1, oov_char: int | None = 2, index_from: int = 3,
              **kwargs: Any) -> tuple[tuple[np.ndarray, np.ndarray], ...]:  # fmt: skip
    """Loads the Reuters dataset, downloading it into `~/.keras/datasets` the first time.

    Args:
        path: the file's name in the cache.
        num_words, skip_top, maxlen, start_char, oov_char, index_from, **kwargs: as in
            `kgraph.datasets.imdb.load_data`; `maxlen` filters before the split.
        test_split: the fraction of newswires, from the end, that form the test set.
        seed: the shuffling seed.

    Returns:
        `(x_train, y_train), (x_test, y_test)`, the newswires as 1-D object arrays of lists
        of ints and their topics (0-45) as stored (int64).

    Raises:
        ValueError: `maxlen` filtered out every newswire.
        UnsafePickleError: `reuters.npz` holds something other than arrays and lists.

    Example:
        ```python
        (x_train, y_train), (x_test, y_test) = reuters.load_data(num_words=1000)
        ```
    """
    num_words = seq.num_words_argument(num_words, kwargs, "reuters.load_data")
    path = get_file(path, origin=_ORIGIN, file_hash=_FILE_HASH)
    xs, labels = seq.shuffled(*load_npz(path, ["x", "y"]), seed)
    dtype = labels.dtype

    xs, labels = seq.drop_long(seq.offset(xs, start_char, index_from), labels, maxlen)
    seq.check_kept(len(xs), maxlen, "reuters.load_data")
    xs = seq.clip_vocabulary(xs, num_words, skip_top, oov_char)
    n = int(len(xs) * (1 - test_split))
    return seq.arrays(xs[:n], labels[:n], dtype), seq.arrays(xs[n:], labels[n:], dtype)


def get_word_index(path: str = "reuters_word_index.json") -> dict[str, int]:
    """The dictionary from words to their indices in the newswires (before `index_from`).

    Args:
        path: the file's name in the cache.
    """
    return load_json(get_file(path, origin=_WORD_INDEX_ORIGIN, file_hash=_WORD_INDEX_HASH))
