"""Recurrent layers and wrappers against golden tf-keras fixtures (tools/make_rnn_fixtures.py),
plus the properties the fixtures cannot show: native ONNX ops in exported graphs, dropout
masks that stay fixed over time, training runs, stateful programs, and clear errors.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

import kgraph.backend as K
import kgraph.layers as L
from kgraph import optimizers, regularizers
from kgraph.engine.functions import CompiledFunction
from kgraph.engine.topology import to_list
from kgraph.ir import get_default_graph
from kgraph.models import Model, Sequential
from lowering import lower

FIXTURES = Path(__file__).parent / "fixtures"
CASES = json.loads((FIXTURES / "rnn_cases.json").read_text())
VALUES = np.load(FIXTURES / "rnn_values.npz")
RTOL, ATOL = 2e-5, 2e-5
NATIVE = {"RNN", "GRU", "LSTM"}


def _data(case: str) -> dict[str, np.ndarray]:
    prefix = case + "/"
    return {k[len(prefix) :]: VALUES[k] for k in VALUES.files if k.startswith(prefix)}


def _build(case: dict):
    inner = getattr(L, case["class_name"])(**case["kwargs"])
    layer = (
        inner
        if case["wrapper"] is None
        else getattr(L, case["wrapper"])(inner, **case["wrapper_kwargs"])
    )
    shape = tuple(case["input_shape"])
    stateful = case["kwargs"].get("stateful", False)
    inp = L.Input(batch_shape=(case["batch"],) + shape) if stateful else L.Input(shape)
    h = L.Masking(0.0)(inp) if case["mask"] != "none" else inp
    return inp, inner, layer, to_list(layer(h))


def _expected_names(case: dict, inner, layer) -> list[str]:
    base = (
        ["kernel", "bias"]
        if case["class_name"] == "Dense"
        else ["kernel", "recurrent_kernel", "bias"]
    )
    if case["wrapper"] == "Bidirectional":
        scopes = [f"{layer.name}/forward_{inner.name}", f"{layer.name}/backward_{inner.name}"]
    else:
        scopes = [layer.name]
    per_scope = len(case["weight_shapes"]) // len(scopes)
    return [f"{s}/{n}:0" for s in scopes for n in base[:per_scope]]


def _run(feeds, fetches, training: bool) -> list[np.ndarray]:
    program = lower(
        get_default_graph(), [(n, t) for n, t, _ in feeds], fetches, training=training, name="probe"
    )
    return CompiledFunction(program, [n for n, _, _ in feeds])([a for _, _, a in feeds])


def _close(got, want, what):
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL, err_msg=what)


STATELESS = sorted(n for n, c in CASES.items() if not c["kwargs"].get("stateful"))
STATEFUL = sorted(n for n, c in CASES.items() if c["kwargs"].get("stateful"))


@pytest.mark.parametrize("name", STATELESS)
def test_layer_matches_keras(name):
    """Weight layout, outputs (predict: native ops or the inference Scan) and gradients
    (training lowering: forward and reverse Scans) of every layer/wrapper case."""
    case, data = CASES[name], _data(name)
    inp, inner, layer, outs = _build(case)
    assert [list(w.shape) for w in layer.weights] == case["weight_shapes"]
    assert [w.name for w in layer.weights] == _expected_names(case, inner, layer)
    layer.set_weights([data[f"w_{i}"] for i in range(len(layer.weights))])
    model = Model(inp, outs)
    got = to_list(model.predict(data["x"], batch_size=len(data["x"])))
    assert len(got) == case["n_outputs"]
    for k, y in enumerate(got):
        _close(y, data[f"y_{k}"], f"{name}: y_{k}")
    loss = sum(K.sum(y * K.constant(data[f"r_{k}"])) for k, y in enumerate(outs))
    grads = K.gradients(loss, [inp] + layer.trainable_weights)
    keys = ["gx"] + [f"gw_{i}" for i in range(len(layer.trainable_weights))]
    for key, value in zip(
        keys, _run([("x", inp, data["x"])], list(zip(keys, grads)), training=True)
    ):
        _close(value, data[key], f"{name}: {key}")


@pytest.mark.parametrize("name", STATEFUL)
def test_stateful_matches_keras(name):
    """Two consecutive batches (the second starts from the first's final states), then the
    first again after `reset_states()`."""
    case, data = CASES[name], _data(name)
    inp, _, layer, outs = _build(case)
    layer.set_weights([data[f"w_{i}"] for i in range(len(layer.weights))])
    model = Model(inp, outs)
    for x, prefix in ((data["x"], "y"), (data["x2"], "y2")):
        for k, y in enumerate(to_list(model.predict(x, batch_size=case["batch"]))):
            _close(y, data[f"{prefix}_{k}"], f"{name}: {prefix}_{k}")
    model.reset_states()
    for k, y in enumerate(to_list(model.predict(data["x"], batch_size=case["batch"]))):
        _close(y, data[f"y3_{k}"], f"{name}: y3_{k}")


def test_stateful_states_carry_through_training_and_evaluation():
    model = Sequential([L.SimpleRNN(2, stateful=True, batch_input_shape=(2, 3, 1), activation="linear",
                                    kernel_initializer="ones", recurrent_initializer="identity")])  # fmt: skip
    model.compile(optimizers.SGD(lr=0.0), "mse")
    x = np.ones((2, 3, 1), np.float32)
    model.train_on_batch(x, np.zeros((2, 2), np.float32))
    # Each step adds 1 to every unit: after 3 steps of training, 3 more in evaluate.
    np.testing.assert_allclose(model.layers[0].states[0].value, 3.0)
    model.evaluate(x, np.zeros((2, 2), np.float32), batch_size=2, verbose=0)
    np.testing.assert_allclose(model.predict(x, batch_size=2), 9.0)
    model.reset_states()
    np.testing.assert_allclose(model.predict(x, batch_size=2), 3.0)
    model.layers[0].reset_states([np.full((2, 2), 10.0, np.float32)])
    np.testing.assert_allclose(model.predict(x, batch_size=2), 13.0)


def test_config_round_trip():
    for case in CASES.values():
        K.clear_session()
        _, _, layer, _ = _build(case)
        config = L.serialize(layer)
        clone = L.deserialize(json.loads(json.dumps(config)))
        assert L.serialize(clone)["config"] == config["config"]
    gru = L.GRU(3, reset_after=True, implementation=2, unroll=True)
    config = gru.get_config()
    assert (
        config["reset_after"] is True and config["implementation"] == 2 and config["unroll"] is True
    )
    assert L.GRU(3).get_config()["reset_after"] is False  # tf-keras's default is True
    assert L.LSTM(2).get_config()["unit_forget_bias"] is True


# -- export: native ops ------------------------------------------------------------------------
def _session(proto):
    return ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])


@pytest.mark.parametrize(
    "make,op",
    [
        (lambda: L.LSTM(3, return_sequences=True), "LSTM"),
        (
            lambda: L.LSTM(3, go_backwards=True, activation="elu", recurrent_activation="sigmoid"),
            "LSTM",
        ),
        (lambda: L.GRU(3), "GRU"),
        (lambda: L.GRU(3, reset_after=True, return_sequences=True, activation="linear"), "GRU"),
        (lambda: L.SimpleRNN(3, activation="relu", return_state=True), "RNN"),
        (lambda: L.Bidirectional(L.LSTM(3, return_sequences=True)), "LSTM"),
        (lambda: L.Bidirectional(L.GRU(2, reset_after=True), merge_mode="sum"), "GRU"),
    ],
)
def test_export_uses_native_op(make, op):
    x = np.random.default_rng(0).normal(size=(3, 5, 4)).astype(np.float32)
    inp = L.Input((5, 4))
    layer = make()
    model = Model(inp, layer(inp))
    for w in layer.weights:  # random biases too, so the gate reordering is exercised
        w.assign(np.random.default_rng(1).uniform(-0.7, 0.7, w.shape))
    proto = model.to_onnx()
    ops = [n.op_type for n in proto.graph.node]
    assert ops.count(op) == 1 and "Scan" not in ops, ops
    node = next(n for n in proto.graph.node if n.op_type == op)
    attrs = {a.name: a for a in node.attribute}
    directions = 2 if isinstance(layer, L.Bidirectional) else 1
    assert attrs["direction"].s == (b"bidirectional" if directions == 2 else b"forward")
    assert len(attrs["activations"].strings) == directions * {"RNN": 1, "GRU": 2, "LSTM": 3}[op]
    want = to_list(model.predict(x))
    # The training lowering's Scan computes the same function.
    for got, ref in zip(_session(proto).run(None, {"input_1": x}), want):
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)
    outs = to_list(model.outputs)
    scan = _run([("x", inp, x)], [(f"o{i}", t) for i, t in enumerate(outs)] + [
        ("g", K.gradients(K.sum(outs[0]), [inp])[0])], training=True)  # fmt: skip
    for got, ref in zip(scan, want):
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)


def _profiled_ops(proto, feeds) -> set[str]:
    """The op types onnxruntime ran (top-level and inside If/Scan subgraphs)."""
    options = ort.SessionOptions()
    options.enable_profiling = True
    sess = ort.InferenceSession(
        proto.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    out = sess.run(None, feeds)
    path = Path(sess.end_profiling())
    events = json.loads(path.read_text())
    path.unlink()
    ran = {e["args"].get("op_name") for e in events if e.get("cat") == "Node"}
    return out, ran


@pytest.mark.parametrize("bidirectional", [False, True])
def test_masked_export_runs_native_op_on_padded_masks(bidirectional):
    """A mask that keeps a prefix (right padding) or a suffix (left padding) of each sequence
    runs the native op with `sequence_lens`; any other mask runs the Scan."""
    inp = L.Input((6,), dtype="int32")
    rnn = L.GRU(3, return_sequences=True, reset_after=True)
    layer = L.Bidirectional(rnn) if bidirectional else rnn
    out = layer(L.Embedding(9, 4, mask_zero=True)(inp))
    model = Model(inp, out)
    proto = model.to_onnx()
    branches = [n for n in proto.graph.node if n.op_type == "If"]
    assert len(branches) == (2 if bidirectional else 1)
    assert "GRU" in {n.op_type for n in branches[0].attribute[1].g.node}
    grad = K.gradients(K.sum(out), [layer.trainable_weights[0]])[0]  # keeps the training Scan
    x = np.random.default_rng(9).integers(1, 9, size=(4, 6)).astype(np.int32)
    right, left, holes = x.copy(), x.copy(), x.copy()
    for b in range(4):
        right[b, 6 - b :] = 0
        left[b, : b + 1] = 0
        holes[b, (b + 1) % 6] = 0
    for data, native in ((right, True), (left, True), (holes, False), (x, True)):
        got, ran = _profiled_ops(proto, {"input_1": data})
        assert ("GRU" in ran) == native and ("Scan" in ran) == (not native), ran
        want = _run([("x", inp, data)], [("y", out), ("g", grad)], training=False)[0]
        np.testing.assert_allclose(got[0], want, rtol=1e-5, atol=1e-5)


def test_export_falls_back_to_scan():
    inp = L.Input((5,), dtype="int32")
    h = L.Embedding(10, 4, mask_zero=True)(inp)
    model = Model(inp, L.LSTM(3, activation="selu")(h))  # ONNX's RNN ops have no selu
    ops = [n.op_type for n in model.to_onnx().graph.node]
    assert "Scan" in ops and "If" not in ops and not NATIVE & set(ops)
    # Dropout only exists in training: prediction and export use the native op.
    model = Sequential([L.GRU(3, dropout=0.3, recurrent_dropout=0.3, input_shape=(4, 2))])
    ops = [n.op_type for n in model.to_onnx().graph.node]
    assert "GRU" in ops and "Scan" not in ops
    # onnxruntime's native RNN kernels are float32 only.
    K.set_floatx("float64")
    try:
        model = Sequential([L.LSTM(2, input_shape=(4, 3))])
        ops = [n.op_type for n in model.to_onnx().graph.node]
        assert "Scan" in ops and not NATIVE & set(ops)
        assert model.predict(np.ones((2, 4, 3))).dtype == np.float64
    finally:
        K.set_floatx("float32")


# -- masks ---------------------------------------------------------------------------------
def _np_simple(x, w, u, b, mask=None, h0=None):
    h = np.zeros((x.shape[0], u.shape[0])) if h0 is None else h0
    ys = []
    for t in range(x.shape[1]):
        new = np.tanh(x[:, t] @ w + h @ u + b)
        h = new if mask is None else np.where(mask[:, t : t + 1], new, h)
        ys.append(h)
    return np.stack(ys, 1), h


def test_bidirectional_masked_sequences_follow_keras_205():
    """2.0.5's Bidirectional repeats the previous output at masked steps (tf-keras outputs
    zeros there, which `zero_output_for_mask=True` reproduces)."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 5, 3)).astype(np.float32)
    x[0, 3:] = 0.0
    x[1, :2] = 0.0
    inp = L.Input((5, 3))
    layer = L.Bidirectional(L.SimpleRNN(2, return_sequences=True), merge_mode=None)
    model = Model(inp, layer(L.Masking()(inp)))
    fw, bw = model.predict(x)
    w = [v.astype(np.float64) for v in layer.get_weights()]
    mask = np.any(x != 0, -1)
    want_f, _ = _np_simple(x, *w[:3], mask)
    want_b, _ = _np_simple(x[:, ::-1], *w[3:], mask[:, ::-1])
    np.testing.assert_allclose(fw, want_f, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(bw, want_b[:, ::-1], rtol=1e-5, atol=1e-6)


def test_initial_state_and_output_masks():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(2, 4, 3)).astype(np.float32)
    h0 = rng.normal(size=(2, 2)).astype(np.float32)
    inp, state = L.Input((4, 3)), L.Input((2,))
    layer = L.SimpleRNN(2, return_sequences=True, return_state=True)
    seq, h = layer(inp, initial_state=[state])
    model = Model([inp, state], [seq, h])
    got_seq, got_h = model.predict([x, h0])
    want_seq, want_h = _np_simple(x, *[v.astype(np.float64) for v in layer.get_weights()], h0=h0)
    np.testing.assert_allclose(got_seq, want_seq, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got_h, want_h, rtol=1e-5, atol=1e-6)
    emb = L.Embedding(5, 3, mask_zero=True)(L.Input((4,), dtype="int32"))
    seq, h = L.SimpleRNN(2, return_sequences=True, return_state=True)(emb)
    assert seq._keras_mask is not None and h._keras_mask is None
    assert L.GRU(2)(emb)._keras_mask is None


