"""Keras 1 and Theano-backend weight files load as Keras converts them (KERAS_API.md 7.3).

The files and the expected predictions come from tools/make_legacy_h5_fixtures.py: the
weights are real Keras weights written in the older layouts, and tf-keras reads each file
back to the same weights (Theano's flipped kernels aside, which tf-keras no longer flips).
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

import kgraph as keras
from kgraph.engine.saving_legacy import convert_weights, flip_kernel
from tests.legacy_h5_cases import CASES

FIXTURES = Path(__file__).parent / "fixtures" / "h5"
EXPECTED = np.load(FIXTURES / "legacy_expected.npz")


@pytest.mark.parametrize("case", sorted(CASES))
def test_legacy_file_loads_to_keras_weights_and_predictions(case):
    builder, data_format, _, _ = CASES[case]
    keras.backend.clear_session()
    model = builder(keras, data_format)
    model.load_weights(str(FIXTURES / "legacy" / f"{case}.h5"))
    got = model.get_weights()
    want = [EXPECTED[f"{case}/w{k}"] for k in range(len(got))]
    assert f"{case}/w{len(got)}" not in EXPECTED
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)
    np.testing.assert_allclose(
        model.predict(EXPECTED[f"{case}/x"]), EXPECTED[f"{case}/predict"], rtol=1e-5, atol=1e-6
    )


def test_by_name_loading_converts_too():
    builder, data_format, _, _ = CASES["k1_lstm"]
    keras.backend.clear_session()
    model = builder(keras, data_format)
    path = FIXTURES / "legacy" / "k1_lstm.h5"
    with h5py.File(path, "r") as f:
        names = [n.decode() if isinstance(n, bytes) else str(n) for n in f.attrs["layer_names"]]
    for layer, name in zip(model.layers, names, strict=True):
        layer.name = name
    model.load_weights(str(path), by_name=True)
    for k, got in enumerate(model.get_weights()):
        np.testing.assert_array_equal(got, EXPECTED[f"k1_lstm/w{k}"])


def test_keras2_files_of_tensorflow_are_not_flipped(tmp_path):
    builder, data_format, _, _ = CASES["k2_theano_conv2d"]
    keras.backend.clear_session()
    model = builder(keras, data_format)
    weights = [EXPECTED[f"k2_theano_conv2d/w{k}"] for k in range(4)]
    model.set_weights(weights)
    path = str(tmp_path / "w.h5")
    model.save_weights(path)
    with h5py.File(path, "r") as f:
        assert f.attrs["backend"] in ("tensorflow", b"tensorflow")
    again = builder(keras, data_format)
    again.load_weights(path)
    for g, w in zip(again.get_weights(), weights, strict=True):
        np.testing.assert_array_equal(g, w)


def test_flip_kernel_reverses_spatial_axes_only():
    k = np.arange(2 * 3 * 4 * 5).reshape(2, 3, 4, 5)
    np.testing.assert_array_equal(flip_kernel(k), k[::-1, ::-1])
    np.testing.assert_array_equal(flip_kernel(flip_kernel(k)), k)


def test_keras1_arrays_that_fit_no_layout_name_the_layer(tmp_path):
    keras.backend.clear_session()
    model = keras.models.Sequential([keras.layers.Conv1D(3, 2, input_shape=(6, 4))])
    path = tmp_path / "bad.h5"
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = [model.layers[0].name.encode()]
        g = f.create_group(model.layers[0].name)
        g.attrs["weight_names"] = [b"W", b"b"]
        g.create_dataset("W", data=np.zeros((5, 5, 5, 5), np.float32))
        g.create_dataset("b", data=np.zeros(3, np.float32))
    with pytest.raises(ValueError, match=r"Conv1D.*Keras 1 kernel has shape \(5, 5, 5, 5\)"):
        model.load_weights(str(path))
    # The rest of the model is untouched by the failed load.
    assert not np.any(model.get_weights()[1])


def test_convert_weights_leaves_keras2_rnn_arrays_alone():
    keras.backend.clear_session()
    layer = keras.layers.LSTM(2, input_shape=(3, 1))
    keras.models.Sequential([layer])
    arrays = [w.copy() for w in layer.get_weights()]
    for got, want in zip(convert_weights(layer, arrays, "2.0.5", "theano"), arrays, strict=True):
        np.testing.assert_array_equal(got, want)
