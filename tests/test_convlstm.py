"""ConvLSTM2D against golden tf-keras fixtures (tools/make_convlstm_fixtures.py), plus what
the fixtures cannot show: dropout masks fixed over time, training, configs, weight files,
Keras 1 arguments and clear errors."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

import kgraph.backend as K
import kgraph.layers as L
from kgraph import optimizers
from kgraph.engine.saving_legacy import convert_weights
from kgraph.engine.topology import to_list
from kgraph.models import Model, Sequential

FIXTURES = Path(__file__).parent / "fixtures"
CASES = json.loads((FIXTURES / "convlstm_cases.json").read_text())
VALUES = np.load(FIXTURES / "convlstm_values.npz")
RTOL, ATOL = 1e-5, 1e-5


def _data(case: str) -> dict[str, np.ndarray]:
    prefix = case + "/"
    return {k[len(prefix) :]: VALUES[k] for k in VALUES.files if k.startswith(prefix)}


def _build(case: dict):
    layer = L.ConvLSTM2D(**case["kwargs"])
    shape = tuple(case["input_shape"])
    stateful = case["kwargs"].get("stateful", False)
    inp = L.Input(batch_shape=(case["batch"],) + shape) if stateful else L.Input(shape)
    h = L.Masking(0.0)(inp) if case["mask"] != "none" else inp
    return inp, layer, to_list(layer(h))


def _close(got, want, what):
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL, err_msg=what)


def _training_run(inp, fetches, x, training=True) -> list[np.ndarray]:
    """`fetches` for input `x`, from the training (or inference) program."""
    return K.function([inp, K.learning_phase()], fetches)([x, int(training)])


STATEFUL = sorted(n for n, c in CASES.items() if c["kwargs"].get("stateful"))
STATELESS = sorted(set(CASES) - set(STATEFUL))


def _model_with_fixture_weights(name: str):
    case, data = CASES[name], _data(name)
    inp, layer, outs = _build(case)
    layer.set_weights([data[f"w_{i}"] for i in range(len(layer.weights))])
    return case, data, inp, layer, outs, Model(inp, outs)


def _outputs_match(model, x, data: dict, prefix: str, what: str) -> None:
    """`model`'s outputs for `x` against the fixture's `<prefix>_<k>` arrays."""
    got = to_list(model.predict(x, batch_size=len(x)))
    assert len(got) == sum(key.startswith(prefix + "_") for key in data), what
    for k, y in enumerate(got):
        _close(y, data[f"{prefix}_{k}"], f"{what}: {prefix}_{k}")


@pytest.mark.parametrize("name", STATELESS)
def test_layer_matches_keras(name):
    """Weight names/shapes/order, outputs (predict) and gradients of sum(y * r) with respect
    to the input and every weight."""
    case, data, inp, layer, outs, model = _model_with_fixture_weights(name)
    assert [list(w.shape) for w in layer.weights] == case["weight_shapes"]
    assert [w.name for w in layer.weights] == [f"{layer.name}/{n}:0" for n in case["weight_names"]]
    _outputs_match(model, data["x"], data, "y", name)
    loss = sum(K.sum(y * K.constant(data[f"r_{k}"])) for k, y in enumerate(outs))
    grads = K.gradients(loss, [inp] + layer.trainable_weights)
    # The fixtures' gradients are inference-mode ones: dropout is off there.
    fetched = _training_run(inp, grads, data["x"], training="dropout" not in case["kwargs"])
    _close(fetched[0], data["gx"], f"{name}: gx")
    for i, value in enumerate(fetched[1:]):
        _close(value, data[f"gw_{i}"], f"{name}: gw_{i}")


@pytest.mark.parametrize("name", STATEFUL)
def test_stateful_matches_keras(name):
    """Two consecutive batches (the second starts from the first's final states), then the
    first again after `reset_states()`."""
    case, data, _, layer, outs, model = _model_with_fixture_weights(name)
    _outputs_match(model, data["x"], data, "y", name)
    _outputs_match(model, data["x2"], data, "y2", name)
    model.reset_states()
    _outputs_match(model, data["x"], data, "y3", name)
    assert layer.states[0].shape == (case["batch"],) + tuple(K.int_shape(outs[0])[-3:])


def test_initial_state_continues_a_sequence():
    """Running the first steps with `return_state`, then the rest from those states, gives
    the whole sequence's output."""
    x = np.random.default_rng(9).normal(size=(2, 4, 4, 4, 2)).astype(np.float32)
    layer = L.ConvLSTM2D(2, 3, padding="same", return_state=True)
    whole, head, tail = L.Input((4, 4, 4, 2)), L.Input((2, 4, 4, 2)), L.Input((2, 4, 4, 2))
    _, h, c = layer(head)
    model = Model([whole, head, tail], [layer(whole)[0], layer(tail, initial_state=[h, c])[0]])
    want, got = model.predict([x, x[:, :2], x[:, 2:]])
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert K.int_shape(h) == (None, 4, 4, 2)
    with pytest.raises(ValueError, match=r"conv_lst_m2d.*initial state 0 must have shape"):
        layer(tail, initial_state=[L.Input((4, 4, 3)), L.Input((4, 4, 3))])


def test_auto_name_and_unit_forget_bias():
    K.clear_session()
    layer = L.ConvLSTM2D(3, (2, 2), bias_initializer="ones")
    layer(L.Input((2, 4, 4, 1)))
    assert layer.name == "conv_lst_m2d_1"
    # unit_forget_bias replaces the bias initializer's values, as in Keras 2.0.5.
    np.testing.assert_array_equal(layer.get_weights()[2], [0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0])
    plain = L.ConvLSTM2D(2, 2, bias_initializer="ones", unit_forget_bias=False)
    plain(L.Input((2, 4, 4, 1)))
    np.testing.assert_array_equal(plain.get_weights()[2], np.ones(8))


def _np_conv(x, k, stride=1):
    """channels_last 'same' convolution (odd kernel) in float64."""
    kh, kw = k.shape[:2]
    pad = np.pad(x, ((0, 0), (kh // 2, kh // 2), (kw // 2, kw // 2), (0, 0)))
    rows, cols = x.shape[1], x.shape[2]
    out = np.zeros((x.shape[0], rows, cols, k.shape[3]))
    for r in range(rows):
        for c in range(cols):
            out[:, r, c] = np.einsum("bijc,ijco->bo", pad[:, r : r + kh, c : c + kw], k)
    return out


def test_dropout_masks_are_fixed_over_time():
    """Training-mode outputs equal a numpy ConvLSTM whose four per-gate input and recurrent
    masks are drawn once per batch from the in-graph hash; inference ignores dropout."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=(2, 3, 4, 4, 2)).astype(np.float32)
    inp = L.Input((3, 4, 4, 2))
    layer = L.ConvLSTM2D(2, 3, padding="same", dropout=0.4, recurrent_dropout=0.3,
                         recurrent_activation="sigmoid", return_sequences=True)  # fmt: skip
    out = layer(inp)
    (got,) = _training_run(inp, [out], x)

    def masks(rate, dims, seed):
        keep = K.reference_mask_bits((4, 2) + dims, seed, 0) >= K.keep_threshold(rate)
        return keep / (1.0 - rate)

    din, drec = masks(0.4, (4, 4, 2), layer._seed), masks(0.3, (4, 4, 2), layer._seed + 1)
    w, u, b = (v.astype(np.float64) for v in layer.get_weights())
    h = c = np.zeros((2, 4, 4, 2))
    sig = lambda v: 1.0 / (1.0 + np.exp(-v))  # noqa: E731
    for t in range(3):
        z = [_np_conv(x[:, t] * din[g], w[..., 2 * g : 2 * g + 2]) + b[2 * g : 2 * g + 2]
             + _np_conv(h * drec[g], u[..., 2 * g : 2 * g + 2]) for g in range(4)]  # fmt: skip
        c = sig(z[1]) * c + sig(z[0]) * np.tanh(z[2])
        h = sig(z[3]) * np.tanh(c)
        np.testing.assert_allclose(got[:, t], h, rtol=1e-5, atol=1e-5)
    plain = L.ConvLSTM2D(2, 3, padding="same", recurrent_activation="sigmoid",
                         return_sequences=True, weights=layer.get_weights())  # fmt: skip
    np.testing.assert_allclose(Model(inp, out).predict(x), Model(inp, plain(inp)).predict(x),
                               rtol=1e-6, atol=1e-6)  # fmt: skip


def test_small_model_trains():
    np.random.seed(0)
    rng = np.random.default_rng(6)
    x = rng.normal(size=(32, 3, 5, 5, 1)).astype(np.float32)
    y = (x[:, :, 1:4, 1:4].mean((1, 2, 3, 4)) > 0).astype(np.float32)
    model = Sequential([
        L.ConvLSTM2D(2, (3, 3), dropout=0.1, recurrent_dropout=0.1, input_shape=(3, 5, 5, 1)),
        L.Flatten(),
        L.Dense(1, activation="sigmoid"),
    ])  # fmt: skip
    model.compile(optimizers.Adam(lr=0.05), "binary_crossentropy")
    losses = model.fit(x, y, batch_size=16, epochs=8, verbose=0).history["loss"]
    assert losses[-1] < 0.7 * losses[0], losses


def test_config_round_trip():
    for case in CASES.values():
        K.clear_session()
        _, layer, _ = _build(case)
        config = L.serialize(layer)
        clone = L.deserialize(json.loads(json.dumps(config)))
        assert L.serialize(clone)["config"] == config["config"]
    config = L.ConvLSTM2D(4, 3, strides=2, data_format="channels_first", dropout=0.2).get_config()
    assert (
        config["filters"] == 4 and config["kernel_size"] == (3, 3) and config["strides"] == (2, 2)
    )
    assert config["data_format"] == "channels_first" and config["dropout"] == 0.2
    assert config["unit_forget_bias"] is True and config["recurrent_activation"] == "hard_sigmoid"
    assert {"return_sequences", "go_backwards", "stateful", "implementation"} <= set(config)


def test_save_and_load_weights(tmp_path):
    def make():
        inp = L.Input((2, 4, 4, 2))
        return Model(inp, L.ConvLSTM2D(2, 3, padding="same")(inp))

    model = make()
    x = np.random.default_rng(7).normal(size=(2, 2, 4, 4, 2)).astype(np.float32)
    path = str(tmp_path / "w.h5")
    model.save_weights(path)
    other = make()
    other.load_weights(path)
    for a, b in zip(model.get_weights(), other.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(model.predict(x), other.predict(x))


def test_keras1_weights_convert():
    """12 per-gate arrays in Keras 1's order i, c, f, o become kernel, recurrent, bias."""
    rng = np.random.default_rng(8)
    for data_format in ("channels_last", "channels_first"):
        layer = L.ConvLSTM2D(2, 3, data_format=data_format)
        layer.build((None, 2, 5, 5, 3) if data_format == "channels_last" else (None, 2, 3, 5, 5))
        gates = {g: [rng.normal(size=(3, 3, 3, 2)), rng.normal(size=(3, 3, 2, 2)), rng.normal(size=2)]
                 for g in "icfo"}  # fmt: skip
        if data_format == "channels_first":  # Theano's (out, in, kh, kw)
            for g in gates.values():
                g[0], g[1] = g[0].transpose(3, 2, 0, 1), g[1].transpose(3, 2, 0, 1)
        old = [w for g in "icfo" for w in gates[g]]
        kernel, recurrent, bias = convert_weights(layer, old, "1", "tensorflow")
        layer.set_weights([kernel, recurrent, bias])
        for i, g in enumerate("ifco"):
            want = gates[g]
            if data_format == "channels_first":
                want = [want[0].transpose(2, 3, 1, 0), want[1].transpose(2, 3, 1, 0), want[2]]
            np.testing.assert_array_equal(kernel[..., 2 * i : 2 * i + 2], want[0])
            np.testing.assert_array_equal(recurrent[..., 2 * i : 2 * i + 2], want[1])
            np.testing.assert_array_equal(bias[2 * i : 2 * i + 2], want[2])


def test_keras1_arguments():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        layer = L.ConvLSTM2D(4, 3, 2, border_mode="same", subsample=(2, 2), dim_ordering="th",
                             init="he_normal", inner_init="zeros", inner_activation="sigmoid",
                             dropout_W=0.1, dropout_U=0.2, forget_bias_init="one", bias=False,
                             W_regularizer="l2")  # fmt: skip
    assert any("Keras 2 API" in str(w.message) for w in caught)
    config = layer.get_config()
    assert config["kernel_size"] == (3, 2) and config["padding"] == "same"
    assert config["strides"] == (2, 2) and config["data_format"] == "channels_first"
    assert config["recurrent_activation"] == "sigmoid" and config["use_bias"] is False
    assert config["dropout"] == 0.1 and config["recurrent_dropout"] == 0.2
    assert config["kernel_initializer"]["class_name"] == "VarianceScaling"
    assert config["recurrent_initializer"]["class_name"] == "Zeros"
    assert config["kernel_regularizer"] is not None and config["unit_forget_bias"] is True
    with pytest.warns(UserWarning, match="nb_filter -> filters"):
        assert L.ConvLSTM2D(nb_filter=2, nb_row=3, nb_col=1).kernel_size == (3, 1)


def test_clear_errors():
    with pytest.raises(ValueError, match=r"conv_lst_m2d_\d+: expected ndim=5, found ndim=4"):
        L.ConvLSTM2D(2, 3)(L.Input((4, 4, 2)))
    with pytest.raises(ValueError, match=r"conv_lst_m2d.*5-D input.*\(None, 4, 4, 2\)"):
        L.ConvLSTM2D(2, 3).compute_output_shape((None, 4, 4, 2))
    with pytest.raises(ValueError, match=r"Layer conv_lst_m2d_\d+.*channels_middle"):
        L.ConvLSTM2D(2, 3, data_format="channels_middle")
    with pytest.raises(
        ValueError, match=r"conv_lst_m2d.*known spatial size.*\(None, 3, None, 4, 2\)"
    ):
        L.ConvLSTM2D(2, 3)(L.Input((3, None, 4, 2)))
    with pytest.raises(ValueError, match=r"conv_lst_m2d.*padding must be 'valid' or 'same'"):
        L.ConvLSTM2D(2, 3, padding="causal")
    with pytest.raises(ValueError, match=r"conv_lst_m2d.*stateful.*batch size"):
        L.ConvLSTM2D(2, 3, stateful=True)(L.Input((2, 4, 4, 2)))
    with pytest.raises(ValueError, match=r"conv_lst_m2d.*larger than the input"):
        L.ConvLSTM2D(2, 5)(L.Input((2, 4, 4, 2)))


@pytest.mark.parametrize("fmt", ["channels_last", "channels_first"])
def test_any_number_of_timesteps_trains_as_a_fixed_number(fmt):
    """Keras's conv_lstm example declares input_shape=(None, rows, cols, channels): one
    recurrence op runs any number of steps, in training too."""

    def build(steps, dropout=0.0):
        frame = (2, 6, 5) if fmt == "channels_first" else (6, 5, 2)
        model = Sequential([
            L.ConvLSTM2D(3, (3, 2), padding="same", return_sequences=True, data_format=fmt,
                         dropout=dropout, recurrent_dropout=dropout, input_shape=(steps, *frame)),
            L.ConvLSTM2D(2, 3, strides=2, go_backwards=True, data_format=fmt),
            L.Flatten(), L.Dense(1)])  # fmt: skip
        model.compile("adam", "mse")
        return model

    any_steps, fixed = build(None), build(4)
    fixed.set_weights(any_steps.get_weights())
    rng = np.random.RandomState(1)
    shape = (3, 4, 2, 6, 5) if fmt == "channels_first" else (3, 4, 6, 5, 2)
    x, y = rng.rand(*shape).astype("float32"), rng.rand(3, 1).astype("float32")
    _close(any_steps.predict(x), fixed.predict(x), "predict")
    _close(any_steps.train_on_batch(x, y), fixed.train_on_batch(x, y), "loss")
    for got, want in zip(any_steps.get_weights(), fixed.get_weights(), strict=True):
        _close(got, want, "weights after a step")
    longer = rng.rand(2, 7, *shape[2:]).astype("float32")
    dropped = build(None, dropout=0.3)
    assert dropped.predict(longer).shape == (2, 1)
    assert np.isfinite(dropped.train_on_batch(longer, y[:2]))