# -- dropout -----------------------------------------------------------------------------
@pytest.mark.parametrize("implementation", [0, 2])
def test_dropout_masks_are_fixed_over_time(implementation):
    """Training-mode outputs equal a numpy LSTM whose input and recurrent masks are drawn
    once per batch (per gate for implementation 0, shared for 2) from the same hash."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=(3, 4, 5)).astype(np.float32)
    inp = L.Input((4, 5))
    layer = L.LSTM(2, dropout=0.4, recurrent_dropout=0.3, implementation=implementation,
                   recurrent_activation="sigmoid", return_sequences=True)  # fmt: skip
    out = layer(inp)
    (got,) = _run([("x", inp, x)], [("y", out)], training=True)
    count = 4 if implementation == 0 else 1

    def masks(rate, width, seed):
        keep = K.reference_mask_bits((count, 3, width), seed, 0) >= K.keep_threshold(rate)
        return keep / (1.0 - rate)

    din, drec = masks(0.4, 5, layer._seed), masks(0.3, 2, layer._seed + 1)
    w, u, b = (v.astype(np.float64) for v in layer.get_weights())
    h = c = np.zeros((3, 2))
    sig = lambda v: 1.0 / (1.0 + np.exp(-v))  # noqa: E731
    for t in range(4):
        z = [(x[:, t] * din[g % count]) @ w[:, 2 * g : 2 * g + 2] + (h * drec[g % count]) @ u[:, 2 * g : 2 * g + 2]
             + b[2 * g : 2 * g + 2] for g in range(4)]  # fmt: skip
        c = sig(z[1]) * c + sig(z[0]) * np.tanh(z[2])
        h = sig(z[3]) * np.tanh(c)
        np.testing.assert_allclose(got[:, t], h, rtol=1e-5, atol=1e-6)
    # Inference ignores dropout.
    model = Model(inp, out)
    plain = Model(
        inp,
        L.LSTM(
            2, recurrent_activation="sigmoid", return_sequences=True, weights=layer.get_weights()
        )(inp),
    )
    np.testing.assert_allclose(model.predict(x), plain.predict(x), rtol=1e-6, atol=1e-6)


# -- training --------------------------------------------------------------------------------
def test_imdb_lstm_style_model_trains():
    np.random.seed(0)  # the initial weights
    rng = np.random.default_rng(6)
    x = rng.integers(1, 50, size=(96, 12))
    y = (x.mean(1) > 25).astype(np.float32)
    model = Sequential()
    model.add(L.Embedding(50, 8, input_length=12))
    model.add(L.LSTM(8, dropout=0.2, recurrent_dropout=0.2))
    model.add(L.Dense(1, activation="sigmoid"))
    model.compile(optimizers.Adam(lr=0.01), "binary_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, batch_size=16, epochs=10, verbose=0).history
    losses = history["loss"]
    assert losses[-1] < 0.5 * losses[0] and np.mean(losses[5:]) < np.mean(losses[:5])
    assert history["acc"][-1] > 0.85


def test_shared_lstm_over_two_inputs_trains():
    """The Keras guide's shared-layer example: one LSTM encodes two inputs."""
    np.random.seed(0)
    rng = np.random.default_rng(7)
    a, b = rng.normal(size=(2, 64, 6, 4)).astype(np.float32)
    labels = (a.sum((1, 2)) > b.sum((1, 2))).astype(np.float32)
    tweet_a, tweet_b = L.Input((6, 4)), L.Input((6, 4))
    shared_lstm = L.LSTM(8)
    merged = L.concatenate([shared_lstm(tweet_a), shared_lstm(tweet_b)], axis=-1)
    model = Model([tweet_a, tweet_b], L.Dense(1, activation="sigmoid")(merged))
    model.compile(
        optimizer=optimizers.RMSprop(lr=0.01), loss="binary_crossentropy", metrics=["accuracy"]
    )
    assert len(model.trainable_weights) == 5
    history = model.fit([a, b], labels, epochs=8, batch_size=16, verbose=0).history
    assert history["loss"][-1] < 0.5 * history["loss"][0] and history["acc"][-1] > 0.85


