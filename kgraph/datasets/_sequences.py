"""What IMDB, Reuters and Boston Housing share: Keras 2.0.5's paired shuffle, its
word-index rules step by step, and the legacy `nb_words` argument."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = [
    "arrays",
    "check_kept",
    "clip_vocabulary",
    "drop_long",
    "num_words_argument",
    "offset",
    "shuffled",
]

Reviews = list[list[int]]


def shuffled(x: np.ndarray, y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Shuffles `x` and `y` in place along their first axis with the same permutation.

    Keras reseeds numpy's global generator before each of the two shuffles; so does this,
    so the arrays (and the generator's state afterwards) are Keras's.
    """
    np.random.seed(seed)
    np.random.shuffle(x)
    np.random.seed(seed)
    np.random.shuffle(y)
    return x, y


def num_words_argument(num_words: int | None, kwargs: dict[str, Any], where: str) -> int | None:
    """`num_words`, or Keras 1's `nb_words` with a warning; other keywords raise TypeError."""
    if "nb_words" in kwargs:
        warnings.warn(
            f"{where}: the `nb_words` argument has been renamed `num_words`.", stacklevel=3
        )
        num_words = kwargs.pop("nb_words")
    if kwargs:
        raise TypeError(f"{where}: unrecognized keyword arguments: {sorted(kwargs)}")
    return num_words


def offset(xs: Sequence[Sequence[int]], start_char: int | None, index_from: int) -> Reviews:
    """Adds `index_from` to every word index and prepends `start_char` (unless None)."""
    head = [] if start_char is None else [start_char]
    return [head + [int(w) + index_from for w in x] for x in xs]


def drop_long(xs: Reviews, labels: Sequence[Any], maxlen: int | None) -> tuple[Reviews, list]:
    """Keeps the sequences strictly shorter than `maxlen` (all of them when it is falsy).

    The length counts the start character, as in Keras.
    """
    if not maxlen:
        return xs, list(labels)
    kept = [(x, y) for x, y in zip(xs, labels, strict=True) if len(x) < maxlen]
    return [x for x, _ in kept], [y for _, y in kept]


def check_kept(kept: int, maxlen: int | None, where: str) -> None:
    """Raises the ValueError Keras raises when `maxlen` left none of the sequences."""
    if maxlen and not kept:
        raise ValueError(
            f"{where}: after filtering for sequences shorter than maxlen={maxlen}, no sequence "
            "was kept. Increase maxlen."
        )


def clip_vocabulary(xs: Reviews, num_words: int | None, skip_top: int,
                    oov_char: int | None) -> Reviews:  # fmt: skip
    """Replaces (or, when `oov_char` is None, drops) every index outside
    `[skip_top, num_words)`.

    A falsy `num_words` means the largest index present, so, as in Keras, that index itself
    falls outside the range.
    """
    if not num_words:
        num_words = max((max(x) for x in xs if x), default=0)
    if oov_char is not None:
        return [[w if skip_top <= w < num_words else oov_char for w in x] for x in xs]
    return [[w for w in x if skip_top <= w < num_words] for x in xs]


def arrays(xs: Reviews, labels: Sequence[Any], dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    """The sequences as a 1-D object array of lists (even when every list has the same
    length) and the labels as an array of `dtype`."""
    out = np.empty(len(xs), dtype=object)
    for i, x in enumerate(xs):
        out[i] = x
    return out, np.asarray(labels, dtype=dtype)
