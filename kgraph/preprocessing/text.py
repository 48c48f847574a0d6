"""Text preprocessing, as `keras.preprocessing.text` in Keras 2.0.5.

`text_to_word_sequence` splits a text into words; `one_hot` and `hashing_trick` map words
to indices by hashing; `Tokenizer` builds a vocabulary from a corpus and turns texts into
index sequences or `(num_texts, num_words)` matrices.

Hashing: `one_hot` and `hashing_trick(hash_function=None)` use Python's built-in `hash`,
as Keras does. Python 3 salts `hash` of strings per process, so these indices are
consistent within one process only (or across processes run with the same
`PYTHONHASHSEED`); `hashing_trick(..., hash_function='md5')` is stable everywhere.
"""

from __future__ import annotations

import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from hashlib import md5
from typing import Any

import numpy as np

__all__ = ["Tokenizer", "hashing_trick", "one_hot", "text_to_word_sequence"]

DEFAULT_FILTERS = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'
MATRIX_MODES = ("binary", "count", "tfidf", "freq")


def text_to_word_sequence(
    text: str, filters: str = DEFAULT_FILTERS, lower: bool = True, split: str = " "
) -> list[str]:
    """Converts a text to a sequence of words (or tokens).

    Every character of `filters` is replaced by `split`, then the text is split on
    `split` and empty words are dropped.

    # Arguments
        text: input text (string).
        filters: characters to filter out (default: punctuation except `'`, tab, newline).
        lower: whether to convert the text to lowercase first.
        split: word separator (string).

    # Returns
        A list of words.

    # Example
    ```python
    text_to_word_sequence("Hello, World!")  # ['hello', 'world']
    ```
    """
    if not isinstance(text, str):
        raise TypeError(f"text_to_word_sequence: expected a string; got {type(text).__name__}.")
    if not split:
        raise ValueError("text_to_word_sequence: split must be a non-empty string.")
    if lower:
        text = text.lower()
    text = text.translate(str.maketrans(dict.fromkeys(filters, split)))
    return [w for w in text.split(split) if w]


def _check_hash_space(function: str, n: int) -> None:
    if int(n) != n or n < 2:
        raise ValueError(
            f"{function}: n is the size of the hashing space and index 0 is reserved, "
            f"so n must be an integer >= 2; got {n!r}."
        )


def one_hot(
    text: str, n: int, filters: str = DEFAULT_FILTERS, lower: bool = True, split: str = " "
) -> list[int]:
    """One-hot encodes a text into a list of word indices in `[1, n - 1]`.

    Word `w` gets `abs(hash(w)) % (n - 1) + 1` (Keras 2.0.5's formula). Different words
    may share an index, and `hash` is salted per process (see the module docstring).

    # Arguments
        text: input text (string).
        n: size of the index space (index 0 is never assigned).
        filters, lower, split: as in `text_to_word_sequence`.

    # Returns
        A list of integer word indices.
    """
    _check_hash_space("one_hot", n)
    seq = text_to_word_sequence(text, filters=filters, lower=lower, split=split)
    return [abs(hash(w)) % (int(n) - 1) + 1 for w in seq]


def _md5(word: str) -> int:
    return int(md5(word.encode()).hexdigest(), 16)


def hashing_trick(
    text: str,
    n: int,
    hash_function: str | Callable[[str], int] | None = None,
    filters: str = DEFAULT_FILTERS,
    lower: bool = True,
    split: str = " ",
) -> list[int]:
    """Converts a text to a sequence of indices in a fixed-size hashing space.

    Word `w` gets `hash_function(w) % (n - 1) + 1`, so index 0 is never assigned; different
    words may collide. (Added to Keras in 2.0.6; `one_hot` is the 2.0.5 form.)

    # Arguments
        text: input text (string).
        n: size of the hashing space.
        hash_function: None for Python's `hash` (salted per process), 'md5' for a stable
            hash (the md5 digest of the UTF-8 word as an integer), or a function from a
            string to an int.
        filters, lower, split: as in `text_to_word_sequence`.

    # Returns
        A list of integer word indices.

    # Raises
        ValueError: for `n < 2` or an unknown `hash_function`.

    # Example
    ```python
    hashing_trick("the cat sat on the mat", 50, hash_function="md5")
    ```
    """
    _check_hash_space("hashing_trick", n)
    if hash_function is None:
        hash_function = hash
    elif hash_function == "md5":
        hash_function = _md5
    elif not callable(hash_function):
        raise ValueError(
            f"hashing_trick: unknown hash_function {hash_function!r}; expected None, 'md5' "
            "or a function from a string to an int."
        )
    seq = text_to_word_sequence(text, filters=filters, lower=lower, split=split)
    return [hash_function(w) % (int(n) - 1) + 1 for w in seq]


