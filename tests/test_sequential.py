"""Sequential: construction, naming, summary, weights, the core layers' arguments, and the
fit/evaluate/predict semantics of Keras 2.0.5 (console output, History, validation split,
sample and class weights, accuracy resolution)."""

from __future__ import annotations

import re

import numpy as np
import pytest

import kgraph.backend as K
from kgraph import constraints, optimizers, regularizers
from kgraph.layers import Activation, Dense, Dropout, Flatten, InputLayer
from kgraph.models import Sequential

RNG = np.random.RandomState(7)
X = RNG.rand(8, 3).astype(np.float32)
Y = RNG.rand(8, 2).astype(np.float32)
KERNEL = np.array([[0.5, -1.0], [0.25, 0.0], [-0.5, 2.0]], np.float32)
BIAS = np.array([0.1, -0.2], np.float32)


def linear_model(loss="mse", metrics=None, lr=0.1, **dense_kwargs) -> Sequential:
    """Dense(2) on 3 features with known weights, compiled with plain SGD."""
    model = Sequential([Dense(2, input_dim=3, **dense_kwargs)])
    model.set_weights([KERNEL, BIAS][: len(model.weights)])
    model.compile(optimizers.SGD(lr=lr), loss, metrics=metrics)
    return model


def np_softmax(a):
    e = np.exp(a - a.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


# -- construction and naming ----------------------------------------------------------


def test_constructor_layers_and_get_layer():
    d1, d2 = Dense(16, input_dim=8), Dense(4)
    model = Sequential([d1, d2])
    assert model.layers == [d1, d2]
    assert model.name == "sequential_1"
    assert model.input_names == ["dense_1_input"]
    assert model.output_names == ["dense_2"]
    assert model.input_shape == (None, 8)
    assert model.output_shape == (None, 4)
    first = model.get_layer(index=0)
    assert isinstance(first, InputLayer)
    assert first.name == "dense_1_input"
    assert model.get_layer(index=1) is d1
    assert model.get_layer(index=2) is d2
    assert model.get_layer("dense_2") is d2
    assert model.get_layer("dense_9") is None
    assert d2.input_shape == (None, 16)


def test_add_and_pop():
    model = Sequential()
    assert model.layers == []
    model.add(Dense(16, input_shape=(8,)))
    assert model.output_shape == (None, 16)
    model.add(Dense(4))
    assert model.output_shape == (None, 4)
    x = np.ones((2, 8), np.float32)
    assert model.predict(x).shape == (2, 4)
    model.pop()
    assert [la.name for la in model.layers] == ["dense_1"]
    assert model.output_shape == (None, 16)
    assert model.output_names == ["dense_1"]
    assert model.predict(x).shape == (2, 16)
    assert len(model.get_weights()) == 2
    model.add(Dense(5))
    assert model.layers[-1].name == "dense_3"
    assert model.predict(x).shape == (2, 5)
    model.compile("sgd", "mse")
    assert model.train_on_batch(x, np.zeros((2, 5))) >= 0
    model.pop()
    model.pop()
    assert model.layers == []
    with pytest.raises(TypeError, match="no layers"):
        model.pop()


def test_automatic_names():
    model = Sequential([
        Dense(16, input_dim=8), Activation("relu"), Dropout(0.5), Dense(4),
        Activation("softmax"), Dropout(0.1),
    ])  # fmt: skip
    names = [la.name for la in model.layers]
    assert names == ["dense_1", "activation_1", "dropout_1", "dense_2", "activation_2", "dropout_2"]
    assert model.input_names == ["dense_1_input"]
    assert [w.name for w in model.weights] == [
        "dense_1/kernel:0", "dense_1/bias:0", "dense_2/kernel:0", "dense_2/bias:0",
    ]  # fmt: skip
    assert Sequential([Flatten(input_shape=(2, 2))]).layers[0].name == "flatten_1"
    assert Sequential().name == "sequential_3"
    assert Dense(1, name="out").name == "out"


@pytest.mark.parametrize(
    "kwargs,shape",
    [
        ({"input_shape": (8,)}, (None, 8)),
        ({"input_dim": 8}, (None, 8)),
        ({"input_dim": 8, "batch_size": 16}, (16, 8)),
        ({"input_shape": (8,), "batch_size": 5}, (5, 8)),
        ({"batch_input_shape": (None, 8)}, (None, 8)),
        ({"batch_input_shape": (4, 8)}, (4, 8)),
    ],
)
def test_input_shape_arguments(kwargs, shape):
    model = Sequential([Dense(3, **kwargs)])
    assert model.input_shape == shape
    assert model.output_shape == shape[:1] + (3,)
    assert model.layers[0].get_config()["batch_input_shape"] == shape
    assert model.layers[0].kernel.shape == (8, 3)
    batch = shape[0] or 4
    assert model.predict(np.ones((batch, 8), np.float32), batch_size=batch).shape == (batch, 3)


# -- summary, weights and parameters --------------------------------------------------


def test_summary_text(capsys):
    model = Sequential([Dense(16, input_dim=8), Dense(4)])
    model.summary()
    lines = capsys.readouterr().out.split("\n")
    assert lines == [
        "_" * 65,
        "Layer (type)                 Output Shape              Param #   ",
        "=" * 65,
        "dense_1 (Dense)              (None, 16)                144       ",
        "_" * 65,
        "dense_2 (Dense)              (None, 4)                 68        ",
        "=" * 65,
        "Total params: 212",
        "Trainable params: 212",
        "Non-trainable params: 0",
        "_" * 65,
        "",
    ]


def test_summary_thousands_and_frozen_layers(capsys):
    model = Sequential([Dense(1000, input_dim=8, name="wide"), Dense(2, trainable=False)])
    model.summary()
    out = capsys.readouterr().out
    assert "wide (Dense)                 (None, 1000)              9000      " in out.split("\n")
    assert "Total params: 11,002\nTrainable params: 9,000\nNon-trainable params: 2,002\n" in out


def test_weights_order_and_count_params():
    model = Sequential([Dense(16, input_dim=8), Dropout(0.5), Dense(4)])
    shapes = [w.shape for w in model.get_weights()]
    assert shapes == [(8, 16), (16,), (16, 4), (4,)]
    assert model.count_params() == 8 * 16 + 16 + 16 * 4 + 4
    assert model.layers[0].count_params() == 144
    new = [RNG.randn(*s).astype(np.float32) for s in shapes]
    model.set_weights(new)
    for got, want in zip(model.get_weights(), new, strict=True):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(model.layers[2].get_weights()[0], new[2])
    np.testing.assert_array_equal(K.get_value(model.layers[0].bias), new[1])
    x = RNG.rand(3, 8).astype(np.float32)
    want = (x @ new[0] + new[1]) @ new[2] + new[3]
    np.testing.assert_allclose(model.predict(x), want, rtol=1e-5, atol=1e-6)


def test_weights_kwarg_sets_initial_weights():
    k, b = np.full((3, 2), 0.5, np.float32), np.array([1.0, -1.0], np.float32)
    model = Sequential([Dense(2, input_dim=3, weights=[k, b])])
    np.testing.assert_array_equal(model.get_weights()[0], k)
    np.testing.assert_allclose(model.predict(X), X @ k + b, rtol=1e-6)


# -- layer arguments ------------------------------------------------------------------


def test_dense_without_bias():
    model = Sequential([Dense(2, input_dim=3, use_bias=False)])
    assert [w.name for w in model.weights] == ["dense_1/kernel:0"]
    assert model.count_params() == 6
    model.set_weights([KERNEL])
    np.testing.assert_allclose(model.predict(X), X @ KERNEL, rtol=1e-6)


def test_initializers_by_name():
    model = Sequential([Dense(5, input_dim=4, kernel_initializer="ones", bias_initializer="ones")])
    kernel, bias = model.get_weights()
    np.testing.assert_array_equal(kernel, np.ones((4, 5)))
    np.testing.assert_array_equal(bias, np.ones(5))
    x = RNG.rand(3, 4).astype(np.float32)
    np.testing.assert_allclose(
        model.predict(x), np.repeat(x.sum(1, keepdims=True) + 1, 5, 1), rtol=1e-6
    )
    np.random.seed(0)
    kernel = Sequential([Dense(300, input_dim=200)]).get_weights()[0]
    limit = np.sqrt(6.0 / (200 + 300))  # glorot_uniform, the default
    assert np.abs(kernel).max() <= limit
    assert np.abs(kernel).max() > 0.95 * limit
    assert kernel.std() == pytest.approx(limit / np.sqrt(3), rel=0.02)
    zeros = Sequential([Dense(3, input_dim=2, kernel_initializer="zeros")]).get_weights()[0]
    np.testing.assert_array_equal(zeros, np.zeros((2, 3)))


def test_kernel_regularizer_adds_to_the_loss():
    plain = linear_model()
    reg = linear_model(kernel_regularizer=regularizers.l2(0.1), bias_regularizer="l1")
    base = plain.evaluate(X, Y, verbose=0)
    pred = X @ KERNEL + BIAS
    assert base == pytest.approx(((pred - Y) ** 2).mean(), rel=1e-5)
    penalty = 0.1 * (KERNEL**2).sum() + 0.01 * np.abs(BIAS).sum()
    assert reg.evaluate(X, Y, verbose=0) == pytest.approx(base + penalty, rel=1e-5)
    assert reg.test_on_batch(X, Y) == pytest.approx(base + penalty, rel=1e-5)
    assert len(reg.losses) == 2


def test_activity_regularizer_sums_over_the_batch():
    plain = linear_model()
    reg = linear_model(activity_regularizer=regularizers.l1(0.01))
    pred = X @ KERNEL + BIAS
    got = reg.test_on_batch(X, Y) - plain.test_on_batch(X, Y)
    assert got == pytest.approx(0.01 * np.abs(pred).sum(), rel=1e-4)


@pytest.mark.parametrize("constraint", ["non_neg", constraints.NonNeg()])
def test_non_neg_constraint_holds_after_each_step(constraint):
    model = Sequential([Dense(2, input_dim=3, kernel_constraint=constraint)])
    model.set_weights([np.abs(KERNEL) + 0.01, BIAS])
    model.compile(optimizers.SGD(lr=1.0), "mse")
    # Targets far below the outputs push every weight down.
    y = np.full((8, 2), -10.0, np.float32)
    model.train_on_batch(X, y)
    kernel, bias = model.get_weights()
    assert (kernel >= 0).all()
    assert (kernel == 0).any()
    assert (bias < BIAS).all()
    model.fit(X, y, epochs=3, verbose=0)
    assert (model.get_weights()[0] >= 0).all()


def test_max_norm_constraint():
    model = Sequential([Dense(2, input_dim=3, kernel_constraint=constraints.max_norm(0.5))])
    model.compile(optimizers.SGD(lr=1.0), "mse")
    model.train_on_batch(X * 10, np.full((8, 2), 50.0, np.float32))
    norms = np.sqrt((model.get_weights()[0] ** 2).sum(axis=0))
    np.testing.assert_allclose(norms, 0.5, rtol=1e-5)


@pytest.mark.parametrize(
    "name,fn",
    [
        ("relu", lambda a: np.maximum(a, 0)),
        ("softmax", np_softmax),
        ("sigmoid", lambda a: 1 / (1 + np.exp(-a))),
        ("tanh", np.tanh),
        ("linear", lambda a: a),
    ],
)
def test_activation_by_name(name, fn):
    model = Sequential([Dense(2, input_dim=3), Activation(name)])
    model.set_weights([KERNEL, BIAS])
    np.testing.assert_allclose(model.predict(X), fn(X @ KERNEL + BIAS), rtol=1e-5, atol=1e-6)
    dense_act = Sequential([Dense(2, input_dim=3, activation=name, weights=[KERNEL, BIAS])])
    np.testing.assert_allclose(dense_act.predict(X), model.predict(X), rtol=1e-6)


def test_flatten_on_a_3d_input():
    model = Sequential([Flatten(input_shape=(2, 3)), Dense(1, use_bias=False)])
    assert model.layers[0].output_shape == (None, 6)
    kernel = np.arange(6, dtype=np.float32).reshape(6, 1)
    model.set_weights([kernel])
    x = RNG.rand(4, 2, 3).astype(np.float32)
    np.testing.assert_allclose(model.predict(x), x.reshape(4, 6) @ kernel, rtol=1e-6)


def test_dense_on_a_3d_input_contracts_the_last_axis():
    model = Sequential([Dense(4, input_shape=(5, 3))])
    assert model.output_shape == (None, 5, 4)
    assert model.count_params() == 3 * 4 + 4
    kernel, bias = RNG.randn(3, 4).astype(np.float32), RNG.randn(4).astype(np.float32)
    model.set_weights([kernel, bias])
    x = RNG.rand(2, 5, 3).astype(np.float32)
    np.testing.assert_allclose(model.predict(x), x @ kernel + bias, rtol=1e-5, atol=1e-6)
    model.compile(optimizers.SGD(lr=0.0), "mse")
    y = RNG.rand(2, 5, 4).astype(np.float32)
    assert model.evaluate(x, y, verbose=0) == pytest.approx(
        ((x @ kernel + bias - y) ** 2).mean(), rel=1e-5
    )


def test_predict_classes():
    model = Sequential([Dense(3, input_dim=3, activation="softmax")])
    model.set_weights([np.eye(3, dtype=np.float32) * 5, np.zeros(3, np.float32)])
    x = np.array([[1, 0, 0], [0, 0, 1], [0, 2, 1]], np.float32)
    classes = model.predict_classes(x, verbose=0)
    np.testing.assert_array_equal(classes, [0, 2, 1])
    binary = Sequential(
        [Dense(1, input_dim=3, activation="sigmoid", weights=[np.ones((3, 1)), np.array([-1.0])])]
    )
    classes = binary.predict_classes(
        np.array([[0, 0, 0], [1, 1, 0], [0.2, 0.2, 0.2]], np.float32), verbose=0
    )
    assert classes.shape == (3, 1)
    assert classes.dtype == np.int32
    np.testing.assert_array_equal(classes[:, 0], [0, 1, 0])
    proba = binary.predict_proba(np.zeros((2, 3), np.float32), verbose=0)
    np.testing.assert_allclose(proba, 1 / (1 + np.exp(1.0)), rtol=1e-6)


# -- console output -------------------------------------------------------------------


def test_fit_verbose_0_prints_nothing(capsys):
    model = linear_model()
    model.fit(X, Y, epochs=2, verbose=0, validation_split=0.25)
    model.evaluate(X, Y, verbose=0)
    model.predict(X)
    assert capsys.readouterr().out == ""


def test_fit_verbose_2_prints_one_line_per_epoch(capsys):
    model = linear_model()
    history = model.fit(X, Y, epochs=2, batch_size=4, verbose=2)
    lines = capsys.readouterr().out.split("\n")
    assert len(lines) == 5 and lines[-1] == ""
    assert lines[0] == "Epoch 1/2"
    assert lines[2] == "Epoch 2/2"
    for line, loss in zip((lines[1], lines[3]), history.history["loss"], strict=True):
        assert re.fullmatch(r"\d+s - loss: " + re.escape(f"{loss:.4f}"), line), line


def test_fit_verbose_2_with_validation_and_metrics(capsys):
    model = linear_model(metrics=["mae"])
    history = model.fit(X, Y, epochs=1, batch_size=4, verbose=2, validation_split=0.25)
    lines = capsys.readouterr().out.split("\n")
    assert lines[0] == "Train on 6 samples, validate on 2 samples"
    assert lines[1] == "Epoch 1/1"
    h = {k: v[0] for k, v in history.history.items()}
    tail = " - ".join(
        f"{k}: {h[k]:.4f}"
        for k in ("loss", "mean_absolute_error", "val_loss", "val_mean_absolute_error")
    )
    assert re.fullmatch(r"\d+s - " + re.escape(tail), lines[2]), lines[2]
    assert lines[3:] == [""]


def test_fit_verbose_1_draws_a_progress_bar(capsys):
    model = linear_model()
    history = model.fit(X, Y, epochs=1, batch_size=4, verbose=1)
    out = capsys.readouterr().out
    assert out.startswith("Epoch 1/1\n\r")
    assert out.endswith("\n")
    final = out.split("\r")[-1]
    loss = history.history["loss"][0]
    pattern = r"8/8 \[={30}\] - \d+s - loss: " + re.escape(f"{loss:.4f}") + r" *\n"
    assert re.fullmatch(pattern, final), repr(final)


def test_evaluate_and_predict_verbose_1_draw_a_bar(capsys):
    model = linear_model()
    model.evaluate(X, Y, verbose=1)
    assert re.fullmatch(r"\r8/8 \[={30}\] - \d+s\n", capsys.readouterr().out)
    model.predict(X, verbose=1)
    assert re.fullmatch(r"\r8/8 \[={30}\] - \d+s\n", capsys.readouterr().out)


# -- fit semantics --------------------------------------------------------------------


def test_history_keys_epochs_and_params():
    model = linear_model(metrics=["accuracy"])
    history = model.fit(X, Y, epochs=3, batch_size=4, verbose=0, validation_split=0.25)
    assert history is model.history
    assert history.model is model
    assert history.epoch == [0, 1, 2]
    assert set(history.history) == {"loss", "acc", "val_loss", "val_acc"}
    assert all(len(v) == 3 for v in history.history.values())
    assert history.params["epochs"] == 3
    assert history.params["samples"] == 6
    assert history.params["batch_size"] == 4
    assert history.params["do_validation"] is True
    assert history.params["metrics"] == ["loss", "acc", "val_loss", "val_acc"]
    # The last epoch's validation loss is the loss of the final weights.
    assert history.history["val_loss"][-1] == pytest.approx(
        model.evaluate(X[6:], Y[6:], verbose=0)[0], rel=1e-6
    )


def test_sequential_fit_defaults_to_ten_epochs():
    assert linear_model().fit(X, Y, verbose=0).epoch == list(range(10))


def test_initial_epoch(capsys):
    model = linear_model()
    history = model.fit(X, Y, epochs=4, initial_epoch=2, verbose=2)
    assert history.epoch == [2, 3]
    assert len(history.history["loss"]) == 2
    lines = capsys.readouterr().out.split("\n")
    assert lines[0] == "Epoch 3/4" and lines[2] == "Epoch 4/4"
    assert linear_model().fit(X, Y, epochs=2, initial_epoch=2, verbose=0).epoch == []


def test_fit_without_shuffle_equals_train_on_batch_in_order():
    model = linear_model()
    history = model.fit(X, Y, epochs=2, batch_size=3, shuffle=False, verbose=0)
    manual = linear_model()
    expected = []
    for _ in range(2):
        losses = [manual.train_on_batch(X[i : i + 3], Y[i : i + 3]) for i in (0, 3, 6)]
        expected.append((losses[0] * 3 + losses[1] * 3 + losses[2] * 2) / 8)
    np.testing.assert_allclose(history.history["loss"], expected, rtol=1e-6)
    for a, b in zip(model.get_weights(), manual.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_shuffle_changes_the_batches():
    model = linear_model()
    np.random.seed(1)
    model.fit(X, Y, epochs=1, batch_size=2, shuffle=True, verbose=0)
    ordered = linear_model()
    ordered.fit(X, Y, epochs=1, batch_size=2, shuffle=False, verbose=0)
    assert not np.allclose(model.get_weights()[0], ordered.get_weights()[0])


def test_validation_split_takes_the_last_fraction():
    n_val = 2
    split = linear_model()
    h_split = split.fit(
        X, Y, epochs=3, batch_size=4, shuffle=False, verbose=0, validation_split=0.25
    )
    data = linear_model()
    h_data = data.fit(X[:-n_val], Y[:-n_val], epochs=3, batch_size=4, shuffle=False, verbose=0,
                      validation_data=(X[-n_val:], Y[-n_val:]))  # fmt: skip
    assert set(h_split.history) == {"loss", "val_loss"}
    for key in ("loss", "val_loss"):
        np.testing.assert_allclose(h_split.history[key], h_data.history[key], rtol=1e-6)
    first = linear_model()
    h_first = first.fit(X[n_val:], Y[n_val:], epochs=3, batch_size=4, shuffle=False, verbose=0,
                        validation_data=(X[:n_val], Y[:n_val]))  # fmt: skip
    assert not np.allclose(h_split.history["val_loss"], h_first.history["val_loss"])


def test_validation_data_with_sample_weights():
    model = linear_model()
    sw = np.array([1.0, 0.0], np.float32)
    history = model.fit(X[:6], Y[:6], epochs=1, verbose=0, validation_data=(X[6:], Y[6:], sw))
    pred = model.predict(X[6:])
    # A zero weight drops the sample; the mean is renormalized by the non-zero fraction.
    want = ((pred[0] - Y[6]) ** 2).mean()
    assert history.history["val_loss"][0] == pytest.approx(want, rel=1e-5)


def test_sample_weight_matches_a_weighted_numpy_loss():
    model = linear_model()
    sw = np.array([1.0, 0.0, 2.0, 0.5, 0.0, 3.0, 1.0, 1.0], np.float32)
    per_sample = (((X @ KERNEL + BIAS) - Y) ** 2).mean(-1)
    want = (per_sample * sw).mean() / (sw != 0).mean()
    assert model.test_on_batch(X, Y, sample_weight=sw) == pytest.approx(want, rel=1e-5)
    assert model.evaluate(X, Y, sample_weight=sw, verbose=0) == pytest.approx(want, rel=1e-5)
    assert model.test_on_batch(X, Y) == pytest.approx(per_sample.mean(), rel=1e-5)
    assert model.train_on_batch(X, Y, sample_weight=sw) == pytest.approx(want, rel=1e-5)


def test_class_weight_and_sample_weight_precedence():
    y = np.eye(2, dtype=np.float32)[[0, 1, 1, 0, 1, 1, 1, 0]]
    model = linear_model(loss="categorical_crossentropy", lr=0.0, activation="softmax")
    per_sample = -np.log((np_softmax(X @ KERNEL + BIAS) * y).sum(-1))
    cw = {0: 3.0, 1: 0.5}
    w = np.where(y[:, 0] == 1, 3.0, 0.5)
    assert model.train_on_batch(X, y, class_weight=cw) == pytest.approx(
        (per_sample * w).mean(), rel=1e-5
    )
    sw = np.linspace(0.5, 2.0, 8).astype(np.float32)
    got = model.train_on_batch(X, y, class_weight=cw, sample_weight=sw)
    assert got == pytest.approx((per_sample * sw).mean(), rel=1e-5)
    assert model.train_on_batch(X, y) == pytest.approx(per_sample.mean(), rel=1e-5)


def test_class_weight_for_binary_targets_and_in_fit():
    y = np.array([[0], [1], [1], [0], [1], [1], [1], [0]], np.float32)
    cw = {0: 2.0, 1: 0.25}
    sw = np.where(y[:, 0] == 1, 0.25, 2.0).astype(np.float32)
    a = Sequential([Dense(1, input_dim=3, activation="sigmoid", kernel_initializer="ones")])
    a.compile(optimizers.SGD(lr=0.5), "binary_crossentropy")
    b = Sequential([Dense(1, input_dim=3, activation="sigmoid", kernel_initializer="ones")])
    b.compile(optimizers.SGD(lr=0.5), "binary_crossentropy")
    h_a = a.fit(X, y, epochs=3, batch_size=3, shuffle=False, verbose=0, class_weight=cw)
    h_b = b.fit(X, y, epochs=3, batch_size=3, shuffle=False, verbose=0, sample_weight=sw)
    plain = Sequential([Dense(1, input_dim=3, activation="sigmoid", kernel_initializer="ones")])
    plain.compile(optimizers.SGD(lr=0.5), "binary_crossentropy")
    h_plain = plain.fit(X, y, epochs=3, batch_size=3, shuffle=False, verbose=0)
    np.testing.assert_allclose(h_a.history["loss"], h_b.history["loss"], rtol=1e-6)
    assert not np.allclose(h_a.history["loss"], h_plain.history["loss"])


# -- metrics --------------------------------------------------------------------------


def mean_pred(y_true, y_pred):
    return K.mean(y_pred)


def test_metrics_names():
    model = linear_model(metrics=["accuracy", "mse", mean_pred, "acc"])
    assert model.metrics_names == ["loss", "acc", "mean_squared_error", "mean_pred", "acc"]
    loss, acc, mse, mp, acc2 = model.evaluate(X, Y, verbose=0)
    assert mse == pytest.approx(loss, rel=1e-6)
    assert acc == acc2
    assert mp == pytest.approx((X @ KERNEL + BIAS).mean(), rel=1e-5)
    history = model.fit(X, Y, epochs=1, verbose=0)
    assert set(history.history) == {"loss", "acc_1", "acc_2", "mean_squared_error", "mean_pred"}


def _acc_model(units, activation, loss):
    model = Sequential([Dense(units, input_dim=3, activation=activation)])
    model.compile(optimizers.SGD(lr=0.0), loss, metrics=["acc"])
    assert model.metrics_names == ["loss", "acc"]
    return model


def test_accuracy_is_binary_for_one_unit():
    model = _acc_model(1, "sigmoid", "mse")
    p = model.predict(X)
    y = (RNG.rand(8, 1) > 0.5).astype(np.float32)
    want = (np.round(p) == y).mean()
    assert model.evaluate(X, y, verbose=0)[1] == pytest.approx(want)
    assert 0 < want < 1  # categorical accuracy would be 1 for a single column


def test_accuracy_is_binary_for_binary_crossentropy():
    model = _acc_model(4, "sigmoid", "binary_crossentropy")
    p = model.predict(X)
    y = (RNG.rand(8, 4) > 0.5).astype(np.float32)
    binary = (np.round(p) == y).mean()
    categorical = (p.argmax(-1) == y.argmax(-1)).mean()
    assert binary != categorical
    assert model.evaluate(X, y, verbose=0)[1] == pytest.approx(binary)


def test_accuracy_is_sparse_for_sparse_categorical_crossentropy():
    model = _acc_model(3, "softmax", "sparse_categorical_crossentropy")
    p = model.predict(X)
    y = np.array([0, 1, 2, 0, 1, 2, 2, 1])[:, None]
    want = (p.argmax(-1) == y[:, 0]).mean()
    assert want != (p.argmax(-1) == 0).mean()
    loss, acc = model.evaluate(X, y, verbose=0)
    assert acc == pytest.approx(want)
    assert loss == pytest.approx(-np.log(p[np.arange(8), y[:, 0]]).mean(), rel=1e-5)
    # 1-D integer targets are expanded to (n, 1).
    assert model.evaluate(X, y[:, 0], verbose=0)[1] == pytest.approx(want)


def test_accuracy_is_categorical_otherwise():
    model = _acc_model(3, "softmax", "categorical_crossentropy")
    p = model.predict(X)
    y = np.eye(3, dtype=np.float32)[[0, 1, 2, 0, 1, 2, 2, 1]]
    want = (p.argmax(-1) == y.argmax(-1)).mean()
    assert want != (np.round(p) == y).mean()
    assert model.evaluate(X, y, verbose=0)[1] == pytest.approx(want)
    mse = _acc_model(3, None, "mse")
    p = mse.predict(X)
    assert mse.evaluate(X, y, verbose=0)[1] == pytest.approx((p.argmax(-1) == y.argmax(-1)).mean())


def test_plain_python_lists_are_the_data_of_a_single_input():
    model = linear_model()
    x, y = X.tolist(), Y.tolist()
    np.testing.assert_allclose(model.predict(x), X @ KERNEL + BIAS, rtol=1e-6)
    assert model.evaluate(x, y, verbose=0) == pytest.approx(
        model.evaluate(X, Y, verbose=0), rel=1e-6
    )
    binary = Sequential([Dense(1, input_dim=3)])
    binary.compile("sgd", "mse")
    assert binary.fit(x, [0, 1, 1, 0, 1, 0, 0, 1], epochs=1, verbose=0).epoch == [0]


def test_metrics_ignore_sample_weights():
    model = linear_model(metrics=["mse"])
    sw = np.array([4.0, 0.0, 1.0, 0.0, 0.5, 0.0, 1.0, 2.0], np.float32)
    per_sample = (((X @ KERNEL + BIAS) - Y) ** 2).mean(-1)
    loss, mse = model.test_on_batch(X, Y, sample_weight=sw)
    assert loss == pytest.approx((per_sample * sw).mean() / (sw != 0).mean(), rel=1e-5)
    assert mse == pytest.approx(per_sample.mean(), rel=1e-5)


def test_validation_split_splits_sample_weights_too():
    model = linear_model(lr=0.0)
    sw = np.array([1, 1, 1, 1, 1, 1, 0, 1], np.float32)
    history = model.fit(X, Y, epochs=1, verbose=0, validation_split=0.25, sample_weight=sw)
    # Only the last sample counts in validation; zero-weight samples are renormalized away.
    want = (((X[7] @ KERNEL + BIAS) - Y[7]) ** 2).mean()
    assert history.history["val_loss"][0] == pytest.approx(want, rel=1e-5)


def test_evaluate_and_predict_in_batches_equal_one_batch():
    model = Sequential([Dense(4, input_dim=3, activation="tanh"), Dense(2)])
    model.compile("sgd", "mse", metrics=["mae"])
    whole = model.test_on_batch(X, Y)
    np.testing.assert_allclose(model.evaluate(X, Y, batch_size=3, verbose=0), whole, rtol=1e-5)
    np.testing.assert_allclose(model.predict(X, batch_size=3), model.predict(X), rtol=1e-6)
    assert model.predict(X, batch_size=3).shape == (8, 2)


def test_frozen_layer_keeps_its_weights():
    model = Sequential([Dense(4, input_dim=3), Dense(2, trainable=False)])
    model.compile(optimizers.SGD(lr=0.5), "mse")
    assert [w.name for w in model.trainable_weights] == ["dense_1/kernel:0", "dense_1/bias:0"]
    assert [w.name for w in model.non_trainable_weights] == ["dense_2/kernel:0", "dense_2/bias:0"]
    before = model.get_weights()
    model.fit(X, Y, epochs=2, verbose=0)
    after = model.get_weights()
    assert not np.allclose(before[0], after[0])
    np.testing.assert_array_equal(before[2], after[2])
    np.testing.assert_array_equal(before[3], after[3])


def test_set_weights_after_training_reaches_the_running_programs():
    model = linear_model()
    model.fit(X, Y, epochs=1, verbose=0)
    model.set_weights([KERNEL, BIAS])
    np.testing.assert_allclose(model.predict(X), X @ KERNEL + BIAS, rtol=1e-6)
    assert model.train_on_batch(X, Y) == pytest.approx(
        (((X @ KERNEL + BIAS) - Y) ** 2).mean(), rel=1e-5
    )


def test_verbose_2_prints_tiny_values_in_exponent_form(capsys):
    model = Sequential([Dense(1, input_dim=3, use_bias=False, kernel_initializer="ones")])
    model.compile(optimizers.SGD(lr=0.0), "mse")
    model.fit(X, X.sum(1, keepdims=True), epochs=1, verbose=2)
    lines = capsys.readouterr().out.split("\n")
    assert re.fullmatch(r"\d+s - loss: \d\.\d{4}e[+-]\d\d", lines[1]), lines[1]


def test_predict_proba_warns_when_outputs_are_not_probabilities():
    import warnings

    import kgraph as keras

    keras.backend.clear_session()
    linear = keras.models.Sequential([keras.layers.Dense(2, input_dim=3, kernel_initializer="ones")])
    x = np.ones((4, 3), np.float32)
    with pytest.warns(UserWarning, match="invalid probability values"):
        np.testing.assert_allclose(linear.predict_proba(x, verbose=0), np.full((4, 2), 3.0))
    soft = keras.models.Sequential([keras.layers.Dense(2, input_dim=3, activation="softmax")])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        soft.predict_proba(x, verbose=0)
