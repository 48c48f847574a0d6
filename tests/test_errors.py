"""Bad input fails early and clearly: the error comes before any program is lowered or run,
is of Keras's type, and names what is wrong."""

from __future__ import annotations

import numpy as np
import pytest

import kgraph.backend as K
import kgraph.engine.training as training
from kgraph import optimizers
from kgraph.engine.functions import CompiledFunction
from kgraph.layers import Dense, Dropout, Flatten, Input
from kgraph.models import Sequential

X = np.zeros((10, 8), np.float32)
Y = np.eye(3, dtype=np.float32)[np.arange(10) % 3]


@pytest.fixture
def model() -> Sequential:
    m = Sequential([Dense(4, input_dim=8), Dropout(0.5), Dense(3, activation="softmax")])
    m.compile("sgd", "categorical_crossentropy", metrics=["acc"])
    return m


@pytest.fixture
def trained(model) -> Sequential:
    """The model after one step: its programs exist and are cached."""
    model.train_on_batch(X, Y)
    model.predict(X)
    model.evaluate(X, Y, verbose=0)
    return model


@pytest.fixture
def no_work(monkeypatch):
    """Fails the test if anything is lowered or run from here on."""

    def forbidden(*args, **kwargs):
        raise AssertionError("work started before the input was checked")

    monkeypatch.setattr(training, "lower", forbidden)
    for method in ("__call__", "call_into"):
        if hasattr(CompiledFunction, method):
            monkeypatch.setattr(CompiledFunction, method, forbidden)


def _unchanged(model, before):
    for a, b in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


# -- shapes ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call", ["fit", "evaluate", "train_on_batch", "test_on_batch", "predict", "predict_on_batch"]
)
def test_wrongly_shaped_x_names_the_layer_and_both_shapes(trained, no_work, call):
    before = trained.get_weights()
    bad = np.zeros((10, 7), np.float32)
    args = (bad,) if call.startswith("predict") else (bad, Y)
    kwargs = {"verbose": 0} if call in ("fit", "evaluate") else {}
    with pytest.raises(ValueError, match=r"dense_1_input.*layer dense_1.*\(None, 8\).*\(10, 7\)"):
        getattr(trained, call)(*args, **kwargs)
    _unchanged(trained, before)


def test_x_with_the_wrong_number_of_dimensions(model, no_work):
    with pytest.raises(ValueError, match=r"dense_1_input.*2 dimensions.*\(10, 8, 1\)"):
        model.fit(X[:, :, None], Y, verbose=0)


def test_wrongly_shaped_validation_data_fails_before_training(model, no_work):
    with pytest.raises(ValueError, match=r"dense_1.*\(None, 8\).*\(4, 6\)"):
        model.fit(X, Y, verbose=0, validation_data=(np.zeros((4, 6)), Y[:4]))


def test_x_and_y_with_different_sample_counts(model, no_work):
    with pytest.raises(ValueError, match="10 input samples and 9 target samples"):
        model.fit(X, Y[:9], verbose=0)
    with pytest.raises(ValueError, match="10 input samples and 9 target samples"):
        model.evaluate(X, Y[:9], verbose=0)
    with pytest.raises(ValueError, match="10 input samples and 9 target samples"):
        model.train_on_batch(X, Y[:9])


def test_target_shape_that_does_not_fit_the_output(model, no_work):
    with pytest.raises(
        ValueError, match=r"shape \(10, 4\).*output of shape \(None, 3\).*categorical_crossentropy"
    ):
        model.fit(X, np.zeros((10, 4)), verbose=0)
    with pytest.raises(ValueError, match=r"dense_2.*2 dimensions.*\(10, 3, 2\)"):
        model.fit(X, np.zeros((10, 3, 2)), verbose=0)


def test_categorical_crossentropy_with_integer_targets_hints_to_categorical(model, no_work):
    labels = (np.arange(10) % 3).reshape(10, 1)
    with pytest.raises(ValueError, match=r"\(10, 1\).*categorical_crossentropy.*to_categorical"):
        model.fit(X, labels, verbose=0)
    with pytest.raises(ValueError, match="sparse_categorical_crossentropy"):
        model.train_on_batch(X, labels)


# -- data types and structure ---------------------------------------------------------