def test_train_step_matches_keras():
    """Embedding(mask_zero) -> LSTM -> Dense: one SGD step (loss and every weight after)."""
    data = _data("train")
    inp = L.Input((6,), dtype="int32")
    h = L.LSTM(4)(L.Embedding(10, 3, mask_zero=True)(inp))
    model = Model(inp, L.Dense(1, activation="sigmoid")(h))
    model.set_weights([data[f"w_{i}"] for i in range(len(model.weights))])
    model.compile(optimizers.SGD(lr=0.5), "mse")
    np.testing.assert_allclose(model.train_on_batch(data["x"], data["y"]), data["loss"], rtol=1e-5)
    for i, w in enumerate(model.get_weights()):
        _close(w, data[f"after_{i}"], f"weight {i} after the step")


def test_regularizers_and_constraints():
    model = Sequential([L.GRU(3, kernel_regularizer=regularizers.l2(0.1), recurrent_constraint="non_neg",
                              input_shape=(4, 2))])  # fmt: skip
    model.compile(optimizers.SGD(lr=0.1), "mse")
    x, y = np.ones((2, 4, 2), np.float32), np.ones((2, 3), np.float32)
    kernel = model.layers[0].kernel.value
    mse = float(np.mean((model.predict(x) - y) ** 2))
    np.testing.assert_allclose(
        model.evaluate(x, y, verbose=0), mse + 0.1 * np.sum(kernel**2), rtol=1e-5
    )
    model.train_on_batch(x, y)
    assert np.all(model.layers[0].recurrent_kernel.value >= 0)
    # Regularizers of wrapped layers are the model's losses.
    inner = L.LSTM(2, kernel_regularizer="l2", recurrent_regularizer="l1", return_sequences=True)
    dense = L.Dense(1, kernel_regularizer="l2")
    model = Sequential([L.Bidirectional(inner, input_shape=(4, 2)), L.TimeDistributed(dense)])
    assert len(model.losses) == 5


