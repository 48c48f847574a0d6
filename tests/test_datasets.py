"""kgraph.datasets, offline: tiny files in the upstream formats, served from file:// URLs.

Expected values are worked out by hand from Keras 2.0.5's rules. The shuffles use numpy's
global generator: with seed 113, four items come out in the order [3, 2, 0, 1] and five in
[1, 0, 3, 2, 4]; with seed 226 (the IMDB test set's `seed * 2`), three come out as [1, 2, 0].
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest

import kgraph._config as config
from kgraph.datasets import boston_housing, cifar10, cifar100, imdb, mnist, reuters
from kgraph.datasets._safe_load import UnsafePickleError


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch):
    """An empty ~/.keras for every test."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def _serve(monkeypatch, module, path: Path, origin="_ORIGIN", file_hash="_FILE_HASH") -> None:
    """Points `module` at a local file, with that file's real sha256."""
    monkeypatch.setattr(module, origin, path.as_uri())
    monkeypatch.setattr(module, file_hash, hashlib.sha256(path.read_bytes()).hexdigest())


def _object_array(lists):
    out = np.empty(len(lists), dtype=object)
    for i, x in enumerate(lists):
        out[i] = x
    return out


def _assert_sequences(array, expected):
    assert array.dtype == object and array.shape == (len(expected),)
    assert [list(x) for x in array] == expected


def test_the_permutations_the_expected_values_rely_on():
    assert list(np.random.RandomState(113).permutation(4)) == [3, 2, 0, 1]
    assert list(np.random.RandomState(113).permutation(5)) == [1, 0, 3, 2, 4]
    assert list(np.random.RandomState(226).permutation(3)) == [1, 2, 0]


# --- MNIST and Boston housing: plain arrays ---------------------------------------------


def test_mnist_returns_the_arrays_and_checks_the_hash(tmp_path, monkeypatch):
    arrays = {
        "x_train": np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28),
        "y_train": np.array([5, 0], dtype=np.uint8),
        "x_test": np.full((1, 28, 28), 7, dtype=np.uint8),
        "y_test": np.array([7], dtype=np.uint8),
    }
    src = tmp_path / "mnist.npz"
    np.savez(src, **arrays)
    monkeypatch.setattr(mnist, "_ORIGIN", src.as_uri())
    monkeypatch.setattr(mnist, "_FILE_HASH", "0" * 64)
    with pytest.raises(ValueError, match="does not match the expected sha256"):
        mnist.load_data()
    assert not (tmp_path / "home" / ".keras" / "datasets" / "mnist.npz").exists()

    _serve(monkeypatch, mnist, src)
    (x_train, y_train), (x_test, y_test) = mnist.load_data()
    for name, got in zip(arrays, (x_train, y_train, x_test, y_test), strict=True):
        assert got.dtype == np.uint8
        np.testing.assert_array_equal(got, arrays[name])
    assert (tmp_path / "home" / ".keras" / "datasets" / "mnist.npz").exists()


def test_boston_housing_shuffles_and_splits(tmp_path, monkeypatch):
    src = tmp_path / "boston_housing.npz"
    x = np.array([[i, 10.0 * i] for i in range(5)])
    np.savez(src, x=x, y=np.array([0.5, 1.5, 2.5, 3.5, 4.5]))
    _serve(monkeypatch, boston_housing, src)
    (x_train, y_train), (x_test, y_test) = boston_housing.load_data()
    np.testing.assert_array_equal(x_train, [[1, 10], [0, 0], [3, 30], [2, 20]])
    np.testing.assert_array_equal(y_train, [1.5, 0.5, 3.5, 2.5])
    np.testing.assert_array_equal(x_test, [[4, 40]])
    np.testing.assert_array_equal(y_test, [4.5])
    assert x_train.dtype == np.float64

    # seed 7 orders five items [0, 3, 2, 1, 4]; a split of 0.2 leaves four for training.
    assert list(np.random.RandomState(7).permutation(5)) == [0, 3, 2, 1, 4]
    (x_train, y_train), (_, y_test) = boston_housing.load_data(seed=7)
    np.testing.assert_array_equal(y_train, [0.5, 3.5, 2.5, 1.5])
    np.testing.assert_array_equal(y_test, [4.5])
    with pytest.raises(ValueError, match=r"test_split must be in \[0, 1\); received 1"):
        boston_housing.load_data(test_split=1)


