"""`kgraph.backend` (K): settings, the learning phase, naming, variables, tensor math
evaluated numerically, custom losses and metrics, and the in-graph dropout masks."""

from __future__ import annotations

import numpy as np
import pytest

import kgraph.backend as K
import kgraph.engine.training as training
from kgraph import optimizers
from kgraph.ir import get_default_graph
from kgraph.layers import Dense, Dropout, Input
from kgraph.models import Sequential

RNG = np.random.RandomState(1234)
A = RNG.uniform(-2.0, 2.0, size=(3, 4)).astype(np.float32)
B = RNG.uniform(-2.0, 2.0, size=(4, 5)).astype(np.float32)
POS = RNG.uniform(0.1, 3.0, size=(3, 4)).astype(np.float32)
A3 = RNG.uniform(-1.0, 1.0, size=(2, 3, 4)).astype(np.float32)
B3 = RNG.uniform(-1.0, 1.0, size=(2, 4, 5)).astype(np.float32)


def ev(t):
    return np.asarray(K.eval(t))


# -- settings --------------------------------------------------------------------------


def test_floatx_and_epsilon_defaults():
    assert K.floatx() == "float32"
    assert K.epsilon() == 1e-7
    assert K.backend() == "onnx"
    assert K.cast_to_floatx([1, 2]).dtype == np.float32


def test_set_epsilon_changes_what_losses_clip_to():
    y_true = K.constant([[1.0, 0.0]])
    y_pred = K.constant([[0.0, 1.0]])
    # The true class has probability 0: the loss is -log(epsilon) after clipping.
    assert ev(K.categorical_crossentropy(y_pred, y_true))[0] == pytest.approx(
        -np.log(1e-7), rel=1e-4
    )
    K.set_epsilon(1e-3)
    try:
        assert K.epsilon() == 1e-3
        loss = ev(K.categorical_crossentropy(y_pred, y_true))[0]
        assert loss == pytest.approx(-np.log(1e-3), rel=1e-5)
    finally:
        K.set_epsilon(1e-7)
    assert K.epsilon() == 1e-7


def test_set_floatx():
    K.set_floatx("float64")
    try:
        assert K.floatx() == "float64"
        assert K.dtype(K.variable([1.0, 2.0])) == "float64"
        assert K.cast_to_floatx(1).dtype == np.float64
    finally:
        K.set_floatx("float32")
    assert K.dtype(K.variable([1.0])) == "float32"
    with pytest.raises(ValueError, match="float16, float32, float64"):
        K.set_floatx("int8")


# -- names -----------------------------------------------------------------------------


def test_clear_session_resets_automatic_names():
    assert Dense(2).name == "dense_1"
    assert Dense(2).name == "dense_2"
    assert Dropout(0.5).name == "dropout_1"
    assert K.get_uid("dense") == 3
    K.clear_session()
    assert Dense(2).name == "dense_1"
    assert Dropout(0.5).name == "dropout_1"
    assert Sequential().name == "sequential_1"


def test_reset_uids():
    assert K.get_uid("foo") == 1
    assert K.get_uid("foo") == 2
    assert K.get_uid("bar") == 1
    K.reset_uids()
    assert K.get_uid("foo") == 1


# -- variables -------------------------------------------------------------------------


def test_get_and_set_value():
    v = K.variable([[1.0, 2.0], [3.0, 4.0]], name="v")
    assert v.name == "v:0"
    value = K.get_value(v)
    assert value.dtype == np.float32
    np.testing.assert_array_equal(value, [[1, 2], [3, 4]])
    K.set_value(v, np.full((2, 2), 7.0))
    np.testing.assert_array_equal(K.get_value(v), np.full((2, 2), 7.0))
    np.testing.assert_array_equal(K.eval(v * 2.0), np.full((2, 2), 14.0))
    K.batch_set_value([(v, np.eye(2))])
    assert [a.tolist() for a in K.batch_get_value([v])] == [[[1.0, 0.0], [0.0, 1.0]]]
    with pytest.raises(ValueError, match=r"shape \(3,\).*v:0.*\(2, 2\)"):
        K.set_value(v, np.zeros(3))
    with pytest.raises(TypeError, match="variable"):
        K.get_value(np.zeros(2))