def test_time_distributed_unknown_length_and_weights():
    inp = L.Input((None, 4))
    td = L.TimeDistributed(L.Dense(3))
    out = td(inp)
    assert K.int_shape(out) == (None, None, 3)
    assert [w.name for w in td.weights] == [f"{td.name}/kernel:0", f"{td.name}/bias:0"]
    x = np.random.default_rng(8).normal(size=(2, 7, 4)).astype(np.float32)
    kernel, bias = td.get_weights()
    np.testing.assert_allclose(Model(inp, out).predict(x), x @ kernel + bias, rtol=1e-5, atol=1e-6)


def test_keras1_arguments_are_renamed():
    with pytest.warns(UserWarning, match="output_dim -> units"):
        layer = L.LSTM(
            output_dim=3, inner_activation="sigmoid", dropout_W=0.1, consume_less="gpu", input_dim=5
        )
    assert (layer.units, layer.dropout, layer.implementation) == (3, 0.1, 2)
    assert layer.batch_input_shape == (None, None, 5)


def test_tf_keras_files_load():
    """A tf-keras model file with a reset-after GRU, and Bidirectional weights."""
    from kgraph.models import load_model

    data = _data("h5gru")
    model = load_model(str(FIXTURES / "rnn_gru_tfk.h5"), compile=False)
    _close(model.predict(data["x"]), data["y"], "GRU(reset_after=True) model file")
    data = _data("h5bi")
    inp = L.Input((4, 3))
    model = Model(inp, L.Bidirectional(L.LSTM(2))(inp))
    model.load_weights(str(FIXTURES / "rnn_bilstm_tfk_weights.h5"))
    _close(model.predict(data["x"]), data["y"], "Bidirectional weights file")


