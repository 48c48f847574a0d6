"""`kgraph.utils.HDF5Matrix`: indexing (offset by `start`, normalizer applied), the file
cache `refs`, clear errors, and fit/evaluate/predict reading it batch by batch: every read
is checked to be one contiguous slice of at most `batch_size` rows, and the results equal
those on the same data as numpy arrays.
"""

from __future__ import annotations

import pickle

import h5py
import numpy as np
import pytest

from kgraph.layers import Dense
from kgraph.models import Sequential
from kgraph.utils import HDF5Matrix

N = 50


@pytest.fixture
def h5file(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "data.h5"
    with h5py.File(path, "w") as f:
        f["x"] = rng.standard_normal((N, 4)).astype("float32")
        f["y"] = rng.standard_normal((N, 2)).astype("float64")
        f["labels"] = rng.integers(0, 3, N)
        f.create_group("grp")["inner"] = np.arange(12.0).reshape(6, 2)
        f["names"] = np.array([b"a", b"b", b"c"])
    yield path
    for f in HDF5Matrix.refs.values():
        f.close()
    HDF5Matrix.refs.clear()


class ReadLog:
    """Stands for the h5py dataset of a matrix and records the key of every read."""

    def __init__(self, data):
        self.data, self.keys = data, []

    def __getitem__(self, key):
        self.keys.append(key)
        return self.data[key]

    def __getattr__(self, name):
        return getattr(self.data, name)

    def assert_batched(self, batch_size):
        assert self.keys
        for key in self.keys:
            assert isinstance(key, slice) and key.stop - key.start <= batch_size, key


def _logged(path, name, **kwargs):
    matrix = HDF5Matrix(path, name, **kwargs)
    matrix.data = ReadLog(matrix.data)
    return matrix


def test_indexing_is_offset_by_start_and_normalized(h5file):
    with h5py.File(h5file, "r") as f:
        x = f["x"][:]
    m = HDF5Matrix(h5file, "x", start=10, end=30)
    assert len(m) == 20 and m.shape == (20, 4) and m.ndim == 2 and m.size == 80
    assert m.dtype == np.float32
    np.testing.assert_array_equal(m[0], x[10])
    np.testing.assert_array_equal(m[-1], x[29])
    np.testing.assert_array_equal(m[2:5], x[12:15])
    np.testing.assert_array_equal(m[:], x[10:30])
    np.testing.assert_array_equal(m[15:100], x[25:30])  # slices clip at `end`, as numpy's
    np.testing.assert_array_equal(m[1:9:3], x[11:19:3])
    np.testing.assert_array_equal(m[[3, 1, 3]], x[[13, 11, 13]])  # any order, repeats
    np.testing.assert_array_equal(m[np.array([[5, 0], [19, 2]])], x[10:30][[[5, 0], [19, 2]]])
    np.testing.assert_array_equal(np.asarray(m), x[10:30])
    for bad in (20, -21, [0, 20]):
        with pytest.raises(IndexError, match="out of range"):
            m[bad]
    with pytest.raises(IndexError, match="must be an int"):
        m[1.5]
    scaled = HDF5Matrix(h5file, "x", start=10, normalizer=lambda a: a * 2)
    assert scaled.shape == (40, 4)
    np.testing.assert_allclose(scaled[3:6], x[13:16] * 2)
    np.testing.assert_allclose(scaled[[0, 1]], x[10:12] * 2)
    inner = HDF5Matrix(h5file, "grp/inner", start=2)
    np.testing.assert_array_equal(inner[0], [4.0, 5.0])


def test_files_are_cached_read_only_in_refs(h5file):
    a, b = HDF5Matrix(h5file, "x"), HDF5Matrix(str(h5file), "y")
    assert list(HDF5Matrix.refs) == [str(h5file)]
    f = HDF5Matrix.refs[str(h5file)]
    assert a.data.file == f and b.data.file == f and f.mode == "r"
    f.close()  # a closed cached file is opened again
    assert HDF5Matrix(h5file, "x")[0].shape == (4,)


def test_clear_errors(h5file, tmp_path):
    with pytest.raises(
        KeyError,
        match=r"no dataset at 'nope'; datasets in the file: \['grp/inner', 'labels', 'names', 'x', 'y'\]",
    ):
        HDF5Matrix(h5file, "nope")
    with pytest.raises(KeyError, match="a group, not a dataset"):
        HDF5Matrix(h5file, "grp")
    with pytest.raises(FileNotFoundError, match="no such file"):
        HDF5Matrix(tmp_path / "missing.h5", "x")
    (tmp_path / "text.h5").write_text("not hdf5")
    with pytest.raises(OSError, match="cannot be opened as an HDF5 file"):
        HDF5Matrix(tmp_path / "text.h5", "x")
    with pytest.raises(ValueError, match="outside dataset 'x' of 50 rows"):
        HDF5Matrix(h5file, "x", start=10, end=60)
    model = Sequential([Dense(1, input_dim=1)])
    model.compile("sgd", "mse")
    with pytest.raises(TypeError, match="must be a numeric array"):
        model.fit(HDF5Matrix(h5file, "names"), np.zeros((3, 1)), verbose=0)


def test_stored_bytes_are_never_unpickled(tmp_path):
    class Boom:
        def __reduce__(self):
            return (exec, ("raise SystemExit('code from the file ran')",))

    path = tmp_path / "pickled.h5"
    payload = pickle.dumps(Boom())
    with h5py.File(path, "w") as f:
        f["x"] = np.frombuffer(payload, dtype=np.uint8).reshape(1, -1)
        f["blob"] = np.void(payload).reshape(1)
    assert HDF5Matrix(path, "x")[0].tobytes() == payload
    assert HDF5Matrix(path, "blob")[0].tobytes() == payload
    for f in HDF5Matrix.refs.values():
        f.close()
    HDF5Matrix.refs.clear()


def _model(seed=0):
    np.random.seed(seed)
    model = Sequential([Dense(8, activation="tanh", input_dim=4), Dense(2)])
    model.compile("sgd", "mse")
    return model


@pytest.mark.parametrize("shuffle", ["batch", True])
def test_fit_reads_batch_by_batch(h5file, shuffle):
    x, y = _logged(h5file, "x", start=5), _logged(h5file, "y", start=5)
    ref = _model()
    reference_model_weights = ref.get_weights()
    np.random.seed(1)
    hist_ref = ref.fit(x[:], y[:], batch_size=8, epochs=3, shuffle=shuffle, verbose=0)
    x.data.keys.clear()
    y.data.keys.clear()
    model = _model()
    for got, want in zip(model.get_weights(), reference_model_weights, strict=True):
        np.testing.assert_array_equal(got, want)
    np.random.seed(1)
    hist = model.fit(x, y, batch_size=8, epochs=3, shuffle=shuffle, verbose=0)
    np.testing.assert_allclose(hist.history["loss"], hist_ref.history["loss"], rtol=1e-6)
    for got, want in zip(model.get_weights(), ref.get_weights(), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-6)
    if shuffle == "batch":  # every batch is one contiguous read
        x.data.assert_batched(8)
        y.data.assert_batched(8)
    assert len(x.data.keys) == 3 * 6  # ceil(45 / 8) batches per epoch, one read each


def test_predict_evaluate_and_validation_read_batch_by_batch(h5file):
    model = _model()
    x, y = _logged(h5file, "x", end=45), _logged(h5file, "y", end=45)
    want = model.predict(x[:], batch_size=16)
    x.data.keys.clear()
    np.testing.assert_allclose(model.predict(x, batch_size=16), want, rtol=1e-6)
    x.data.assert_batched(16)
    want_loss = model.evaluate(x[:], y[:], batch_size=16, verbose=0)
    x.data.keys.clear()
    y.data.keys.clear()
    np.testing.assert_allclose(model.evaluate(x, y, batch_size=16, verbose=0), want_loss, rtol=1e-6)
    x.data.assert_batched(16)
    y.data.assert_batched(16)
    small = _logged(h5file, "x", end=3)  # fewer samples than one batch
    np.testing.assert_allclose(model.predict(small, batch_size=16), want[:3], rtol=1e-6)
    x.data.keys.clear()
    y.data.keys.clear()
    vx, vy = _logged(h5file, "x", start=45), _logged(h5file, "y", start=45)
    hist = model.fit(
        x, y, batch_size=16, epochs=1, shuffle="batch", validation_data=(vx, vy), verbose=0
    )
    assert "val_loss" in hist.history
    for m in (x, y, vx, vy):
        m.data.assert_batched(16)


def test_one_dimensional_targets_and_class_weight(h5file):
    np.random.seed(0)
    model = Sequential([Dense(3, activation="softmax", input_dim=4)])
    model.compile("sgd", "sparse_categorical_crossentropy")
    x, labels = HDF5Matrix(h5file, "x"), HDF5Matrix(h5file, "labels")
    hist = model.fit(x, labels, batch_size=10, epochs=2, shuffle="batch", verbose=0,
                     class_weight={0: 1.0, 1: 2.0, 2: 0.5})  # fmt: skip
    assert np.all(np.isfinite(hist.history["loss"]))