class Tokenizer:
    """Text tokenization utility class.

    Builds a vocabulary from a corpus and turns texts into sequences of word indices or
    into matrices of per-word values (binary, count, frequency or tf-idf). Index 0 is
    never assigned to a word; indices start at 1 and are ordered by count, most frequent
    first, ties in first-seen order.

    # Arguments
        num_words: if set, only words with index < `num_words` are kept (the
            `num_words - 1` most frequent), and matrices have `num_words` columns.
        filters: characters removed from the texts (default: punctuation except `'`,
            tab, newline).
        lower: whether to lowercase texts (not applied with `char_level`, as in
            Keras 2.0.5).
        split: word separator.
        char_level: if True, every character is a token.
        nb_words: Keras 1 name of `num_words` (warns).

    # Attributes
        word_counts: OrderedDict word -> count over all texts fitted (accumulates across
            `fit_on_texts` calls).
        word_docs: dict word -> number of texts containing it (accumulates too).
        word_index: dict word -> index, rebuilt by each `fit_on_texts`.
        index_docs: dict index -> number of texts containing it.
        document_count: number of texts (or sequences) in the last fit call.

    # Example
    ```python
    tokenizer = Tokenizer(num_words=1000)
    tokenizer.fit_on_texts(texts)
    sequences = tokenizer.texts_to_sequences(texts)
    x = tokenizer.sequences_to_matrix(sequences, mode='binary')
    ```
    """

    def __init__(
        self,
        num_words: int | None = None,
        filters: str = DEFAULT_FILTERS,
        lower: bool = True,
        split: str = " ",
        char_level: bool = False,
        **kwargs: Any,
    ) -> None:
        if "nb_words" in kwargs:
            warnings.warn(
                "The `nb_words` argument in `Tokenizer` has been renamed `num_words`.",
                stacklevel=2,
            )
            num_words = kwargs.pop("nb_words")
        if kwargs:
            raise TypeError(
                f"Tokenizer: unrecognized keyword arguments {sorted(kwargs)}; expected "
                "num_words, filters, lower, split, char_level (or the legacy nb_words)."
            )
        if num_words is not None and (int(num_words) != num_words or num_words < 0):
            raise ValueError(
                f"Tokenizer: num_words must be None or an integer >= 0; got {num_words!r}."
            )
        self.word_counts: OrderedDict[str, int] = OrderedDict()
        self.word_docs: dict[str, int] = {}
        self.word_index: dict[str, int] = {}
        self.index_docs: dict[int, int] = {}
        self.filters = filters
        self.split = split
        self.lower = lower
        self.num_words = num_words
        self.document_count = 0
        self.char_level = char_level

    def _tokens(self, text: str | Sequence[str]) -> Sequence[str]:
        if self.char_level:
            return text
        return text_to_word_sequence(text, self.filters, self.lower, self.split)

    def fit_on_texts(self, texts: Iterable[str]) -> None:
        """Updates the vocabulary from a list (or generator) of texts.

        Required before `texts_to_sequences` or `texts_to_matrix`.

        # Arguments
            texts: list or generator of strings (with `char_level`, also of lists of
                characters).
        """
        self.document_count = 0
        for text in texts:
            self.document_count += 1
            seq = self._tokens(text)
            for w in seq:
                self.word_counts[w] = self.word_counts.get(w, 0) + 1
            for w in set(seq):
                self.word_docs[w] = self.word_docs.get(w, 0) + 1
        # A stable sort keeps first-seen order among equal counts.
        ranked = sorted(self.word_counts.items(), key=lambda wc: wc[1], reverse=True)
        self.word_index = {w: i for i, (w, _) in enumerate(ranked, start=1)}
        self.index_docs = {self.word_index[w]: c for w, c in self.word_docs.items()}

    def fit_on_sequences(self, sequences: Sequence[Sequence[int]]) -> None:
        """Updates `index_docs` and `document_count` from a list of index sequences.

        Required before `sequences_to_matrix(mode='tfidf')` when `fit_on_texts` was never
        called.

        # Arguments
            sequences: list of sequences of integer word indices.
        """
        self.document_count = len(sequences)
        self.index_docs = {}
        for seq in sequences:
            for i in set(seq):
                self.index_docs[i] = self.index_docs.get(i, 0) + 1

    def texts_to_sequences(self, texts: Iterable[str]) -> list[list[int]]:
        """Turns each text into a list of word indices.

        Words not in the vocabulary, and words with index >= `num_words`, are dropped.

        # Arguments
            texts: list or generator of strings.

        # Returns
            A list of lists of ints.
        """
        return list(self.texts_to_sequences_generator(texts))

    def texts_to_sequences_generator(self, texts: Iterable[str]) -> Iterator[list[int]]:
        """Yields the word-index sequence of each text (see `texts_to_sequences`).

        # Arguments
            texts: list or generator of strings.

        # Yields
            One list of ints per text.
        """
        num_words = self.num_words
        for text in texts:
            vect = []
            for w in self._tokens(text):
                i = self.word_index.get(w)
                if i is not None and not (num_words and i >= num_words):
                    vect.append(i)
            yield vect

    def texts_to_matrix(self, texts: Iterable[str], mode: str = "binary") -> np.ndarray:
        """Turns texts into a `(len(texts), width)` matrix (see `sequences_to_matrix`).

        # Arguments
            texts: list of strings.
            mode: one of 'binary', 'count', 'tfidf', 'freq'.

        # Returns
            A float64 numpy array.
        """
        return self.sequences_to_matrix(self.texts_to_sequences(texts), mode=mode)

    def sequences_to_matrix(
        self, sequences: Sequence[Sequence[int]], mode: str = "binary"
    ) -> np.ndarray:
        """Turns index sequences into a `(len(sequences), width)` matrix.

        The width is `num_words`, or `len(word_index) + 1` when `num_words` is unset;
        indices >= width are ignored. Entry `[i, j]` for a word `j` occurring `c > 0` times
        in sequence `i` is: 'binary' 1; 'count' c; 'freq' `c / len(sequence)`; 'tfidf'
        `(1 + log c) * log(1 + document_count / (1 + index_docs.get(j, 0)))`.

        # Arguments
            sequences: list of sequences of integer word indices.
            mode: one of 'binary', 'count', 'tfidf', 'freq'.

        # Returns
            A float64 numpy array.

        # Raises
            ValueError: for an unknown `mode`, when neither `num_words` nor a fitted
                vocabulary gives the width, or for 'tfidf' before any fit.
        """
        if mode not in MATRIX_MODES:
            raise ValueError(
                f"Tokenizer.sequences_to_matrix: unknown vectorization mode {mode!r}; "
                f"expected one of {', '.join(repr(m) for m in MATRIX_MODES)}."
            )
        if self.num_words:
            width = self.num_words
        elif self.word_index:
            width = len(self.word_index) + 1
        else:
            raise ValueError(
                "Tokenizer.sequences_to_matrix: specify a dimension (num_words argument), "
                "or fit on some text data first."
            )
        if mode == "tfidf" and not self.document_count:
            raise ValueError(
                "Tokenizer.sequences_to_matrix: fit the Tokenizer on some data "
                "(fit_on_texts or fit_on_sequences) before using tfidf mode."
            )
        x = np.zeros((len(sequences), width))
        for i, seq in enumerate(sequences):
            counts: dict[int, int] = {}
            for j in seq:
                if j < width:
                    counts[j] = counts.get(j, 0) + 1
            for j, c in counts.items():
                if mode == "count":
                    x[i, j] = c
                elif mode == "freq":
                    x[i, j] = c / len(seq)
                elif mode == "binary":
                    x[i, j] = 1
                else:
                    idf = np.log(1 + self.document_count / (1 + self.index_docs.get(j, 0)))
                    x[i, j] = (1 + np.log(c)) * idf
        return x