def test_zeros_ones_eye_and_count_params():
    np.testing.assert_array_equal(K.get_value(K.zeros((2, 3))), np.zeros((2, 3)))
    np.testing.assert_array_equal(K.get_value(K.ones((2,))), np.ones(2))
    np.testing.assert_array_equal(K.get_value(K.eye(3)), np.eye(3))
    assert K.count_params(K.zeros((4, 5))) == 20
    assert K.get_variable_shape(K.zeros((4, 5))) == (4, 5)


def _tiny_model(lr: float = 0.1) -> Sequential:
    model = Sequential([Dense(3, input_dim=4), Dense(2)])
    model.compile(optimizers.SGD(lr=lr), "mse")
    return model


def test_set_value_of_learning_rate_takes_effect_without_recompiling(monkeypatch):
    model = _tiny_model(lr=0.1)
    x = RNG.rand(8, 4).astype(np.float32)
    y = RNG.rand(8, 2).astype(np.float32)
    w0 = model.get_weights()
    model.train_on_batch(x, y)
    w1 = model.get_weights()
    assert not np.allclose(w0[0], w1[0])
    assert K.get_value(model.optimizer.lr) == pytest.approx(0.1)

    def no_lowering(*args, **kwargs):
        raise AssertionError("the train program was lowered again")

    monkeypatch.setattr(training, "lower", no_lowering)

    K.set_value(model.optimizer.lr, 0.0)
    assert K.get_value(model.optimizer.lr) == 0.0
    loss = model.train_on_batch(x, y)
    assert loss > 0
    for a, b in zip(w1, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)

    K.set_value(model.optimizer.lr, 0.5)
    model.train_on_batch(x, y)
    assert not np.allclose(w1[0], model.get_weights()[0])


def test_scalar_state_keeps_its_shape_after_training():
    model = Sequential([Dense(2, input_dim=3)])
    model.compile("adam", "mse")
    model.train_on_batch(np.ones((2, 3), np.float32), np.ones((2, 2), np.float32))
    assert K.get_value(model.optimizer.iterations).shape == ()
    assert K.get_value(model.optimizer.lr).shape == ()
    assert K.get_value(K.rng_step()).shape == ()
    assert model.optimizer.get_weights()[0].shape == ()


@pytest.mark.parametrize(
    "name", ["sgd", "rmsprop", "adagrad", "adadelta", "adam", "adamax", "nadam"]
)
def test_zero_learning_rate_freezes_every_optimizer(name):
    model = Sequential([Dense(2, input_dim=3)])
    model.compile(name, "mse")
    x, y = RNG.rand(4, 3).astype(np.float32), RNG.rand(4, 2).astype(np.float32)
    model.train_on_batch(x, y)
    before = model.get_weights()
    K.set_value(model.optimizer.lr, 0.0)
    model.train_on_batch(x, y)
    model.train_on_batch(x, y)
    for a, b in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


# -- shapes and dtypes -----------------------------------------------------------------


def test_int_shape_ndim_dtype():
    x = Input(shape=(3, 5))
    assert K.int_shape(x) == (None, 3, 5)
    assert K.ndim(x) == 3
    assert K.dtype(x) == "float32"
    p = K.placeholder(shape=(2, None), dtype="int32")
    assert K.int_shape(p) == (2, None)
    assert K.dtype(p) == "int32"
    assert K.int_shape(K.placeholder(ndim=2)) == (None, None)
    v = K.variable(np.zeros((4, 2)))
    assert (K.int_shape(v), K.ndim(v), K.dtype(v)) == ((4, 2), 2, "float32")
    assert K.dtype(K.variable([1, 2], dtype="int64")) == "int64"
    y = Dense(7)(x)
    assert K.int_shape(y) == (None, 3, 7)
    assert K.is_keras_tensor(y)
    assert not K.is_keras_tensor(K.placeholder(shape=(2,)))
    s = K.sum(y, axis=1)
    assert K.int_shape(s) == (None, 7)
    assert K.dtype(K.argmax(y)) == "int64"
    assert K.dtype(K.equal(y, 0.0)) == "bool"


# -- tensor math, evaluated ------------------------------------------------------------