@pytest.mark.parametrize(
    "bad,dtype",
    [
        (np.array([["a"] * 8] * 10), "<U1"),
        (np.array([[object()] * 8] * 10), "object"),
        ([["1.0"] * 8] * 10, "<U3"),
    ],
)
def test_non_numeric_inputs_raise_type_error(model, no_work, bad, dtype):
    with pytest.raises(TypeError, match=f"dense_1_input.*numeric.*dtype {dtype}"):
        model.fit(bad, Y, verbose=0)
    with pytest.raises(TypeError, match=f"dense_1_input.*numeric.*dtype {dtype}"):
        model.predict(bad)


def test_non_numeric_targets_raise_type_error(model, no_work):
    with pytest.raises(TypeError, match="target.*dense_2.*numeric.*dtype <U1"):
        model.fit(X, np.array([["a", "b", "c"]] * 10), verbose=0)


def test_missing_or_extra_arrays(model, no_work):
    with pytest.raises(ValueError, match=r"Expected to see 1 array\(s\) but instead got 2"):
        model.fit([X, X], Y, verbose=0)
    with pytest.raises(ValueError, match=r'No data provided for "dense_1_input"'):
        model.fit({"x": X}, Y, verbose=0)
    with pytest.raises(ValueError, match=r"no data was provided.*dense_1_input"):
        model.fit(None, Y, verbose=0)


# -- compile arguments ----------------------------------------------------------------


def test_unknown_optimizer_loss_and_metric_names_list_the_valid_choices():
    m = Sequential([Dense(3, input_dim=8)])
    with pytest.raises(ValueError, match=r"Unknown optimizer: adamw\b.*adam, adamax.*rmsprop, sgd"):
        m.compile("adamw", "mse")
    with pytest.raises(
        ValueError, match=r"Unknown loss function: mean_square_error\b.*mean_squared_error"
    ):
        m.compile("sgd", "mean_square_error")
    with pytest.raises(
        ValueError,
        match=r"Unknown metric function: 'accurracy'.*\bacc, accuracy\b.*categorical_accuracy",
    ):
        m.compile("sgd", "mse", metrics=["accurracy"])
    with pytest.raises(TypeError, match="clipnorm, clipvalue"):
        optimizers.SGD(learning_rate=0.1)
    with pytest.raises(TypeError, match=r"compile.*\['foo'\]"):
        m.compile("sgd", "mse", foo=1)


def test_a_failed_compile_leaves_the_model_uncompiled():
    m = Sequential([Dense(3, input_dim=8, activation="softmax")])
    m.compile("sgd", "categorical_crossentropy", metrics=["acc"])
    m.fit(X, Y, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="Unknown metric function: 'foo'"):
        m.compile("sgd", "categorical_crossentropy", metrics=["mse", "foo"])
    with pytest.raises(RuntimeError, match="compile"):
        m.fit(X, Y, epochs=1, verbose=0)
    m.compile("sgd", "categorical_crossentropy", metrics=["mse"])
    history = m.fit(X, Y, epochs=1, verbose=0)
    assert set(history.history) == {"loss", "mean_squared_error"}
    assert history.history["mean_squared_error"][0] < 1.0


def test_loss_structure_that_does_not_fit_the_outputs():
    m = Sequential([Dense(3, input_dim=8)])
    with pytest.raises(
        ValueError, match=r"Unknown entry in loss dictionary: 'dense_9'.*\['dense_1'\]"
    ):
        m.compile("sgd", {"dense_9": "mse"})
    with pytest.raises(ValueError, match="one entry per model output.*1 outputs"):
        m.compile("sgd", ["mse", "mae"])
    with pytest.raises(TypeError, match="metrics.*'acc'"):
        m.compile("sgd", "mse", metrics="acc")


@pytest.mark.parametrize("call", ["fit", "evaluate", "train_on_batch", "test_on_batch"])
def test_training_or_testing_before_compile_raises_runtime_error(no_work, call):
    m = Sequential([Dense(3, input_dim=8)])
    with pytest.raises(RuntimeError, match="compile"):
        getattr(m, call)(X, Y)


def test_fit_and_layer_keyword_arguments(model, no_work):
    with pytest.raises(TypeError, match=r"Unrecognized keyword arguments: \['epoch'\]"):
        model.fit(X, Y, epoch=3)
    with pytest.raises(
        TypeError, match=r"'unitz'.*valid layer arguments: .*input_shape.*trainable"
    ):
        Dense(3, unitz=4)
    with pytest.raises(TypeError, match=r"'rates'.*input_shape"):
        Dropout(0.5, rates=0.1)


# -- layers ---------------------------------------------------------------------------


