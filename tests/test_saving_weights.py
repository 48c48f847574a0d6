"""HDF5 weight files: Keras 2 layout, files written by tf-keras, atomic saves, clear errors."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from kgraph.engine.training import Model
from kgraph.layers import Dense, Dropout, Input
from kgraph.models import Sequential

H5 = Path(__file__).parent / "fixtures" / "h5"


def _mlp(names=("dense_a", "drop", "dense_b")):
    return Sequential([
        Dense(5, activation="relu", input_dim=4, name=names[0]),
        Dropout(0.5, name=names[1]),
        Dense(3, activation="softmax", name=names[2]),
    ])  # fmt: skip


def test_weights_written_by_tf_keras_load_and_predict_identically():
    expected = np.load(H5 / "tfkeras_mlp_expected.npz")
    for names in (("dense_a", "drop", "dense_b"), ("x1", "x2", "x3")):
        model = _mlp(names)
        model.load_weights(str(H5 / "tfkeras_mlp_weights.h5"))  # topological: names ignored
        np.testing.assert_allclose(model.predict(expected["x"]), expected["predict"], rtol=1e-5, atol=1e-6)


def test_by_name_loads_matching_layers_only_and_skip_mismatch_skips():
    model = Sequential([Dense(5, activation="relu", input_dim=4, name="dense_a"), Dense(2, name="other")])
    before = model.layers[1].get_weights()
    model.load_weights(str(H5 / "tfkeras_mlp_weights.h5"), by_name=True)
    with h5py.File(H5 / "tfkeras_mlp_weights.h5", "r") as f:
        np.testing.assert_array_equal(model.layers[0].get_weights()[0], f["dense_a/dense_a/kernel:0"][()])
    np.testing.assert_array_equal(model.layers[1].get_weights()[0], before[0])
    wrong = Sequential([Dense(7, input_dim=4, name="dense_a")])
    with pytest.raises(ValueError, match=r"dense_a.*shape \(4, 7\).*\(4, 5\)"):
        wrong.load_weights(str(H5 / "tfkeras_mlp_weights.h5"), by_name=True)
    with pytest.warns(UserWarning, match="Skipping loading of weights for layer dense_a"):
        wrong.load_weights(str(H5 / "tfkeras_mlp_weights.h5"), by_name=True, skip_mismatch=True)


def test_save_weights_layout_and_round_trip_for_functional_and_nested(tmp_path):
    inner = Sequential([Dense(3, input_dim=2, name="inner_dense")], name="inner")
    x = Input(shape=(2,), name="in")
    model = Model(x, Dense(1, name="head")(inner(x)))
    path = tmp_path / "w.h5"
    model.save_weights(str(path))
    with h5py.File(path, "r") as f:
        assert [n.decode() for n in f.attrs["layer_names"]] == ["in", "inner", "head"]
        assert f.attrs["keras_version"] in (b"2.0.5", "2.0.5")
        assert [n.decode() for n in f["inner"].attrs["weight_names"]] == ["inner_dense/kernel:0", "inner_dense/bias:0"]
        assert f["head/head/kernel:0"].shape == (3, 1)
    original = model.get_weights()
    model.set_weights([np.zeros_like(w) for w in original])
    model.load_weights(str(path))
    for a, b in zip(model.get_weights(), original):
        np.testing.assert_array_equal(a, b)


def test_layer_count_mismatch_is_a_clear_error():
    model = Sequential([Dense(5, input_dim=4)])
    with pytest.raises(ValueError, match="containing 2 layers into a model with 1 layers"):
        model.load_weights(str(H5 / "tfkeras_mlp_weights.h5"))


def test_a_failed_save_keeps_the_previous_file_and_garbage_gives_a_clear_error(tmp_path, monkeypatch):
    model = _mlp()
    path = tmp_path / "w.h5"
    model.save_weights(str(path))
    good = path.read_bytes()
    from kgraph.engine import saving

    def explode(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(saving, "save_weights_to_group", explode)
    with pytest.raises(RuntimeError, match="disk full"):
        model.save_weights(str(path))
    assert path.read_bytes() == good
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".kgraph-")]
    (tmp_path / "junk.h5").write_bytes(b"not an hdf5 file at all")
    with pytest.raises(ValueError, match="not a readable HDF5 file"):
        model.load_weights(str(tmp_path / "junk.h5"))
    (tmp_path / "trunc.h5").write_bytes(good[: len(good) // 3])
    with pytest.raises(ValueError, match="not a readable HDF5 file|Not a Keras weight file|missing"):
        model.load_weights(str(tmp_path / "trunc.h5"))
