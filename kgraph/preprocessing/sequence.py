"""Sequence preprocessing, as `keras.preprocessing.sequence` in Keras 2.0.5.

`pad_sequences` turns a list of variable-length sequences into one array;
`make_sampling_table` and `skipgrams` make word2vec training pairs.

`skipgrams` draws from Python's global `random` module in the same order as Keras, so
`random.seed(s)` before a call reproduces Keras's pairs for the same seed.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["make_sampling_table", "pad_sequences", "skipgrams"]

_SIDES = ("pre", "post")


def _check_side(argument: str, value: Any) -> None:
    if value not in _SIDES:
        raise ValueError(
            f"pad_sequences: {argument}={value!r} is not understood; "
            f"expected one of {', '.join(repr(s) for s in _SIDES)}."
        )


def pad_sequences(
    sequences: Sequence[Any],
    maxlen: int | None = None,
    dtype: Any = "int32",
    padding: str = "pre",
    truncating: str = "pre",
    value: float = 0.0,
) -> np.ndarray:
    """Pads sequences to the same length.

    Turns a list of `num_samples` sequences (lists of scalars, or of arrays of one fixed
    shape) into an array of shape `(num_samples, maxlen) + sample_shape`. Sequences
    shorter than `maxlen` are filled with `value`; longer ones are cut.

    # Arguments
        sequences: list of sequences (each a list or array; may be empty).
        maxlen: int, length of the result. Default: the longest sequence.
        dtype: dtype of the result.
        padding: 'pre' or 'post': fill before or after each sequence.
        truncating: 'pre' or 'post': drop values from the start or the end of sequences
            longer than `maxlen`.
        value: the fill value.

    # Returns
        A numpy array of shape `(num_samples, maxlen) + sample_shape`.

    # Raises
        ValueError: for an unknown `padding` or `truncating`, a negative `maxlen`,
            an entry that is not a sequence, or entries whose timesteps differ in shape.

    # Example
    ```python
    pad_sequences([[1, 2, 3], [4]], maxlen=2)
    # array([[2, 3], [0, 4]], dtype=int32)
    ```
    """
    _check_side("padding", padding)
    _check_side("truncating", truncating)
    if not hasattr(sequences, "__len__"):
        raise ValueError(
            f"pad_sequences: `sequences` must be a list of sequences; got {type(sequences).__name__}."
        )
    lengths = []
    for position, s in enumerate(sequences):
        if not hasattr(s, "__len__"):
            raise ValueError(
                "pad_sequences: `sequences` must be a list of iterables; "
                f"found non-iterable {s!r} at position {position}."
            )
        lengths.append(len(s))
    if maxlen is None:
        if not lengths:
            raise ValueError(
                "pad_sequences: cannot infer `maxlen` from an empty list of sequences; "
                "pass `maxlen`."
            )
        maxlen = int(max(lengths))
    if maxlen < 0:
        raise ValueError(f"pad_sequences: maxlen must be >= 0; got {maxlen}.")

    # The first non-empty sequence fixes the per-timestep shape; the others must match.
    sample_shape: tuple[int, ...] = ()
    for s in sequences:
        if len(s):
            sample_shape = np.asarray(s).shape[1:]
            break

    x = np.full((len(sequences), maxlen) + sample_shape, value).astype(dtype)
    for position, (s, length) in enumerate(zip(sequences, lengths, strict=True)):
        keep = min(length, maxlen)
        if not keep:
            continue
        trunc = s[length - keep :] if truncating == "pre" else s[:keep]
        trunc = np.asarray(trunc, dtype=dtype)
        if trunc.shape[1:] != sample_shape:
            raise ValueError(
                f"pad_sequences: shape of sample {trunc.shape[1:]} of sequence at position "
                f"{position} is different from expected shape {sample_shape}."
            )
        if padding == "post":
            x[position, :keep] = trunc
        else:
            x[position, maxlen - keep :] = trunc
    return x


def make_sampling_table(size: int, sampling_factor: float = 1e-5) -> np.ndarray:
    """Generates a word rank-based probabilistic sampling table.

    Element `i` is the probability of keeping the `i`-th most common word when sampling
    skip-gram pairs, word2vec's `min(1, sqrt(f / sampling_factor) / (f / sampling_factor))`
    for a word of frequency `f`. Frequencies are approximated by Zipf's law,
    `1 / f(rank) ~ rank * (log(rank) + gamma) + 1/2 - 1 / (12 * rank)` with
    `gamma = 0.577` (Euler-Mascheroni); rank 0 counts as rank 1.

    # Arguments
        size: int, number of possible words to sample.
        sampling_factor: the `t` of the word2vec formula.

    # Returns
        A float64 array of length `size`.

    # Example
    ```python
    table = make_sampling_table(10000)
    couples, labels = skipgrams(seq, 10000, sampling_table=table)
    ```
    """
    if int(size) != size or size < 1:
        raise ValueError(f"make_sampling_table: size must be a positive integer; got {size!r}.")
    gamma = 0.577
    rank = np.arange(int(size))
    rank[0] = 1
    inv_fq = rank * (np.log(rank) + gamma) + 0.5 - 1.0 / (12.0 * rank)
    f = sampling_factor * inv_fq
    return np.minimum(1.0, f / np.sqrt(f))


def skipgrams(
    sequence: Sequence[int],
    vocabulary_size: int,
    window_size: int = 4,
    negative_samples: float = 1.0,
    shuffle: bool = True,
    categorical: bool = False,
    sampling_table: Sequence[float] | np.ndarray | None = None,
) -> tuple[list[list[int]], list[Any]]:
    """Generates skip-gram word pairs.

    For each word `wi` of `sequence` (skipping index 0, a non-word, and words that the
    sampling table drops), every non-zero word `wj` within `window_size` positions gives a
    positive pair `[wi, wj]` with label 1. Then `int(num_positive * negative_samples)`
    negative pairs `[w, r]` with label 0 follow: `w` walks cyclically through a shuffled
    list of the positive pairs' first words and `r` is uniform in `[1, vocabulary_size - 1]`.

    # Arguments
        sequence: a word sequence (list of integer word indices).
        vocabulary_size: int, the largest word index + 1.
        window_size: int, half the window: the context of word `i` is positions
            `[i - window_size, i + window_size]`.
        negative_samples: float >= 0; 0 for no negative pairs, 1 for as many negative
            as positive pairs.
        shuffle: whether to shuffle the pairs (and their labels alike).
        categorical: if True labels are `[0, 1]` (positive) and `[1, 0]` (negative),
            otherwise 1 and 0.
        sampling_table: array of size `vocabulary_size`; word `w` is kept with
            probability `sampling_table[w]` (see `make_sampling_table`).

    # Returns
        `(couples, labels)`: lists of `[word, context]` pairs and of their labels.

    # Raises
        ValueError: for a negative `window_size` or `negative_samples`, or a
            `vocabulary_size` below 2 when negative pairs are asked for.
    """
    if window_size < 0:
        raise ValueError(f"skipgrams: window_size must be >= 0; got {window_size}.")
    if negative_samples < 0:
        raise ValueError(f"skipgrams: negative_samples must be >= 0; got {negative_samples}.")
    if negative_samples > 0 and vocabulary_size < 2:
        raise ValueError(
            "skipgrams: negative sampling draws words in [1, vocabulary_size - 1], so "
            f"vocabulary_size must be >= 2; got {vocabulary_size}."
        )
    couples: list[list[int]] = []
    labels: list[Any] = []
    for i, wi in enumerate(sequence):
        if not wi:
            continue
        if sampling_table is not None and sampling_table[wi] < random.random():
            continue
        window_start = max(0, i - window_size)
        window_end = min(len(sequence), i + window_size + 1)
        for j in range(window_start, window_end):
            wj = sequence[j]
            if j == i or not wj:
                continue
            couples.append([wi, wj])
            labels.append([0, 1] if categorical else 1)

    if negative_samples > 0:
        num_negative = int(len(labels) * negative_samples)
        words = [c[0] for c in couples]
        random.shuffle(words)
        couples += [
            [words[i % len(words)], random.randint(1, int(vocabulary_size) - 1)]
            for i in range(num_negative)
        ]
        labels += [[1, 0] if categorical else 0 for _ in range(num_negative)]

    if shuffle:
        # One seed for both shuffles keeps each label with its pair (Keras's order of draws).
        seed = random.randint(0, int(10e6))
        random.seed(seed)
        random.shuffle(couples)
        random.seed(seed)
        random.shuffle(labels)
    return couples, labels
