"""Writes Keras 1 and Theano-backend weight files, and what real Keras predicts from them.

Run in a virtualenv with tensorflow-cpu 2.21 and tf-keras 2.21:
    python tools/make_legacy_h5_fixtures.py
For every case of tests/legacy_h5_cases.py: tf-keras builds the model with random weights
(the truth); the weights are written in the older layout the case names (Keras 1: LSTM as
12 arrays in gate order i, c, f, o, GRU as 9, Theano's (filters, stack, *kernel) conv
kernels, Keras 1.1's Conv1D; Theano backend: spatially flipped kernels); tf-keras then
loads each file and must recover the truth, except where it no longer follows Keras 2.0.5
(it does not flip Theano kernels: there it must recover the flipped kernel). The expected
predictions come from tf-keras with the true weights; channels_first models run as their
channels_last twins, because TensorFlow's CPU convolutions need channels_last.
Writes tests/fixtures/h5/legacy/<case>.h5 and tests/fixtures/h5/legacy_expected.npz.
"""

from __future__ import annotations

import sys
from pathlib import Path

import h5py
import numpy as np
import tf_keras as keras

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from legacy_h5_cases import CASES  # noqa: E402

OUT = ROOT / "tests" / "fixtures" / "h5"


def _flip(kernel: np.ndarray) -> np.ndarray:
    return kernel[(slice(None, None, -1),) * (kernel.ndim - 2)]


def _rnn_arrays(layer, gate_order: tuple[int, ...]) -> list[tuple[str, np.ndarray]]:
    """Keras 1 per-gate W, U, b arrays; `gate_order` picks Keras 2 gate slots."""
    kernel, recurrent, bias = layer.get_weights()
    units = recurrent.shape[0]
    names = {4: "icfo", 3: "zrh"}[len(gate_order)]
    out = []
    for name, g in zip(names, gate_order):
        cut = slice(g * units, (g + 1) * units)
        out += [(f"{layer.name}_W_{name}", kernel[:, cut]), (f"{layer.name}_U_{name}", recurrent[:, cut]),
                (f"{layer.name}_b_{name}", bias[cut])]  # fmt: skip
    return out


def _conv_arrays(case: str, layer) -> list[np.ndarray]:
    kernel, bias = layer.get_weights()
    if "theano" in case:
        kernel = _flip(kernel)
    kind = type(layer).__name__
    if kind == "Conv1D":
        kernel = kernel[:, None]  # Keras 1.2: (length, 1, in, filters)
        if case.endswith("v11"):
            kernel = kernel.transpose(3, 2, 0, 1)  # Keras 1.1: (filters, in, length, 1)
    elif case == "k2_transposed_kernel":
        kernel = kernel.transpose(2, 3, 1, 0)  # any version: undone by (3, 2, 0, 1)
    elif case.startswith("k1") and layer.data_format == "channels_first":
        perm = {"Conv2D": (3, 2, 0, 1), "Conv3D": (4, 3, 0, 1, 2), "Conv2DTranspose": (2, 3, 0, 1)}
        kernel = kernel.transpose(perm[kind])
    elif case.startswith("k1") and kind == "Conv2DTranspose":
        kernel = kernel.transpose(0, 1, 3, 2)
    return [kernel, bias]


def _file_arrays(case: str, layer) -> list[tuple[str, np.ndarray]]:
    kind = type(layer).__name__
    if kind == "LSTM":
        return _rnn_arrays(layer, (0, 2, 1, 3))
    if kind == "GRU":
        return _rnn_arrays(layer, (0, 1, 2))
    if kind == "Bidirectional":
        return _file_arrays(case, layer.forward_layer) + _file_arrays(case, layer.backward_layer)
    if kind == "TimeDistributed":
        return _file_arrays(case, layer.layer)
    if kind == "Sequential":
        return [a for sub in layer.layers for a in _file_arrays(case, sub)]
    if kind.startswith("Conv"):
        return [(f"{layer.name}_{n}", a) for n, a in zip("WB", _conv_arrays(case, layer))]
    return [(f"{layer.name}_{n}", a) for n, a in zip("WB", layer.get_weights())]


def _write(path: Path, case: str, model, version: str | None, backend: str) -> None:
    layers = [la for la in model.layers if la.weights]
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = [la.name.encode("utf8") for la in model.layers]
        f.attrs["backend"] = backend.encode("utf8")
        if version is not None:
            f.attrs["keras_version"] = version.encode("utf8")
        for layer in model.layers:
            g = f.create_group(layer.name)
            arrays = _file_arrays(case, layer) if layer in layers else []
            g.attrs["weight_names"] = [n.encode("utf8") for n, _ in arrays]
            for name, value in arrays:
                g.create_dataset(name, data=value)


def _channels_last(x: np.ndarray, builder) -> np.ndarray:
    return np.moveaxis(x, 2 if builder.__name__ == "time_distributed" else 1, -1)


def main() -> None:
    (OUT / "legacy").mkdir(parents=True, exist_ok=True)
    expected = {}
    for i, (case, (builder, data_format, version, backend)) in enumerate(CASES.items()):
        keras.backend.clear_session()
        rng = np.random.default_rng(100 + i)
        model = builder(keras, data_format)
        truth = [(rng.standard_normal(w.shape) * 0.5).astype("float32") for w in model.get_weights()]
        model.set_weights(truth)
        path = OUT / "legacy" / f"{case}.h5"
        _write(path, case, model, version, backend)
        loaded = builder(keras, data_format)
        loaded.load_weights(str(path))
        want = [(_flip(w) if "theano" in case and w.ndim >= 3 else w) for w in truth]
        for got, w in zip(loaded.get_weights(), want, strict=True):
            np.testing.assert_array_equal(got, w, err_msg=case)
        x = rng.standard_normal((4,) + tuple(model.input_shape[1:])).astype("float32")
        twin = model
        if data_format == "channels_first":
            twin = builder(keras, "channels_last")
            twin.set_weights(truth)
            predict = twin.predict(_channels_last(x, builder), verbose=0)
        else:
            predict = twin.predict(x, verbose=0)
        expected[f"{case}/x"] = x
        expected[f"{case}/predict"] = predict
        for k, w in enumerate(truth):
            expected[f"{case}/w{k}"] = w
        print(f"{case}: {len(truth)} weights, tf-keras reads the file back as intended")
    np.savez(OUT / "legacy_expected.npz", **expected)


if __name__ == "__main__":
    main()
