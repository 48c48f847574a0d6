"""More of the functional API: trainable toggling, add_loss-only models, dict inputs, plots."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

import kgraph.backend as K
from kgraph.engine.training import Model
from kgraph.layers import Dense, Input
from kgraph.models import Sequential
from kgraph.utils import plot_model


def test_trainable_toggle_takes_effect_at_the_next_compile():
    frozen = Dense(3, input_dim=2, name="frozen")
    model = Sequential([frozen, Dense(1)])
    model.compile("sgd", "mse")
    x, y = np.ones((4, 2), "float32"), np.ones((4, 1), "float32")
    frozen.trainable = False
    before = frozen.get_weights()[0].copy()
    model.train_on_batch(x, y)  # compiled while trainable: still updates
    assert not np.allclose(frozen.get_weights()[0], before)
    assert frozen.trainable_weights == [] and len(model.non_trainable_weights) == 2
    model.compile("sgd", "mse")
    before = frozen.get_weights()[0].copy()
    head_before = model.layers[1].get_weights()[0].copy()
    model.train_on_batch(x, y)
    np.testing.assert_array_equal(frozen.get_weights()[0], before)
    assert not np.allclose(model.layers[1].get_weights()[0], head_before)


def test_compile_without_loss_trains_on_added_losses():
    x = Input(shape=(2,))
    dense = Dense(1, use_bias=False, kernel_initializer="ones")
    y = dense(x)
    model = Model(x, y)
    model.add_loss(K.mean(K.square(y)))
    model.compile("sgd", loss=None)
    assert model.metrics_names == ["loss"]
    data = np.ones((4, 2), "float32")
    loss = model.train_on_batch(data, None)
    assert loss == pytest.approx(4.0)
    np.testing.assert_allclose(dense.get_weights()[0], np.full((2, 1), 1 - 0.01 * 4.0), rtol=1e-6)


def test_compile_with_nothing_to_optimize_is_an_error():
    x = Input(shape=(2,))
    model = Model(x, Dense(1)(x))
    with pytest.raises(RuntimeError, match="no loss to optimize"):
        model.compile("sgd", loss=None)


def test_model_accepts_dicts_of_tensors():
    a, b = Input(shape=(2,), name="a"), Input(shape=(3,), name="b")
    out = Dense(1, name="out")(Dense(2)(a))
    model = Model({"a": a}, {"out": out})
    assert model.input_names == ["a"] and model.output_names == ["out"]
    assert model.predict({"a": np.ones((3, 2), "float32")}).shape == (3, 1)
    del b


def test_plot_model_draws_or_says_what_is_missing(tmp_path):
    model = Sequential([Dense(2, input_dim=3), Dense(1)])
    target = tmp_path / "model.png"
    if importlib.util.find_spec("pydot") is None:
        with pytest.raises(ImportError, match="pip install pydot"):
            plot_model(model, to_file=str(target))
    else:
        try:
            plot_model(model, to_file=str(target), show_shapes=True)
        except ImportError as err:
            assert "graphviz" in str(err)
        else:
            assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_second_compile_of_a_multi_output_model_replaces_its_losses():
    # The functional-API guide compiles its two-output model twice (lists, then dicts).
    K.clear_session()
    a = Input((4,))
    model = Model(a, [Dense(1, name="main")(a), Dense(1, name="aux")(a)])
    rng = np.random.default_rng(0)
    x, y1, y2 = rng.random((8, 4)), rng.random((8, 1)), rng.random((8, 1))
    model.compile("sgd", ["mse", "mae"], loss_weights=[1.0, 0.2])
    model.fit(x, [y1, y2], verbose=0)
    model.compile("sgd", {"main": "mae", "aux": "mse"}, loss_weights={"main": 1.0, "aux": 0.5})
    assert model.metrics_names == ["loss", "main_loss", "aux_loss"]
    loss, main, aux = model.evaluate(x, [y1, y2], verbose=0)
    p1, p2 = model.predict(x)
    assert main == pytest.approx(np.abs(p1 - y1).mean(), rel=1e-5)
    assert aux == pytest.approx(((p2 - y2) ** 2).mean(), rel=1e-5)
    assert loss == pytest.approx(main + 0.5 * aux, rel=1e-5)
    history = model.fit(x, [y1, y2], epochs=2, verbose=0).history
    assert sorted(history) == ["aux_loss", "loss", "main_loss"]


def test_fixed_batch_input_trains_on_whole_arrays_and_checks_each_batch():
    # Keras 2.0.5 fit/evaluate/predict do not check the batch axis of whole arrays against
    # Input(batch_shape=...) (the VAE examples rely on it); every batch must match instead.
    x = Input(batch_shape=(10, 6))
    m = Model(x, Dense(2)(x))
    m.compile("sgd", "mse")
    X = np.random.RandomState(0).rand(40, 6).astype("float32")
    Y = np.random.RandomState(1).rand(40, 2).astype("float32")
    hist = m.fit(X, Y, batch_size=10, epochs=1, verbose=0, validation_data=(X[:20], Y[:20]))
    assert np.isfinite(hist.history["val_loss"][0])
    assert np.isfinite(m.evaluate(X, Y, batch_size=10, verbose=0))
    assert m.predict(X, batch_size=10).shape == (40, 2)
    with pytest.raises(ValueError, match=r"input input_\d+ has a fixed batch size of 10, but got 35 samples"):
        m.fit(X[:35], Y[:35], batch_size=10, verbose=0)
    with pytest.raises(ValueError, match="batch_size=10"):
        m.predict(X, batch_size=32)
    with pytest.raises(ValueError, match="validation data"):
        m.fit(X, Y, batch_size=10, verbose=0, validation_data=(X[:15], Y[:15]))
    with pytest.raises(ValueError, match=r"expected input_\d+ .* to have shape \(10, 6\)"):
        m.train_on_batch(X, Y)  # a single batch is still checked whole


def test_predict_of_model_whose_input_is_also_an_output():
    i = Input((6,))
    m = Model(i, [Dense(2)(i), i])
    X = np.random.RandomState(0).rand(5, 6).astype("float32")
    out = m.predict(X)
    assert [a.shape for a in out] == [(5, 2), (5, 6)]
    np.testing.assert_array_equal(out[1], X)


def test_summary_lists_only_this_models_calls_of_shared_layers():
    d1, d2 = Dense(4, name="shared_a"), Dense(2, name="shared_b")
    a = Input((3,), name="first_in")
    Model(a, d2(d1(a)))
    b = Input((3,), name="second_in")
    reused = Model(b, d2(d1(b)))  # a chain in this graph: Keras's 3-column layout
    lines = []
    reused.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert "Connected to" not in text and "first_in" not in text
    assert [n.outbound_layer.name for d in sorted(reused.nodes_by_depth) for n in reused.nodes_by_depth[d]] == [
        "shared_b", "shared_a", "second_in"]  # fmt: skip
    from kgraph.layers import concatenate

    c, e = Input((3,), name="c_in"), Input((3,), name="e_in")
    two = Model([c, e], concatenate([d1(c), d1(e)]))
    lines = []
    two.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert "Connected to" in text and "first_in" not in text and "second_in" not in text
    assert "shared_a[2][0]" in text and "shared_a[3][0]" in text and "shared_a[0][0]" not in text


def test_compile_takes_the_session_options_k_function_takes_and_names_the_rest():
    model = Sequential([Dense(2, input_dim=3)])
    model.compile("sgd", "mse", options=None, run_metadata=None)
    x = np.ones((4, 3), "float32")
    assert np.isfinite(model.train_on_batch(x, np.zeros((4, 2), "float32")))
    with pytest.raises(TypeError, match=r"to compile: \['feed'\].*K.function, which takes \['options', 'run_metadata'\]"):
        model.compile("sgd", "mse", feed={})
