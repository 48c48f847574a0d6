"""Golden fixtures for kgraph.preprocessing, made by tf-keras 2.21's preprocessing modules.

Writes ``tests/fixtures/preprocessing/sequence.json`` and ``text.json``: each case records
its inputs and what ``tf_keras.preprocessing.sequence`` / ``.text`` return for them. The
tests (tests/test_preprocessing.py) run kgraph on the same inputs and compare.

Run (TensorFlow is needed only here)::

    cd <repo root> && /work/venv-tf/bin/python tools/make_preprocessing_fixtures.py

Only cases where tf-keras computes what Keras 2.0.5 computes are recorded. Left out, and
tested in the suite by 2.0.5's formula instead:

* ``one_hot``: 2.0.5 uses ``abs(hash(w)) % (n - 1) + 1`` (tf-keras drops the ``abs``), and
  ``hash`` of a string is salted per process, so no file can hold its values.
* ``Tokenizer`` with ``char_level=True`` lowercases in tf-keras but not in 2.0.5; the case
  here uses lowercase text only.
* Fitting a ``Tokenizer`` twice: 2.0.5 resets ``document_count`` and ``index_docs`` on each
  fit, tf-keras accumulates them; every case here fits once, on a fresh tokenizer.

``skipgrams`` draws from Python's ``random`` module; a case with ``seed`` calls
``random.seed(seed)`` right before ``skipgrams``, and both sides draw in the same order.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
from tf_keras.preprocessing import sequence, text  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "preprocessing"

SEQS = [[1, 2, 3], [4, 5], [], [6, 7, 8, 9, 10], [11]]
FEATURES = [[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], [[7.5, 8.5]], []]
PAD_CASES = [
    {"name": "default", "sequences": SEQS, "kwargs": {}},
    {"name": "maxlen_pre_pre", "sequences": SEQS, "kwargs": {"maxlen": 3}},
    {
        "name": "maxlen_post_post",
        "sequences": SEQS,
        "kwargs": {"maxlen": 3, "padding": "post", "truncating": "post"},
    },
    {
        "name": "maxlen_pre_post",
        "sequences": SEQS,
        "kwargs": {"maxlen": 2, "padding": "pre", "truncating": "post"},
    },
    {
        "name": "maxlen_post_pre",
        "sequences": SEQS,
        "kwargs": {"maxlen": 4, "padding": "post", "truncating": "pre"},
    },
    {"name": "longer_maxlen_value", "sequences": SEQS, "kwargs": {"maxlen": 7, "value": -1}},
    {
        "name": "float32_value",
        "sequences": [[0.5, 1.5], [2.25]],
        "kwargs": {"dtype": "float32", "value": 0.1},
    },
    {
        "name": "int_dtype_truncates_floats",
        "sequences": [[0.5, 1.5, 2.7], [3.9]],
        "kwargs": {"maxlen": 2},
    },
    {
        "name": "features",
        "sequences": FEATURES,
        "arrays": True,
        "kwargs": {"maxlen": 2, "dtype": "float64", "padding": "post", "value": 9.0},
    },
    {
        "name": "features_pre",
        "sequences": FEATURES,
        "arrays": True,
        "kwargs": {"dtype": "float32", "truncating": "post"},
    },
]

SKIP_SEQ = [3, 1, 0, 4, 1, 5, 9, 2, 0, 6, 5, 3]
SKIPGRAM_CASES = [
    {"name": "window2", "kwargs": {"window_size": 2, "negative_samples": 0.0, "shuffle": False}},
    {
        "name": "window4_categorical",
        "kwargs": {"negative_samples": 0.0, "shuffle": False, "categorical": True},
    },
    {"name": "window0", "kwargs": {"window_size": 0, "negative_samples": 0.0, "shuffle": False}},
    {"name": "seeded_negative", "seed": 1234, "kwargs": {"window_size": 2}},
    {
        "name": "seeded_negative_noshuffle",
        "seed": 7,
        "kwargs": {"window_size": 1, "negative_samples": 1.5, "shuffle": False},
    },
    {
        "name": "seeded_categorical",
        "seed": 99,
        "kwargs": {"window_size": 3, "negative_samples": 0.5, "categorical": True},
    },
    {
        "name": "seeded_sampling_table",
        "seed": 5,
        "sampling_table": [0.0, 1.0, 0.5, 0.9, 0.1, 1.0, 0.3, 0.7, 0.2, 0.6],
        "kwargs": {"window_size": 2},
    },
]

TEXTS = [
    "The cat sat on the mat.",
    "The dog ate my homework!",
    "A cat, a dog; and THE bird?",
    "Don't panic:\tthe answer is 42\nreally",
    "",
]
WORD_CASES = [
    {"text": "Hello, World! Hello again...", "kwargs": {}},
    {"text": "Keep CASE, please", "kwargs": {"lower": False}},
    {"text": "a,b;;c d,,e", "kwargs": {"filters": ";", "split": ","}},
    {"text": "tabs\tand\nnewlines  and   spaces", "kwargs": {}},
    {"text": "x--y__z", "kwargs": {"filters": "-", "split": "_"}},
    {"text": "Ünïcödé Straße, ÉCOLE", "kwargs": {}},
    {"text": "", "kwargs": {}},
]
MD5_CASES = [{"text": t, "n": n} for t in TEXTS[:4] for n in (2, 10, 1000)]
SEQ_CORPUS = [[1, 2, 2, 3], [3, 4], [], [5, 1, 1, 1]]


def pad_cases() -> list[dict]:
    out = []
    for case in PAD_CASES:
        seqs = case["sequences"]
        if case.get("arrays"):
            seqs = [np.asarray(s, dtype="float64").reshape(-1, 2) for s in seqs]
        result = sequence.pad_sequences(seqs, **case["kwargs"])
        out.append({**case, "dtype": str(result.dtype), "expected": result.tolist()})
    return out


def skipgram_cases() -> list[dict]:
    out = []
    for case in SKIPGRAM_CASES:
        kwargs = dict(case["kwargs"])
        if "sampling_table" in case:
            kwargs["sampling_table"] = np.asarray(case["sampling_table"])
        if "seed" in case:
            random.seed(case["seed"])
        couples, labels = sequence.skipgrams(SKIP_SEQ, 10, **kwargs)
        out.append({**case, "couples": [[int(a), int(b)] for a, b in couples], "labels": labels})
    return out


def tokenizer_case(name: str, texts: list, kwargs: dict, matrix_texts: list) -> dict:
    tok = text.Tokenizer(**kwargs)
    tok.fit_on_texts(texts)
    return {
        "name": name,
        "kwargs": kwargs,
        "texts": texts,
        "matrix_texts": matrix_texts,
        "word_counts": list(tok.word_counts.items()),
        "word_docs": dict(sorted(tok.word_docs.items())),  # set order is salted
        "word_index": tok.word_index,
        "index_docs": {str(k): v for k, v in sorted(tok.index_docs.items())},
        "document_count": tok.document_count,
        "sequences": tok.texts_to_sequences(matrix_texts),
        "generated": list(tok.texts_to_sequences_generator(matrix_texts)),
        "matrices": {
            m: tok.texts_to_matrix(matrix_texts, mode=m).tolist()
            for m in ("binary", "count", "tfidf", "freq")
        },
    }


def text_fixture() -> dict:
    unseen = ["the cat ate the bird", "nothing known here", "", "the the the mat"]
    tokenizers = [
        tokenizer_case("default", TEXTS, {}, TEXTS + unseen),
        tokenizer_case("num_words", TEXTS, {"num_words": 6}, TEXTS + unseen),
        tokenizer_case(
            "no_lower_filters",
            TEXTS,
            {"lower": False, "filters": ".!?", "split": " "},
            TEXTS + unseen,
        ),
        tokenizer_case(
            "char_level", ["abcab", "bca d", "zz"], {"char_level": True}, ["abcz", "q", "dd a"]
        ),
    ]
    seq_tok = text.Tokenizer(num_words=7)
    seq_tok.fit_on_sequences(SEQ_CORPUS)
    probe = SEQ_CORPUS + [[6, 6, 9, 2], [0, 0]]
    return {
        "words": [
            {**c, "expected": text.text_to_word_sequence(c["text"], **c["kwargs"])}
            for c in WORD_CASES
        ],
        "md5": [
            {**c, "expected": text.hashing_trick(c["text"], c["n"], hash_function="md5")}
            for c in MD5_CASES
        ],
        "tokenizers": tokenizers,
        "fit_on_sequences": {
            "num_words": 7,
            "sequences": SEQ_CORPUS,
            "probe": probe,
            "document_count": seq_tok.document_count,
            "index_docs": {str(k): v for k, v in sorted(seq_tok.index_docs.items())},
            "matrices": {
                m: seq_tok.sequences_to_matrix(probe, mode=m).tolist()
                for m in ("binary", "count", "tfidf", "freq")
            },
        },
    }


def _dump(data: dict) -> str:
    """JSON with one line per case, small and still readable in a diff."""
    parts = []
    for key, value in data.items():
        if isinstance(value, list) and value and isinstance(value[0], dict):
            rows = ",\n  ".join(json.dumps(v, ensure_ascii=False) for v in value)
            parts.append(f" {json.dumps(key)}: [\n  {rows}\n ]")
        else:
            parts.append(f" {json.dumps(key)}: {json.dumps(value, ensure_ascii=False)}")
    return "{\n" + ",\n".join(parts) + "\n}\n"


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    seq_fixture = {
        "pad_sequences": pad_cases(),
        "sampling_tables": [
            {
                "size": size,
                "sampling_factor": factor,
                "expected": sequence.make_sampling_table(size, factor).tolist(),
            }
            for size, factor in ((1, 1e-5), (12, 1e-5), (40, 1e-3), (25, 0.1))
        ],
        "skipgram_sequence": SKIP_SEQ,
        "skipgrams": skipgram_cases(),
    }
    for name, data in (("sequence.json", seq_fixture), ("text.json", text_fixture())):
        (OUT / name).write_text(_dump(data))
        print("wrote", OUT / name)


if __name__ == "__main__":
    main()