# --- CIFAR: pickled batches in a tar.gz -------------------------------------------------


def _image_rows(first: int, count: int) -> np.ndarray:
    """Rows of 3072 bytes; image k holds (k + j) % 256 at byte j."""
    return ((np.arange(first, first + count)[:, None] + np.arange(3072)) % 256).astype(np.uint8)


def _py2_pickle(obj) -> bytes:
    """A protocol 2 pickle naming numpy as numpy 1 did, like the published batches."""
    return pickle.dumps(obj, protocol=2).replace(
        b"numpy._core.multiarray", b"numpy.core.multiarray"
    )


def _tarball(path: Path, folder: str, members: dict[str, bytes]) -> None:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(f"{folder}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def _cifar10_archive(tmp_path, monkeypatch, test_batch=None) -> None:
    members = {}
    for i in range(1, 6):  # two images per training batch, labels 2i-2 and 2i-1 (mod 10)
        rows = _image_rows(2 * (i - 1), 2)
        labels = [(2 * i - 2) % 10, (2 * i - 1) % 10]
        batch = {b"batch_label": b"training batch", b"labels": labels, b"data": rows,
                 b"filenames": [b"a.png", b"b.png"]}  # fmt: skip
        members[f"data_batch_{i}"] = _py2_pickle(batch)
    members["test_batch"] = test_batch or _py2_pickle(
        {b"batch_label": b"testing batch", b"labels": [3, 8, 1], b"data": _image_rows(100, 3)}
    )
    src = tmp_path / "cifar-10-python.tar.gz"
    _tarball(src, "cifar-10-batches-py", members)
    _serve(monkeypatch, cifar10, src)


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_cifar10_layout_labels_and_dtypes(tmp_path, monkeypatch, data_format):
    monkeypatch.setattr(config, "_IMAGE_DATA_FORMAT", data_format)
    _cifar10_archive(tmp_path, monkeypatch)
    (x_train, y_train), (x_test, y_test) = cifar10.load_data()

    last = data_format == "channels_last"
    assert x_train.shape == ((10, 32, 32, 3) if last else (10, 3, 32, 32))
    assert x_test.shape == ((3, 32, 32, 3) if last else (3, 3, 32, 32))
    assert x_train.dtype == x_test.dtype == np.uint8

    # Byte c*1024 + h*32 + w of a row is channel c at row h, column w:
    # image 0, h=1, w=2, c=1 is byte 1058 -> 1058 % 256 = 34; image 7 adds 7.
    def pixel(x, k, h, w, c):
        return x[k, h, w, c] if last else x[k, c, h, w]

    assert pixel(x_train, 0, 1, 2, 1) == 34
    assert pixel(x_train, 7, 1, 2, 1) == 41
    # test image 0 is row 100: h=0, w=0, c=2 is byte 2048 -> (100 + 2048) % 256 = 100.
    assert pixel(x_test, 0, 0, 0, 2) == 100
    got = x_train.transpose(0, 3, 1, 2) if last else x_train
    np.testing.assert_array_equal(got, _image_rows(0, 10).reshape(10, 3, 32, 32))

    # Keras 2.0.5 fills uint8 training labels and reshapes the test list (int64).
    assert y_train.dtype == np.uint8 and y_train.shape == (10, 1)
    assert y_train[:, 0].tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
    assert y_test.dtype == np.int64 and y_test.tolist() == [[3], [8], [1]]


def _cifar100_archive(tmp_path, monkeypatch) -> None:
    def batch(first, fine, coarse):
        return _py2_pickle({b"data": _image_rows(first, len(fine)), b"fine_labels": fine,
                            b"coarse_labels": coarse, b"filenames": [b"x"] * len(fine)})  # fmt: skip

    src = tmp_path / "cifar-100-python.tar.gz"
    members = {"train": batch(0, [19, 29, 0], [11, 15, 4]), "test": batch(50, [49, 33], [10, 19])}
    _tarball(src, "cifar-100-python", {**members, "meta": _py2_pickle({b"fine_label_names": []})})
    _serve(monkeypatch, cifar100, src)


def test_cifar100_label_modes(tmp_path, monkeypatch):
    monkeypatch.setattr(config, "_IMAGE_DATA_FORMAT", "channels_first")
    _cifar100_archive(tmp_path, monkeypatch)
    (x_train, y_train), (x_test, y_test) = cifar100.load_data()
    assert y_train.tolist() == [[19], [29], [0]] and y_test.tolist() == [[49], [33]]
    assert y_train.shape == (3, 1) and y_train.dtype == np.int64
    np.testing.assert_array_equal(x_train, _image_rows(0, 3).reshape(3, 3, 32, 32))
    np.testing.assert_array_equal(x_test, _image_rows(50, 2).reshape(2, 3, 32, 32))

    (_, y_train), (_, y_test) = cifar100.load_data(label_mode="coarse")
    assert y_train.tolist() == [[11], [15], [4]] and y_test.tolist() == [[10], [19]]

    with pytest.raises(
        ValueError, match="label_mode must be one of 'fine', 'coarse'; received 'medium'"
    ):
        cifar100.load_data(label_mode="medium")


# --- IMDB and Reuters: object arrays of lists -------------------------------------------

# Raw word indices as stored; labels follow each review.
_IMDB_TRAIN = [[1, 2], [3, 4, 5], [6], [2, 7, 8, 9]], [0, 1, 1, 0]
_IMDB_TEST = [[10, 1], [4], [5, 6, 7]], [1, 0, 1]


def _imdb_files(tmp_path, monkeypatch, x_train=None) -> None:
    src = tmp_path / "imdb.npz"
    np.savez(src, x_train=_object_array(_IMDB_TRAIN[0]) if x_train is None else x_train,
             y_train=np.array(_IMDB_TRAIN[1]), x_test=_object_array(_IMDB_TEST[0]),
             y_test=np.array(_IMDB_TEST[1]))  # fmt: skip
    _serve(monkeypatch, imdb, src)


def test_imdb_defaults(tmp_path, monkeypatch):
    _imdb_files(tmp_path, monkeypatch)
    (x_train, y_train), (x_test, y_test) = imdb.load_data()
    # Training order [3, 2, 0, 1], test order [1, 2, 0]; start_char 1, every index + 3; with
    # num_words=None the largest index (13, from test review 0) becomes the oov_char 2.
    _assert_sequences(x_train, [[1, 5, 10, 11, 12], [1, 9], [1, 4, 5], [1, 6, 7, 8]])
    assert y_train.tolist() == [0, 1, 0, 1] and y_train.dtype == np.int64
    _assert_sequences(x_test, [[1, 7], [1, 8, 9, 10], [1, 2, 4]])
    assert y_test.tolist() == [0, 1, 1] and y_test.dtype == np.int64


def test_imdb_num_words_skip_top_maxlen(tmp_path, monkeypatch):
    _imdb_files(tmp_path, monkeypatch)
    (x_train, y_train), (x_test, y_test) = imdb.load_data(num_words=8, skip_top=2, maxlen=4)
    # maxlen=4 keeps reviews of at most 3 indices (start included), in each set separately;
    # then indices outside [2, 8) become 2 (the start character 1 included).
    _assert_sequences(x_train, [[2, 2], [2, 4, 5]])
    assert y_train.tolist() == [1, 0]
    _assert_sequences(x_test, [[2, 7], [2, 2, 4]])
    assert y_test.tolist() == [0, 1]

    with pytest.warns(UserWarning, match="renamed `num_words`"):
        (legacy, _), _ = imdb.load_data(nb_words=8, skip_top=2, maxlen=4)
    _assert_sequences(legacy, [[2, 2], [2, 4, 5]])
    with pytest.raises(TypeError, match="unrecognized keyword arguments: \\['nb_word'\\]"):
        imdb.load_data(nb_word=8)
    with pytest.raises(ValueError, match="shorter than maxlen=1, no sequence was kept"):
        imdb.load_data(maxlen=1)


def test_imdb_without_start_or_oov_characters(tmp_path, monkeypatch):
    _imdb_files(tmp_path, monkeypatch)
    (x_train, _), (x_test, _) = imdb.load_data(num_words=6, start_char=None, oov_char=None,
                                               index_from=0)  # fmt: skip
    # Indices outside [0, 6) are dropped; an emptied review stays, as an empty list.
    _assert_sequences(x_train, [[2], [], [1, 2], [3, 4, 5]])
    _assert_sequences(x_test, [[4], [5], [1]])


def test_imdb_equal_lengths_still_give_a_1d_object_array(tmp_path, monkeypatch):
    _imdb_files(tmp_path, monkeypatch, x_train=_object_array([[1, 2], [3, 4], [5, 6], [7, 8]]))
    (x_train, _), _ = imdb.load_data(index_from=0, start_char=None, num_words=100)
    _assert_sequences(x_train, [[7, 8], [5, 6], [1, 2], [3, 4]])


def test_word_indices(tmp_path, monkeypatch):
    for module, name in ((imdb, "imdb_word_index.json"), (reuters, "reuters_word_index.json")):
        src = tmp_path / name
        src.write_text(json.dumps({"the": 1, "and": 2, "café": 3}), encoding="utf-8")
        monkeypatch.setattr(module, "_WORD_INDEX_ORIGIN", src.as_uri())
        monkeypatch.setattr(module, "_WORD_INDEX_HASH", hashlib.md5(src.read_bytes()).hexdigest())
        assert module.get_word_index() == {"the": 1, "and": 2, "café": 3}
        assert (tmp_path / "home" / ".keras" / "datasets" / name).exists()


def _reuters_file(tmp_path, monkeypatch) -> None:
    src = tmp_path / "reuters.npz"
    xs = _object_array([[1, 2, 3], [4], [5, 6], [7, 8, 9, 1], [2, 2]])
    np.savez(src, x=xs, y=np.array([3, 0, 1, 2, 4]))
    _serve(monkeypatch, reuters, src)


def test_reuters_defaults(tmp_path, monkeypatch):
    _reuters_file(tmp_path, monkeypatch)
    (x_train, y_train), (x_test, y_test) = reuters.load_data()
    # Order [1, 0, 3, 2, 4]; index 12 (the largest) becomes 2; int(5 * 0.8) = 4 train.
    _assert_sequences(x_train, [[1, 7], [1, 4, 5, 6], [1, 10, 11, 2, 4], [1, 8, 9]])
    assert y_train.tolist() == [0, 3, 2, 1] and y_train.dtype == np.int64
    _assert_sequences(x_test, [[1, 5, 5]])
    assert y_test.tolist() == [4]


def test_reuters_filters_maxlen_before_the_split(tmp_path, monkeypatch):
    _reuters_file(tmp_path, monkeypatch)
    (x_train, y_train), (x_test, y_test) = reuters.load_data(maxlen=4, test_split=0.5)
    # Three newswires are shorter than 4; int(3 * 0.5) = 1 trains. The largest remaining
    # index, 9, becomes 2.
    _assert_sequences(x_train, [[1, 7]])
    assert y_train.tolist() == [0]
    _assert_sequences(x_test, [[1, 8, 2], [1, 5, 5]])
    assert y_test.tolist() == [1, 4]

    (x_train, _), (x_test, _) = reuters.load_data(num_words=7, skip_top=4, oov_char=None)
    _assert_sequences(x_train, [[], [4, 5, 6], [4], []])
    _assert_sequences(x_test, [[5, 5]])


# --- Pickles that try to run code are refused -------------------------------------------


class _Payload:
    """Unpickling this calls `call(argument)`."""

    def __init__(self, call, argument):
        self.call, self.argument = call, argument

    def __reduce__(self):
        return self.call, (self.argument,)


def _payloads(marker: Path):
    return {
        "system": _Payload(os.system, f"touch {marker}"),
        "exec": _Payload(exec, f"open({str(marker)!r}, 'w').close()"),
    }


@pytest.mark.parametrize("name", ["system", "exec"])
def test_a_cifar_batch_that_runs_code_is_refused(tmp_path, monkeypatch, name):
    marker = tmp_path / "ran"
    evil = pickle.dumps({b"data": _image_rows(0, 1), b"labels": _payloads(marker)[name]}, 2)
    _cifar10_archive(tmp_path, monkeypatch, test_batch=evil)
    with pytest.raises(
        UnsafePickleError, match=rf"Refusing to load the global \S+\.{name} from .*test_batch"
    ):
        cifar10.load_data()
    assert not marker.exists()


@pytest.mark.parametrize("name", ["system", "exec"])
def test_an_npz_object_array_that_runs_code_is_refused(tmp_path, monkeypatch, name):
    marker = tmp_path / "ran"
    _imdb_files(tmp_path, monkeypatch, x_train=_object_array([[1], _payloads(marker)[name]]))
    with pytest.raises(UnsafePickleError, match=rf"global \S+\.{name} from .*imdb.npz:x_train.npy"):
        imdb.load_data()
    assert not marker.exists()