def test_dense_called_on_an_input_with_the_wrong_last_dimension():
    dense = Dense(3)
    dense(Input(shape=(4,)))
    with pytest.raises(ValueError, match=r"dense_1.*axis -1.*value 4.*\(None, 5\)"):
        dense(Input(shape=(5,)))
    shared = Dense(2, name="shared")
    Sequential([Dense(6, input_dim=3), shared])
    with pytest.raises(ValueError, match=r"shared.*value 6.*\(None, 5\)"):
        Sequential([Dense(5, input_dim=3), shared])


def test_dense_on_a_vector_input_needs_two_dimensions():
    with pytest.raises(ValueError, match=r"dense_1.*min_ndim=2.*\(5,\)"):
        Dense(3)(Input(batch_shape=(5,)))


def test_flatten_needs_known_dimensions():
    with pytest.raises(ValueError, match=r"flatten_1.*not fully defined.*\(None, 3\)"):
        Flatten()(Input(shape=(None, 3)))
    with pytest.raises(ValueError, match=r"flatten_2.*min_ndim=3"):
        Flatten()(Input(shape=(3,)))


def test_sequential_first_layer_needs_an_input_shape():
    with pytest.raises(ValueError, match=r"input_shape.*dense_1"):
        Sequential([Dense(3)])
    with pytest.raises(TypeError, match="instance of class Layer"):
        Sequential().add("dense")
    with pytest.raises(ValueError, match="positive integer"):
        Dense(0)


def test_count_params_of_an_unbuilt_layer():
    with pytest.raises(RuntimeError, match=r"count_params.*dense_1.*isn't built"):
        Dense(3).count_params()


def test_layer_called_on_a_non_tensor():
    with pytest.raises(TypeError, match=r"dense_1.*ndarray"):
        Dense(3)(np.zeros((2, 4)))


def test_set_weights_with_the_wrong_count_or_shape(model):
    with pytest.raises(ValueError, match=r"sequential_1.*1 arrays.*4 weights"):
        model.set_weights([np.zeros((8, 4))])
    with pytest.raises(ValueError, match=r"dense_1/kernel:0.*\(8, 4\).*\(8, 5\)"):
        model.set_weights([np.zeros((8, 5)), np.zeros(4), np.zeros((4, 3)), np.zeros(3)])
    with pytest.raises(ValueError, match=r"weight shape \(8, 4\).*\(8, 5\).*layer dense_1"):
        model.layers[0].set_weights([np.zeros((8, 5)), np.zeros(4)])
    with pytest.raises(ValueError, match=r'"dense_2".*length 1.*expecting 2'):
        model.layers[2].set_weights([np.zeros((4, 3))])
    with pytest.raises(ValueError, match=r"Cannot assign.*\(3,\).*dense_1/bias:0.*\(4,\)"):
        K.set_value(model.layers[0].bias, np.zeros(3))


# -- sample and class weights ---------------------------------------------------------


def test_sample_weight_of_the_wrong_length_or_rank(model, no_work):
    with pytest.raises(ValueError, match=r"sample_weight array with shape \(9,\).*\(10, 3\)"):
        model.fit(X, Y, sample_weight=np.ones(9), verbose=0)
    with pytest.raises(ValueError, match=r"sample_weight array with shape \(9,\)"):
        model.train_on_batch(X, Y, sample_weight=np.ones(9))
    with pytest.raises(
        ValueError, match=r"sample_weight array with shape \(10, 2\).*dense_2.*1 dimension"
    ):
        model.test_on_batch(X, Y, sample_weight=np.ones((10, 2)))


def test_class_weight_missing_a_class_raises_key_error(model, no_work):
    with pytest.raises(KeyError, match=r"class 2.*classes present: \[0, 1, 2\].*keys: \[0, 1\]"):
        model.fit(X, Y, class_weight={0: 1.0, 1: 2.0}, verbose=0)
    binary = Sequential([Dense(1, input_dim=8, activation="sigmoid")])
    binary.compile("sgd", "binary_crossentropy")
    with pytest.raises(KeyError, match="class 1"):
        binary.train_on_batch(X, (np.arange(10) % 2)[:, None], class_weight={0: 1.0})


def test_validation_data_of_the_wrong_length(model, no_work):
    with pytest.raises(ValueError, match="2 .x_val, y_val. or 3 .*contains 1 items"):
        model.fit(X, Y, verbose=0, validation_data=(X,))