# -- errors --------------------------------------------------------------------------------------
def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match=r"lstm_1.*expected ndim=3, found ndim=2"):
        L.LSTM(2)(L.Input((5,)))
    x = L.Input((5, 3))
    with pytest.raises(
        ValueError, match=r"gru_1: the input mask must have shape \(batch, timesteps\)"
    ):
        L.GRU(2)(x, mask=K.cast(K.ones_like(x), "bool"))
    with pytest.raises(
        ValueError, match="simple_rnn_1: if a RNN is stateful, it needs to know its batch size"
    ):
        L.SimpleRNN(2, stateful=True)(x)
    layer = L.LSTM(2, stateful=True)
    layer(L.Input(batch_shape=(4, 5, 3)))
    with pytest.raises(
        ValueError,
        match="lstm_2 is stateful with a batch size of 4, but it was called on an input of batch size 2",
    ):
        layer(L.Input(batch_shape=(2, 5, 3)))
    model = Sequential([L.LSTM(2, stateful=True, batch_input_shape=(4, 5, 3))])
    with pytest.raises(ValueError, match="stateful with a fixed batch size of 4.*batch_size=4"):
        model.predict(np.zeros((6, 5, 3), np.float32), batch_size=6)
    model.compile("sgd", "mse")
    with pytest.raises(
        ValueError, match="fit: layer lstm_3 is stateful with a fixed batch size of 4"
    ):
        model.fit(
            np.zeros((6, 5, 3), np.float32), np.zeros((6, 2), np.float32), batch_size=4, verbose=0
        )
    with pytest.raises(ValueError, match="expects 2 states, but it received 1"):
        model.layers[0].reset_states([np.zeros((4, 2))])
    with pytest.raises(ValueError, match="not supported inside a recurrence"):
        L.SimpleRNN(2, activation=lambda v: v * 2)
    with pytest.raises(ValueError, match="Invalid merge mode"):
        L.Bidirectional(L.LSTM(2), merge_mode="max")
    with pytest.raises(ValueError, match="time_distributed_1: expected min_ndim=3, found ndim=2"):
        L.TimeDistributed(L.Dense(2))(L.Input((4,)))
