"""kgraph.preprocessing against tf-keras golden data (tools/make_preprocessing_fixtures.py).

Where tf-keras differs from Keras 2.0.5 (one_hot's abs, Tokenizer refits, char_level
case), the tests check 2.0.5's formula directly; random parts of skipgrams are checked
exactly for seeded runs and by their statistics.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

import kgraph
from kgraph.preprocessing import sequence, text
from kgraph.preprocessing.text import Tokenizer

FIXTURES = Path(__file__).parent / "fixtures" / "preprocessing"
SEQ = json.loads((FIXTURES / "sequence.json").read_text())
TEXT = json.loads((FIXTURES / "text.json").read_text(encoding="utf-8"))
MODES = ("binary", "count", "tfidf", "freq")


def _ids(cases: list[dict]) -> list[str]:
    return [c["name"] for c in cases]


def test_keras_layout() -> None:
    assert kgraph.preprocessing.sequence is sequence
    assert kgraph.preprocessing.text.Tokenizer is Tokenizer


# --- sequence ---------------------------------------------------------------------------


@pytest.mark.parametrize("case", SEQ["pad_sequences"], ids=_ids(SEQ["pad_sequences"]))
def test_pad_sequences_matches_keras(case: dict) -> None:
    seqs = case["sequences"]
    if case.get("arrays"):
        seqs = [np.asarray(s, dtype="float64").reshape(-1, 2) for s in seqs]
    got = sequence.pad_sequences(seqs, **case["kwargs"])
    assert got.dtype == np.dtype(case["dtype"])
    np.testing.assert_array_equal(got, np.asarray(case["expected"], dtype=case["dtype"]))


def test_pad_sequences_edges() -> None:
    assert sequence.pad_sequences([], maxlen=3).shape == (0, 3)
    assert sequence.pad_sequences([[1, 2], [3]], maxlen=0).shape == (2, 0)
    np.testing.assert_array_equal(sequence.pad_sequences([[], []]), np.zeros((2, 0)))
    arr = sequence.pad_sequences(np.array([[1, 2, 3], [4, 5, 6]]), maxlen=2, padding="post")
    np.testing.assert_array_equal(arr, [[2, 3], [5, 6]])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            {"padding": "middle"},
            "padding='middle' is not understood; expected one of 'pre', 'post'",
        ),
        ({"truncating": "both"}, "truncating='both' is not understood; expected one of 'pre'"),
        ({"maxlen": -1}, "maxlen must be >= 0; got -1"),
    ],
)
def test_pad_sequences_bad_arguments(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        sequence.pad_sequences([[1, 2]], **kwargs)


def test_pad_sequences_bad_sequences() -> None:
    with pytest.raises(ValueError, match="found non-iterable 3 at position 1"):
        sequence.pad_sequences([[1], 3])
    with pytest.raises(ValueError, match=r"shape of sample \(3,\) of sequence at position 1 "):
        sequence.pad_sequences([np.zeros((2, 2)), np.zeros((1, 3))])
    with pytest.raises(ValueError, match="cannot infer `maxlen` from an empty list"):
        sequence.pad_sequences([])
    with pytest.raises(ValueError, match="must be a list of sequences; got int"):
        sequence.pad_sequences(5)


@pytest.mark.parametrize(
    "case", SEQ["sampling_tables"], ids=lambda c: f"{c['size']}-{c['sampling_factor']}"
)
def test_make_sampling_table_matches_keras(case: dict) -> None:
    got = sequence.make_sampling_table(case["size"], case["sampling_factor"])
    np.testing.assert_allclose(got, case["expected"], rtol=1e-13, atol=0)


def test_make_sampling_table_bad_size() -> None:
    with pytest.raises(ValueError, match="size must be a positive integer; got 0"):
        sequence.make_sampling_table(0)


@pytest.mark.parametrize("case", SEQ["skipgrams"], ids=_ids(SEQ["skipgrams"]))
def test_skipgrams_matches_keras(case: dict) -> None:
    kwargs = dict(case["kwargs"])
    if "sampling_table" in case:
        kwargs["sampling_table"] = np.asarray(case["sampling_table"])
    if "seed" in case:
        random.seed(case["seed"])
    couples, labels = sequence.skipgrams(SEQ["skipgram_sequence"], 10, **kwargs)
    assert couples == case["couples"]
    assert labels == case["labels"]


def _window_pairs(seq: list[int], window: int) -> Counter:
    return Counter(
        (seq[i], seq[j])
        for i in range(len(seq))
        for j in range(max(0, i - window), min(len(seq), i + window + 1))
        if i != j and seq[i] and seq[j]
    )


def test_skipgrams_statistics() -> None:
    rng = np.random.default_rng(0)
    vocab, window = 50, 3
    seq = rng.integers(0, vocab, size=400).tolist()
    random.seed(11)
    couples, labels = sequence.skipgrams(seq, vocab, window_size=window, negative_samples=2.0)
    positives = [tuple(c) for c, lab in zip(couples, labels, strict=True) if lab == 1]
    negatives = [tuple(c) for c, lab in zip(couples, labels, strict=True) if lab == 0]
    # Shuffled together: positives are exactly the window pairs, twice as many negatives.
    assert Counter(positives) == _window_pairs(seq, window)
    assert len(negatives) == 2 * len(positives)
    assert labels[: len(positives)] != [1] * len(positives)  # really shuffled
    # Negative pairs: first words cycle over the positives' first words, contexts uniform.
    first_words = Counter(w for w, _ in positives)
    assert Counter(w for w, _ in negatives) == first_words + first_words
    contexts = np.array([c for _, c in negatives])
    assert contexts.min() >= 1 and contexts.max() <= vocab - 1
    counts = np.bincount(contexts, minlength=vocab)[1:]
    expected = len(contexts) / (vocab - 1)
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert chi2 < 100  # 48 degrees of freedom; p < 1e-4 above 100


def test_skipgrams_shuffle_keeps_pairs_with_labels() -> None:
    seq = [2, 7, 1, 0, 4, 4, 9, 3]
    random.seed(3)
    plain = sequence.skipgrams(seq, 10, window_size=2, shuffle=False)
    random.seed(3)
    mixed = sequence.skipgrams(seq, 10, window_size=2, shuffle=True)
    as_rows = lambda result: Counter((*c, lab) for c, lab in zip(*result, strict=True))  # noqa: E731
    assert as_rows(plain) == as_rows(mixed)


def test_skipgrams_sampling_table_statistics() -> None:
    seq = [1, 2] * 2000
    table = np.array([0.0, 0.25, 1.0])
    random.seed(0)
    couples, _ = sequence.skipgrams(seq, 3, window_size=1, negative_samples=0.0, shuffle=False)
    kept = Counter(c[0] for c in couples)
    # An interior word keeps 2 pairs: word 2 always, word 1 a quarter of the time.
    assert kept[2] == 2 * 2000 - 1
    random.seed(0)
    couples, _ = sequence.skipgrams(
        seq, 3, window_size=1, negative_samples=0.0, shuffle=False, sampling_table=table
    )
    kept = Counter(c[0] for c in couples)
    assert kept[2] == 2 * 2000 - 1
    assert abs(kept[1] / (2 * 2000) - 0.25) < 0.03


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"window_size": -1}, "window_size must be >= 0; got -1"),
        ({"negative_samples": -0.5}, "negative_samples must be >= 0; got -0.5"),
        ({"vocabulary_size": 1}, "vocabulary_size must be >= 2; got 1"),
    ],
)
def test_skipgrams_bad_arguments(kwargs: dict, message: str) -> None:
    kwargs = {"vocabulary_size": 5, **kwargs}
    with pytest.raises(ValueError, match=message):
        sequence.skipgrams([1, 2, 3], **kwargs)


# --- text functions ---------------------------------------------------------------------


@pytest.mark.parametrize("case", TEXT["words"], ids=lambda c: repr(c["text"])[:20])
def test_text_to_word_sequence_matches_keras(case: dict) -> None:
    assert text.text_to_word_sequence(case["text"], **case["kwargs"]) == case["expected"]


def test_text_to_word_sequence_bad_input() -> None:
    with pytest.raises(TypeError, match="expected a string; got list"):
        text.text_to_word_sequence(["a b"])
    with pytest.raises(ValueError, match="split must be a non-empty string"):
        text.text_to_word_sequence("a b", split="")


def test_hashing_trick_md5_matches_keras() -> None:
    for case in TEXT["md5"]:
        assert text.hashing_trick(case["text"], case["n"], hash_function="md5") == case["expected"]


def test_one_hot_is_205_formula() -> None:
    # 2.0.5 takes abs() of the salted builtin hash; tf-keras does not, so no golden file.
    words = text.text_to_word_sequence(TEXT["tokenizers"][0]["texts"][3])
    for n in (2, 7, 1000):
        got = text.one_hot(TEXT["tokenizers"][0]["texts"][3], n)
        assert got == [abs(hash(w)) % (n - 1) + 1 for w in words]
        assert all(1 <= i <= n - 1 for i in got)
    assert text.one_hot("Cat cat CAT", 100) == [text.one_hot("cat", 100)[0]] * 3


def test_hashing_trick_functions() -> None:
    words = ["the", "cat", "sat"]
    assert text.hashing_trick("The cat, sat", 13) == [hash(w) % 12 + 1 for w in words]
    assert text.hashing_trick("the cat sat", 5, hash_function=len) == [4, 4, 4]


@pytest.mark.parametrize("function", [text.one_hot, text.hashing_trick])
def test_hash_space_too_small(function) -> None:
    with pytest.raises(ValueError, match=r"n must be an integer >= 2; got 1"):
        function("a b", 1)


def test_hashing_trick_unknown_hash_function() -> None:
    with pytest.raises(ValueError, match="unknown hash_function 'sha1'; expected None, 'md5'"):
        text.hashing_trick("a b", 10, hash_function="sha1")


# --- Tokenizer --------------------------------------------------------------------------


def _fitted(case: dict) -> Tokenizer:
    tok = Tokenizer(**case["kwargs"])
    tok.fit_on_texts(case["texts"])
    return tok


@pytest.mark.parametrize("case", TEXT["tokenizers"], ids=_ids(TEXT["tokenizers"]))
def test_tokenizer_matches_keras(case: dict) -> None:
    tok = _fitted(case)
    assert [list(wc) for wc in tok.word_counts.items()] == case["word_counts"]
    assert tok.word_docs == case["word_docs"]
    assert tok.word_index == case["word_index"]
    assert tok.index_docs == {int(k): v for k, v in case["index_docs"].items()}
    assert tok.document_count == case["document_count"]
    assert tok.texts_to_sequences(case["matrix_texts"]) == case["sequences"]
    assert list(tok.texts_to_sequences_generator(case["matrix_texts"])) == case["generated"]
    for mode in MODES:
        got = tok.texts_to_matrix(case["matrix_texts"], mode=mode)
        np.testing.assert_allclose(got, case["matrices"][mode], rtol=1e-14, atol=0)


def test_tokenizer_fit_on_sequences_matches_keras() -> None:
    case = TEXT["fit_on_sequences"]
    tok = Tokenizer(num_words=case["num_words"])
    tok.fit_on_sequences(case["sequences"])
    assert tok.document_count == case["document_count"]
    assert tok.index_docs == {int(k): v for k, v in case["index_docs"].items()}
    for mode in MODES:
        got = tok.sequences_to_matrix(case["probe"], mode=mode)
        np.testing.assert_allclose(got, case["matrices"][mode], rtol=1e-14, atol=0)


def test_tokenizer_refit_follows_205() -> None:
    # 2.0.5 restarts document_count and rebuilds index_docs from the accumulated word_docs.
    tok = Tokenizer()
    tok.fit_on_texts(["a b b", "c"])
    tok.fit_on_texts(t for t in ["c c d"])
    assert tok.document_count == 1
    assert list(tok.word_counts.items()) == [("a", 1), ("b", 2), ("c", 3), ("d", 1)]
    assert tok.word_index == {"c": 1, "b": 2, "a": 3, "d": 4}
    assert tok.index_docs == {3: 1, 2: 1, 1: 2, 4: 1}
    tok.fit_on_sequences([[1, 2], [2]])
    assert (tok.document_count, tok.index_docs) == (2, {1: 1, 2: 2})


def test_tokenizer_char_level_keeps_case() -> None:
    # 2.0.5 never lowercases characters (tf-keras does).
    tok = Tokenizer(char_level=True)
    tok.fit_on_texts(["aAb", "A"])
    assert tok.word_index == {"A": 1, "a": 2, "b": 3}
    assert tok.texts_to_sequences(["bAa", "B"]) == [[3, 1, 2], []]


def test_tokenizer_legacy_nb_words() -> None:
    with pytest.warns(UserWarning, match="`nb_words` argument in `Tokenizer` has been renamed"):
        tok = Tokenizer(nb_words=3)
    assert tok.num_words == 3


def test_tokenizer_bad_arguments() -> None:
    with pytest.raises(TypeError, match=r"unrecognized keyword arguments \['oov_token'\]"):
        Tokenizer(oov_token="<unk>")
    with pytest.raises(ValueError, match="num_words must be None or an integer >= 0; got 2.5"):
        Tokenizer(num_words=2.5)
    tok = _fitted(TEXT["tokenizers"][0])
    expected = "unknown vectorization mode 'tf-idf'; expected one of 'binary', 'count', 'tfidf'"
    with pytest.raises(ValueError, match=expected):
        tok.texts_to_matrix(["the cat"], mode="tf-idf")


def test_tokenizer_matrix_needs_fit() -> None:
    with pytest.raises(ValueError, match=r"specify a dimension \(num_words argument\)"):
        Tokenizer().sequences_to_matrix([[1, 2]])
    with pytest.raises(ValueError, match="before using tfidf mode"):
        Tokenizer(num_words=4).sequences_to_matrix([[1, 2]], mode="tfidf")
    got = Tokenizer(num_words=4).sequences_to_matrix([[1, 2, 2, 7], []], mode="freq")
    np.testing.assert_array_equal(got, [[0, 0.25, 0.5, 0], [0, 0, 0, 0]])