def _np_softmax(a, axis=-1):
    e = np.exp(a - a.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


MATH = {
    "mean": (lambda: K.mean(K.variable(A)), lambda: A.mean()),
    "mean_axis1": (lambda: K.mean(K.variable(A), axis=1), lambda: A.mean(1)),
    "mean_keepdims": (
        lambda: K.mean(K.variable(A), axis=-1, keepdims=True),
        lambda: A.mean(-1, keepdims=True),
    ),
    "mean_bool": (lambda: K.mean(K.greater(K.variable(A), 0.0)), lambda: (A > 0).mean()),
    "sum": (lambda: K.sum(K.variable(A)), lambda: A.sum()),
    "sum_axes": (lambda: K.sum(K.variable(A3), axis=[0, 2]), lambda: A3.sum((0, 2))),
    "max": (lambda: K.max(K.variable(A), axis=0), lambda: A.max(0)),
    "min": (lambda: K.min(K.variable(A), axis=-1), lambda: A.min(-1)),
    "prod": (lambda: K.prod(K.variable(POS), axis=1), lambda: POS.prod(1)),
    "var": (lambda: K.var(K.variable(A), axis=0), lambda: A.var(0)),
    "std": (lambda: K.std(K.variable(A)), lambda: A.std()),
    "any": (lambda: K.any(K.greater(K.variable(A), 1.5), axis=1), lambda: (A > 1.5).any(1)),
    "all": (lambda: K.all(K.greater(K.variable(A), -1.5), axis=1), lambda: (A > -1.5).all(1)),
    "square": (lambda: K.square(K.variable(A)), lambda: A**2),
    "abs": (lambda: K.abs(K.variable(A)), lambda: np.abs(A)),
    "sqrt_clips_negatives": (lambda: K.sqrt(K.variable(A)), lambda: np.sqrt(np.maximum(A, 0))),
    "clip": (lambda: K.clip(K.variable(A), -0.5, 0.7), lambda: np.clip(A, -0.5, 0.7)),
    "clip_max_none": (lambda: K.clip(K.variable(A), 0.0, None), lambda: np.maximum(A, 0.0)),
    "exp": (lambda: K.exp(K.variable(A)), lambda: np.exp(A)),
    "log": (lambda: K.log(K.variable(POS)), lambda: np.log(POS)),
    "pow": (lambda: K.pow(K.variable(POS), 3), lambda: POS**3),
    "sign": (lambda: K.sign(K.variable(A)), lambda: np.sign(A)),
    "round_half_even": (
        lambda: K.round(K.constant([0.5, 1.5, 2.5, -0.5, 0.4])),
        lambda: np.array([0.0, 2, 2, -0, 0]),
    ),
    "maximum": (
        lambda: K.maximum(K.variable(A), K.variable(POS - 1)),
        lambda: np.maximum(A, POS - 1),
    ),
    "minimum": (lambda: K.minimum(K.variable(A), 0.25), lambda: np.minimum(A, 0.25)),
    "sin_cos": (lambda: K.sin(K.variable(A)) + K.cos(K.variable(A)), lambda: np.sin(A) + np.cos(A)),
    "argmax": (lambda: K.argmax(K.variable(A)), lambda: A.argmax(-1)),
    "argmax_axis0": (lambda: K.argmax(K.variable(A), axis=0), lambda: A.argmax(0)),
    "argmin": (lambda: K.argmin(K.variable(A)), lambda: A.argmin(-1)),
    "equal": (
        lambda: K.equal(K.argmax(K.variable(A)), K.argmax(K.variable(POS))),
        lambda: A.argmax(-1) == POS.argmax(-1),
    ),
    "not_equal": (
        lambda: K.not_equal(K.variable(A), K.variable(A[:, ::-1].copy())),
        lambda: A != A[:, ::-1],
    ),
    "greater_equal": (lambda: K.greater_equal(K.variable(A), 0.0), lambda: A >= 0),
    "less_equal": (lambda: K.less_equal(K.variable(A), 0.0), lambda: A <= 0),
    "less": (lambda: K.less(K.variable(A), 0.5), lambda: A < 0.5),
    "cast": (
        lambda: K.cast(K.greater(K.variable(A), 0.0), "float32"),
        lambda: (A > 0).astype(np.float32),
    ),
    "cast_int": (lambda: K.cast(K.variable(A * 3), "int32"), lambda: (A * 3).astype(np.int32)),
    "dot": (lambda: K.dot(K.variable(A), K.variable(B)), lambda: A @ B),
    "dot_3d_2d": (
        lambda: K.dot(K.variable(A3), K.variable(B[:, :2].copy())),
        lambda: A3 @ B[:, :2],
    ),
    "dot_2d_3d": (
        lambda: K.dot(K.variable(A), K.variable(B3)),
        lambda: np.einsum("ik,akb->iab", A, B3),
    ),
    "batch_dot_2d": (
        lambda: K.batch_dot(K.variable(A), K.variable(POS)),
        lambda: (A * POS).sum(1, keepdims=True),
    ),
    "batch_dot_3d": (
        lambda: K.batch_dot(K.variable(A3), K.variable(B3)),
        lambda: np.matmul(A3, B3),
    ),
    "batch_dot_axes": (
        lambda: K.batch_dot(
            K.variable(A3), K.variable(np.transpose(A3, (0, 2, 1)).copy()), axes=(1, 2)
        ),
        lambda: np.einsum("bki,bjk->bij", A3, np.transpose(A3, (0, 2, 1))),
    ),
    "transpose": (lambda: K.transpose(K.variable(A)), lambda: A.T),
    "permute_dimensions": (
        lambda: K.permute_dimensions(K.variable(A3), (2, 0, 1)),
        lambda: A3.transpose(2, 0, 1),
    ),
    "concatenate": (
        lambda: K.concatenate([K.variable(A), K.variable(POS)]),
        lambda: np.concatenate([A, POS], -1),
    ),
    "concatenate_axis0": (
        lambda: K.concatenate([K.variable(A), K.variable(POS)], axis=0),
        lambda: np.concatenate([A, POS], 0),
    ),
    "reshape": (lambda: K.reshape(K.variable(A), (2, 6)), lambda: A.reshape(2, 6)),
    "reshape_infer": (lambda: K.reshape(K.variable(A3), (-1, 4)), lambda: A3.reshape(-1, 4)),
    "expand_dims": (lambda: K.expand_dims(K.variable(A)), lambda: A[:, :, None]),
    "expand_dims_axis1": (lambda: K.expand_dims(K.variable(A), 1), lambda: A[:, None, :]),
    "squeeze": (lambda: K.squeeze(K.variable(A[:, :1].copy()), 1), lambda: A[:, 0]),
    "flatten": (lambda: K.flatten(K.variable(A3)), lambda: A3.ravel()),
    "batch_flatten": (lambda: K.batch_flatten(K.variable(A3)), lambda: A3.reshape(2, -1)),
    "stack": (
        lambda: K.stack([K.variable(A), K.variable(POS)], axis=1),
        lambda: np.stack([A, POS], 1),
    ),
    "tile": (lambda: K.tile(K.variable(A), (2, 3)), lambda: np.tile(A, (2, 3))),
    "repeat": (lambda: K.repeat(K.variable(A), 2), lambda: np.repeat(A[:, None, :], 2, axis=1)),
    "one_hot": (
        lambda: K.one_hot(K.constant([2, 0, 1], dtype="int64"), 4),
        lambda: np.eye(4)[[2, 0, 1]],
    ),
    "gather": (
        lambda: K.gather(K.variable(A), K.constant([2, 0], dtype="int64")),
        lambda: A[[2, 0]],
    ),
    "switch": (
        lambda: K.switch(K.greater(K.variable(A), 0.0), K.variable(A), K.variable(POS)),
        lambda: np.where(A > 0, A, POS),
    ),
    "zeros_like": (lambda: K.zeros_like(K.variable(A)), lambda: np.zeros_like(A)),
    "ones_like": (lambda: K.ones_like(K.variable(A)), lambda: np.ones_like(A)),
    "logsumexp": (lambda: K.logsumexp(K.variable(A), axis=1), lambda: np.log(np.exp(A).sum(1))),
    "l2_normalize": (
        lambda: K.l2_normalize(K.variable(A), axis=-1),
        lambda: A / np.sqrt((A**2).sum(-1, keepdims=True)),
    ),
    "softmax": (lambda: K.softmax(K.variable(A)), lambda: _np_softmax(A)),
    "relu": (lambda: K.relu(K.variable(A)), lambda: np.maximum(A, 0)),
    "relu_alpha_max": (
        lambda: K.relu(K.variable(A), alpha=0.1, max_value=1.0),
        lambda: np.minimum(np.where(A > 0, A, 0.1 * A), 1.0),
    ),
    "elu": (lambda: K.elu(K.variable(A), 0.5), lambda: np.where(A > 0, A, 0.5 * (np.exp(A) - 1))),
    "sigmoid": (lambda: K.sigmoid(K.variable(A)), lambda: 1 / (1 + np.exp(-A))),
    "hard_sigmoid": (
        lambda: K.hard_sigmoid(K.variable(A * 3)),
        lambda: np.clip(0.2 * A * 3 + 0.5, 0, 1),
    ),
    "softplus": (lambda: K.softplus(K.variable(A)), lambda: np.log1p(np.exp(A))),
    "softsign": (lambda: K.softsign(K.variable(A)), lambda: A / (1 + np.abs(A))),
    "tanh": (lambda: K.tanh(K.variable(A)), lambda: np.tanh(A)),
    "operators": (lambda: (K.variable(A) * 2.0 - 1.0) / K.variable(POS), lambda: (A * 2 - 1) / POS),
}


@pytest.mark.parametrize("name", sorted(MATH))
def test_math_matches_numpy(name):
    build, expected = MATH[name]
    got = ev(build())
    want = np.asarray(expected())
    assert got.shape == want.shape, (got.shape, want.shape)
    if want.dtype.kind in "biu":
        assert got.dtype.kind == want.dtype.kind, (got.dtype, want.dtype)
        np.testing.assert_array_equal(got, want)
    else:
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_crossentropies_match_numpy():
    probs = _np_softmax(A)
    onehot = np.eye(4, dtype=np.float32)[[1, 3, 0]]
    cce = ev(K.categorical_crossentropy(K.constant(probs), K.constant(onehot)))
    np.testing.assert_allclose(cce, -np.log(probs[[0, 1, 2], [1, 3, 0]]), rtol=1e-5)
    logits = ev(K.categorical_crossentropy(K.constant(A), K.constant(onehot), from_logits=True))
    np.testing.assert_allclose(logits, cce, rtol=1e-5)
    sparse = ev(K.sparse_categorical_crossentropy(K.constant(probs), K.constant([[1], [3], [0]])))
    np.testing.assert_allclose(sparse, cce, rtol=1e-5)
    p = 1 / (1 + np.exp(-A))
    t = (POS > 1.5).astype(np.float32)
    bce = ev(K.binary_crossentropy(K.constant(p), K.constant(t)))
    np.testing.assert_allclose(
        bce, -(t * np.log(p) + (1 - t) * np.log(1 - p)), rtol=1e-4, atol=1e-6
    )


# -- custom losses and metrics written with K -------------------------------------------


def mean_pred(y_true, y_pred):
    return K.mean(y_pred)


def mse_plus_mae(y_true, y_pred):
    return K.mean(K.square(y_pred - y_true), axis=-1) + K.mean(K.abs(y_pred - y_true), axis=-1)


def test_custom_loss_and_metric_train_and_match_numpy():
    model = Sequential([Dense(2, input_dim=3)])
    kernel = np.array([[0.5, -1.0], [0.25, 0.0], [-0.5, 2.0]], np.float32)
    bias = np.array([0.1, -0.2], np.float32)
    model.set_weights([kernel, bias])
    model.compile(optimizers.SGD(lr=0.05), loss=mse_plus_mae, metrics=[mean_pred])
    assert model.metrics_names == ["loss", "mean_pred"]
    x = RNG.rand(6, 3).astype(np.float32)
    y = RNG.rand(6, 2).astype(np.float32)
    pred = x @ kernel + bias
    np.testing.assert_allclose(model.predict(x), pred, rtol=1e-6)
    want_loss = np.mean(((pred - y) ** 2).mean(-1) + np.abs(pred - y).mean(-1))
    loss, metric = model.test_on_batch(x, y)
    assert loss == pytest.approx(want_loss, rel=1e-5)
    assert metric == pytest.approx(pred.mean(), rel=1e-5)
    # train_on_batch reports the values from before the update.
    assert model.train_on_batch(x, y) == pytest.approx([want_loss, pred.mean()], rel=1e-5)
    history = model.fit(x, y, epochs=20, batch_size=6, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < losses[0] < want_loss
    assert set(history.history) == {"loss", "mean_pred"}
    assert history.history["mean_pred"][-1] == pytest.approx(model.predict(x).mean(), abs=0.05)


# -- the learning phase ----------------------------------------------------------------


def phase(y_true, y_pred):
    return K.mean(K.in_train_phase(K.ones_like(y_pred), K.zeros_like(y_pred)))


def test_learning_phase_resolves_per_program():
    assert K.learning_phase() is K.learning_phase()
    model = Sequential([Dense(1, input_dim=2)])
    model.compile("sgd", "mse", metrics=[phase])
    x, y = np.ones((4, 2), np.float32), np.zeros((4, 1), np.float32)
    assert model.train_on_batch(x, y)[1] == 1.0
    assert model.test_on_batch(x, y)[1] == 0.0
    assert model.evaluate(x, y, verbose=0)[1] == 0.0
    history = model.fit(x, y, epochs=1, verbose=0, validation_data=(x, y))
    assert history.history["phase"] == [1.0]
    assert history.history["val_phase"] == [0.0]


def test_in_train_phase_with_a_fixed_training_flag():
    a, b = K.constant(1.0), K.constant(2.0)
    assert K.in_train_phase(a, b, training=1) is a
    assert K.in_train_phase(a, b, training=0) is b
    assert K.in_test_phase(a, b, training=1) is b
    assert ev(K.in_train_phase(lambda: a * 3.0, b, training=True)) == 3.0
    assert ev(K.in_train_phase(a, b, training=K.constant(True, dtype="bool"))) == 1.0
    assert ev(K.in_train_phase(a, b, training=K.constant(False, dtype="bool"))) == 2.0


def test_set_learning_phase_is_forced_until_clear_session():
    with pytest.raises(ValueError, match="0 or 1"):
        K.set_learning_phase(2)
    K.set_learning_phase(0)
    assert K.learning_phase() == 0
    K.set_learning_phase(1)
    assert K.learning_phase() == 1
    K.clear_session()
    assert not isinstance(K.learning_phase(), int)


def test_forced_learning_phase_applies_dropout_in_predict():
    n = 64
    K.set_learning_phase(1)
    model = Sequential([Dropout(0.5, input_shape=(n,), seed=5),
                        Dense(1, use_bias=False, kernel_initializer="ones")])  # fmt: skip
    out = model.predict(np.ones((1, n), np.float32))
    kept = K.reference_mask_uniform((1, n), 5, 0) >= 0.5
    assert out[0, 0] == pytest.approx(2.0 * kept.sum())


# -- dropout masks ---------------------------------------------------------------------


def _mask(shape, seed, step=None):
    g = get_default_graph()
    shape_t = g.constant(np.asarray(shape, np.int64))
    step_t = None if step is None else K.constant(step, dtype="int64")
    return ev(K.random_mask_uniform(shape_t, seed, step_t))


@pytest.mark.parametrize("shape", [(5,), (3, 7), (2, 3, 4)])
@pytest.mark.parametrize("seed,step", [(0, 0), (1337, 5), (2**40 + 3, 123456)])
def test_in_graph_mask_matches_numpy_reference_bit_for_bit(shape, seed, step):
    got = _mask(shape, seed, step)
    want = K.reference_mask_uniform(shape, seed, step)
    assert got.dtype == want.dtype == np.float32
    np.testing.assert_array_equal(got, want)


def test_in_graph_mask_bits_match_numpy_reference():
    shape_t = get_default_graph().constant(np.asarray((4, 6), np.int64))
    got = ev(K.random_mask_bits(shape_t, 99, K.constant(3, dtype="int64")))
    want = K.reference_mask_bits((4, 6), 99, 3)
    assert got.dtype == want.dtype == np.uint64
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("level", [0.0, 0.2, 0.5, 0.9, 1 - 2**-24])
def test_keep_mask_is_the_threshold_test_on_the_reference_bits(level):
    shape_t = get_default_graph().constant(np.asarray((64, 33), np.int64))
    got = ev(K.random_keep_mask(shape_t, 7, level, K.constant(11, dtype="int64")))
    bits = K.reference_mask_bits((64, 33), 7, 11)
    assert got.dtype == np.bool_
    np.testing.assert_array_equal(got, bits >= K.keep_threshold(level))
    np.testing.assert_array_equal(got, K.reference_mask_uniform((64, 33), 7, 11) >= np.float32(level))


def test_the_hash_without_its_last_xor_shift_has_the_same_top_31_bits():
    z = np.random.default_rng(0).integers(0, 2**64, size=100_000, dtype=np.uint64)
    z = np.concatenate([z, np.uint64([0, 2**64 - 1, 2**63, 2**33 - 1, 2**40])])
    finished = z ^ (z >> np.uint64(31))
    np.testing.assert_array_equal(finished >> np.uint64(33), z >> np.uint64(33))
    assert np.any((finished >> np.uint64(32)) != (z >> np.uint64(32)))  # bit 32 does change


def test_mask_hashes_the_rng_step_variable_by_default():
    K.set_value(K.rng_step(), 9)
    np.testing.assert_array_equal(_mask((4, 4), 3), K.reference_mask_uniform((4, 4), 3, 9))


def test_masks_differ_between_steps_and_seeds_and_repeat_for_a_seed():
    m0 = _mask((50,), 7, 0)
    np.testing.assert_array_equal(m0, _mask((50,), 7, 0))
    assert not np.array_equal(m0, _mask((50,), 7, 1))
    assert not np.array_equal(m0, _mask((50,), 8, 0))
    big = K.reference_mask_uniform((200, 200), 7, 0)
    assert 0.0 <= big.min() and big.max() < 1.0
    assert big.mean() == pytest.approx(0.5, abs=0.01)
    assert (big < 0.25).mean() == pytest.approx(0.25, abs=0.01)


def test_k_dropout_zeros_about_half_and_scales_the_rest():
    out = ev(K.dropout(K.ones((100, 100)), 0.5, seed=21))
    assert set(np.unique(out)) == {0.0, 2.0}
    assert (out == 0).mean() == pytest.approx(0.5, abs=0.03)
    kept = K.reference_mask_uniform((100, 100), 21, 0) >= 0.5
    np.testing.assert_array_equal(out, 2.0 * kept)
    for level in (0.2, 0.3, 0.9):
        out = ev(K.dropout(K.ones((50, 40)), level, seed=21))
        kept = K.reference_mask_uniform((50, 40), 21, 0) >= level
        np.testing.assert_allclose(out, kept / (1.0 - level), rtol=1e-6)
        assert (out == 0).mean() == pytest.approx(level, abs=0.03)


def test_k_dropout_noise_shape_broadcasts():
    out = ev(K.dropout(K.ones((6, 5)), 0.5, noise_shape=(6, 1), seed=4))
    kept = K.reference_mask_uniform((6, 1), 4, 0) >= 0.5
    np.testing.assert_array_equal(out, np.broadcast_to(2.0 * kept, (6, 5)))
    assert 0 < kept.sum() < 6


def _mask_revealing_model(n, seed, noise_shape=None):
    """loss = -mean(y_pred) with a zero kernel: one SGD step with lr=1 leaves
    kernel[j] = mean over the batch of the dropout output of a ones input at feature j."""
    model = Sequential([
        Dropout(0.5, noise_shape=noise_shape, seed=seed, input_shape=(n,)),
        Dense(1, use_bias=False, kernel_initializer="zeros"),
    ])  # fmt: skip
    model.compile(optimizers.SGD(lr=1.0), lambda y_true, y_pred: -K.sum(y_pred, axis=-1))
    return model


def test_dropout_layer_in_training_uses_the_reference_mask_per_step():
    n, seed = 200, 17
    model = _mask_revealing_model(n, seed)
    x, y = np.ones((1, n), np.float32), np.zeros((1, 1), np.float32)
    model.train_on_batch(x, y)
    kept0 = K.reference_mask_uniform((1, n), seed, 0)[0] >= 0.5
    kernel = model.get_weights()[0][:, 0]
    np.testing.assert_array_equal(kernel, 2.0 * kept0)
    assert (kernel == 0).mean() == pytest.approx(0.5, abs=0.1)
    # The next step hashes the next step number: a new mask.
    model.train_on_batch(x, y)
    kept1 = K.reference_mask_uniform((1, n), seed, 1)[0] >= 0.5
    assert not np.array_equal(kept0, kept1)
    np.testing.assert_array_equal(model.get_weights()[0][:, 0], 2.0 * kept0 + 2.0 * kept1)
    assert K.get_value(K.rng_step()) == 2
    # Inference programs do not advance the step.
    model.predict(x)
    model.test_on_batch(x, y)
    assert K.get_value(K.rng_step()) == 2


def test_dropout_masks_are_reproducible_for_a_seed():
    x, y = np.ones((3, 30), np.float32), np.zeros((3, 1), np.float32)
    kernels = []
    for seed in (5, 5, 6):
        K.clear_session()
        model = _mask_revealing_model(30, seed)
        model.train_on_batch(x, y)
        kernels.append(model.get_weights()[0])
    np.testing.assert_array_equal(kernels[0], kernels[1])
    assert not np.array_equal(kernels[0], kernels[2])


def test_dropout_layer_noise_shape_shares_the_mask_across_the_batch():
    n, seed = 40, 9
    model = _mask_revealing_model(n, seed, noise_shape=(1, None))
    model.train_on_batch(np.ones((4, n), np.float32), np.zeros((4, 1), np.float32))
    kept = K.reference_mask_uniform((1, n), seed, 0)[0] >= 0.5
    np.testing.assert_array_equal(model.get_weights()[0][:, 0], 2.0 * kept)


def test_dropout_is_the_identity_in_predict_and_evaluate():
    n = 50
    model = Sequential(
        [Dropout(0.5, input_shape=(n,)), Dense(1, use_bias=False, kernel_initializer="ones")]
    )
    model.compile("sgd", "mse", metrics=[mean_pred])
    x = RNG.rand(5, n).astype(np.float32)
    np.testing.assert_allclose(model.predict(x)[:, 0], x.sum(1), rtol=1e-5)
    y = x.sum(1, keepdims=True)
    loss, metric = model.test_on_batch(x, y)
    assert loss == pytest.approx(0.0, abs=1e-8)
    assert metric == pytest.approx(x.sum(1).mean(), rel=1e-5)
    # ...while training sees the dropped-out values.
    train_loss, _ = model.train_on_batch(x, y)
    assert train_loss > 1.0


def test_model_ending_in_dropout_predicts_the_identity():
    model = Sequential([Dropout(0.5, input_shape=(8,))])
    x = RNG.rand(3, 8).astype(np.float32)
    np.testing.assert_array_equal(model.predict(x), x)


def test_dropout_rate_zero_or_one_does_nothing():
    for rate in (0.0, 1.0, 1.5):
        K.clear_session()
        model = Sequential([Dropout(rate, input_shape=(4,)), Dense(1, kernel_initializer="ones")])
        model.compile(optimizers.SGD(lr=0.0), "mse", metrics=[mean_pred])
        x = np.ones((2, 4), np.float32)
        assert model.train_on_batch(x, np.zeros((2, 1)))[1] == pytest.approx(4.0)
        assert not model.get_layer(index=1).uses_learning_phase


def test_mask_bits_over_a_runtime_shape_match_numpy_reference():
    # The batch axis is only known when the program runs: the index is built from it then.
    x = K.placeholder((None, 3, 5))
    f = K.function([x], [K.random_mask_bits(K.shape(x), 2024, K.constant(9, dtype="int64"))])
    for batch in (1, 4):
        got = f([np.zeros((batch, 3, 5), np.float32)])[0]
        np.testing.assert_array_equal(got, K.reference_mask_bits((batch, 3, 5), 2024, 9))
