"""`kgraph.backend` against Keras 2.0.5 (TensorFlow backend) where it used to differ:
gradients at ties and kinks, stable softplus, batch_dot over operands of different ranks,
ReduceProd's gradient, truthiness of non-boolean tensors, shapes that mix ints and tensors,
floor division and modulo, empty reduction axes, integer tensors, and K.function's keywords.

Gradients are checked in float64 against central differences along a random direction."""

from __future__ import annotations

import numpy as np
import pytest
from test_backend_more import check_gradient, f64

import kgraph.backend as K
from lowering import lower


def value_and_grad(build, x0, *others):
    """`build(x, *others)` elementwise; returns its value and the gradient of its sum."""
    x = K.placeholder(x0.shape, dtype="float64")
    y = build(x, *(f64(o) for o in others))
    (grad,) = K.gradients(K.sum(y), [x])
    return K.function([x], [y, grad])([x0])


# -- 1. selections at ties and the clipped square root -----------------------------------
def test_maximum_minimum_ties_send_the_gradient_to_the_first_operand():
    # TensorFlow's rule: maximum's gradient goes to x where x >= y, minimum's where x <= y.
    x0 = np.array([1.0, -2.0, 3.0, 0.5])
    other = np.array([1.0, -2.0, 0.0, 2.0])
    _, grad = value_and_grad(lambda x, y: K.maximum(x, y), x0, other)
    np.testing.assert_array_equal(grad, [1.0, 1.0, 1.0, 0.0])
    _, grad = value_and_grad(lambda x, y: K.maximum(y, x), x0, other)
    np.testing.assert_array_equal(grad, [0.0, 0.0, 1.0, 0.0])
    _, grad = value_and_grad(lambda x, y: K.minimum(x, y), x0, other)
    np.testing.assert_array_equal(grad, [1.0, 1.0, 0.0, 1.0])
    _, grad = value_and_grad(lambda x, y: K.minimum(y, x), x0, other)
    np.testing.assert_array_equal(grad, [0.0, 0.0, 0.0, 1.0])


def test_relu_gradient_is_zero_at_zero():
    x0 = np.array([-1.0, 0.0, 2.0])
    value, grad = value_and_grad(lambda x: K.relu(x), x0)
    np.testing.assert_array_equal(value, [0.0, 0.0, 2.0])
    np.testing.assert_array_equal(grad, [0.0, 0.0, 1.0])
    _, grad = value_and_grad(
        lambda x: K.relu(x, alpha=0.1, max_value=1.5), np.array([-1.0, 0.0, 1.5, 2.0])
    )
    np.testing.assert_allclose(grad, [0.1, 0.0, 1.0, 0.0])


def test_selections_do_not_turn_infinite_cotangents_into_nan():
    # sqrt's cotangent is infinite at 0; maximum's and clip's selects keep their 0 there.
    x0 = np.array([-1.0, 0.25])
    for clip in (lambda x: K.maximum(x, 0.0), lambda x: K.clip(x, 0.0, None)):
        _, grad = value_and_grad(lambda x, clip=clip: K.sqrt(clip(x)), x0)
        np.testing.assert_array_equal(grad, [0.0, 1.0])


def test_relu_gradient_is_a_product_with_its_mask_as_in_tensorflow():
    # TensorFlow's ReluGrad multiplies by the 0/1 mask, so tf-keras gives NaN for
    # K.sqrt(K.relu(x)) at x < 0 (checked against tf-keras 2.21); so does kgraph.
    _, grad = value_and_grad(lambda x: K.sqrt(K.relu(x)), np.array([-1.0, 0.25]))
    assert np.isnan(grad[0]) and grad[1] == 1.0


def test_float32_relu_and_elu_masks_are_exact_down_to_the_smallest_normal():
    # In float32 the [x > 0] mask is a steep HardSigmoid: exactly 0 or 1 for every x except
    # the positive subnormals below 2.9e-39.
    tiny = np.finfo(np.float32).tiny
    x0 = np.array([-np.inf, -3e38, -1.0, -tiny, -0.0, 0.0, tiny, 1e-30, 0.5, 3e38, np.inf], np.float32)
    x = K.placeholder(x0.shape)
    weights = K.constant(np.arange(1, x0.size + 1, dtype=np.float32))
    for act, slope_below in ((K.relu, 0.0), (K.elu, None)):
        (grad,) = K.gradients(K.sum(act(x) * weights), [x])
        got = K.function([x], [grad])([x0])[0]
        positive = (x0 > 0) & (x0 < np.inf if act is K.elu else True)  # elu's 0 * inf is NaN
        np.testing.assert_array_equal(got[positive], np.arange(1, x0.size + 1)[positive])
        if slope_below is not None:
            np.testing.assert_array_equal(got[~positive], 0.0)
    # the mask is one pass, not Greater + Cast
    model = lower(x.graph, [("x", x)], [("g", grad)], training=False, name="mask").model
    ops = [n.op_type for n in model.graph.node]
    assert "HardSigmoid" in ops and "Cast" not in ops, ops
    # the inf * 0 of TensorFlow's product form is kept: NaN below zero
    x = K.placeholder((3,))
    (grad,) = K.function([x], K.gradients(K.sum(K.sqrt(K.relu(x))), [x]))([np.array([-1.0, 0.0, 0.25], np.float32)])
    assert np.isnan(grad[0]) and np.isnan(grad[1]) and grad[2] == 1.0


def test_hard_sigmoid_gradient_passes_at_the_ties_in_both_precisions():
    # tf.clip_by_value's gradient includes the bounds: 0.2 at 0.2 x + 0.5 == 0 and == 1
    x0 = np.array([-3.0, -2.5, 0.0, 2.5, 3.0])
    for dtype in ("float32", "float64"):
        x = K.placeholder((5,), dtype=dtype)
        y = K.hard_sigmoid(x)
        value, grad = K.function([x], [y, K.gradients(K.sum(y), [x])[0]])([x0.astype(dtype)])
        np.testing.assert_allclose(value, [0.0, 0.0, 0.5, 1.0, 1.0], atol=1e-7)
        np.testing.assert_allclose(grad, [0.0, 0.2, 0.2, 0.2, 0.0], rtol=1e-6)


def test_sqrt_gradient_is_zero_where_the_input_is_clipped():
    x0 = np.array([-4.0, -1e-3, 0.25, 4.0])
    value, grad = value_and_grad(lambda x: K.sqrt(x), x0)
    np.testing.assert_allclose(value, [0.0, 0.0, 0.5, 2.0])
    np.testing.assert_allclose(grad, [0.0, 0.0, 1.0, 0.25])


@pytest.mark.parametrize(
    "build",
    [
        lambda x: K.sum(K.sqrt(x) * f64([1.0, -2.0, 0.5])),
        lambda x: K.sum(K.maximum(x, f64([0.0, 1.0, -1.0])) * f64([1.0, 2.0, 3.0])),
        lambda x: K.sum(K.minimum(f64([0.0, 1.0, -1.0]), x) * f64([1.0, 2.0, 3.0])),
        lambda x: K.sum(K.relu(x, alpha=0.3) * f64([1.0, 2.0, 3.0])),
        lambda x: K.sum(K.max(x * f64([1.0, 2.0, 3.0]))),
    ],
    ids=["sqrt", "maximum", "minimum", "relu", "reduce_max"],
)
def test_selection_gradients_match_central_differences(build):
    check_gradient(build, np.array([0.7, 1.3, 2.1]))
    check_gradient(build, np.array([-0.7, 1.6, -2.1]))


# -- 2. softplus and the sigmoid cross-entropy from logits --------------------------------
EDGES = np.array([0.0, -0.0, 1e-12, 3.0, -3.0, 50.0, -50.0, 1000.0, -1000.0])


def np_softplus(z):
    return np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))


def np_sigmoid(z):
    return np.exp(-np.logaddexp(0.0, -z))


def test_softplus_is_stable_and_has_slope_one_half_at_zero():
    value, grad = value_and_grad(K.softplus, EDGES)
    np.testing.assert_allclose(value, np_softplus(EDGES), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(grad, np_sigmoid(EDGES), rtol=1e-12, atol=1e-15)
    assert grad[0] == grad[1] == 0.5
    check_gradient(
        lambda x: K.sum(K.softplus(x) * f64([1.0, -2.0, 0.5])), np.array([0.3, -1.2, 4.0])
    )


@pytest.mark.parametrize("target", [0.0, 1.0, 0.3])
def test_binary_crossentropy_from_logits_is_stable_with_the_right_slope(target):
    t = np.full_like(EDGES, target)
    value, grad = value_and_grad(
        lambda z, y: K.binary_crossentropy(z, y, from_logits=True), EDGES, t
    )
    expected = np_softplus(EDGES) - EDGES * t
    np.testing.assert_allclose(value, expected, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(grad, np_sigmoid(EDGES) - t, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(grad[:2], 0.5 - target, rtol=0, atol=1e-16)
    weights = f64([1.0, -2.0, 0.5])
    check_gradient(
        lambda z: K.sum(K.binary_crossentropy(z, f64([target] * 3), from_logits=True) * weights),
        np.array([0.3, -1.2, 4.0]),
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softplus_keeps_relative_precision_far_below_zero(dtype):
    # TensorFlow's softplus is log1p-accurate here; log(1 + e^z) alone gives 0 below
    # log(eps) and percent-level errors a little above it.
    z = K.placeholder((7,), dtype=np.dtype(dtype).name)
    out = K.softplus(z)
    (grad,) = K.gradients(K.sum(out), [z])
    edges = np.array([-5.0, -13.0, -16.0, -20.0, -40.0, -80.0, -700.0], dtype)
    value, g = K.function([z], [out, grad])([edges])
    exact = np.log1p(np.exp(edges.astype(np.float64)))
    rtol = 4 * np.finfo(dtype).eps
    keep = exact > np.finfo(dtype).tiny  # a denormal result has fewer significant bits
    np.testing.assert_allclose(value[keep], exact[keep], rtol=rtol, atol=0)
    np.testing.assert_allclose(g[keep], np_sigmoid(edges[keep].astype(np.float64)), rtol=rtol)


def test_softplus_does_not_overflow_in_float32():
    z = K.placeholder((4,))
    out = K.softplus(z)
    (grad,) = K.gradients(K.sum(out), [z])
    edges = np.array([0.0, 100.0, -100.0, 3e38], np.float32)
    value, g = K.function([z], [out, grad])([edges])
    assert value.dtype == np.float32 and np.all(np.isfinite(value)) and np.all(np.isfinite(g))
    np.testing.assert_allclose(value, np_softplus(edges.astype(np.float64)), rtol=1e-6, atol=1e-30)
    np.testing.assert_allclose(g, [0.5, 1.0, 0.0, 1.0], atol=1e-30)


# -- 3. batch_dot over operands of different ranks -----------------------------------------
def np_batch_dot_2_0_5(x, y, axes):
    """Keras 2.0.5's K.batch_dot (TensorFlow backend) in numpy: the lower-rank operand gets
    trailing 1-axes, rank-2 pairs multiply and sum, others go through matmul with x
    transposed unless axes[0] is its last axis and y transposed if axes[1] is its last;
    the padded axes are squeezed and a 1-D result becomes (batch, 1)."""
    if isinstance(axes, int):
        axes = (axes, axes)
    x_ndim, y_ndim = x.ndim, y.ndim
    diff = abs(x_ndim - y_ndim)
    if x_ndim > y_ndim:
        y = y.reshape(y.shape + (1,) * diff)
    elif y_ndim > x_ndim:
        x = x.reshape(x.shape + (1,) * diff)
    if x.ndim == 2 and y.ndim == 2:
        out = (x * y).sum(axes[0]) if axes[0] == axes[1] else (x.T * y).sum(axes[1])
    else:
        if axes is not None and axes[0] != x.ndim - 1:
            x = np.swapaxes(x, -1, -2)
        if axes is not None and axes[1] == y.ndim - 1:
            y = np.swapaxes(y, -1, -2)
        out = np.matmul(x, y)
    if diff:
        idx = x_ndim + y_ndim - 3 if x_ndim > y_ndim else x_ndim - 1
        out = out.squeeze(tuple(range(idx, idx + diff)))
    return out[:, None] if out.ndim == 1 else out


BATCH_DOT_CASES = [
    ((2, 3, 4), (2, 4), None),
    ((2, 3, 4), (2, 4), (2, 1)),
    ((2, 4, 3), (2, 4), (1, 1)),
    ((2, 4), (2, 4, 5), (1, 1)),
    ((2, 4), (2, 5, 4), (1, 2)),
    ((2, 4), (2, 4), 1),
    ((2, 4), (2, 4), (1, 1)),
    ((2, 3, 4), (2, 4, 5), None),
    ((2, 3, 4), (2, 5, 4), (2, 2)),
    ((2, 4, 3), (2, 4, 5), 1),
    ((2, 4, 3), (2, 5, 4), (1, 2)),
    ((3, 2, 4, 5), (3, 2, 5, 6), None),
]


@pytest.mark.parametrize("x_shape,y_shape,axes", BATCH_DOT_CASES, ids=str)
def test_batch_dot_matches_keras_2_0_5(x_shape, y_shape, axes):
    rng = np.random.default_rng(5)
    x0, y0 = rng.standard_normal(x_shape), rng.standard_normal(y_shape)
    expected = np_batch_dot_2_0_5(x0, y0, axes)
    x = K.placeholder((None,) + x_shape[1:], dtype="float64")
    y = K.placeholder((None,) + y_shape[1:], dtype="float64")
    out = K.batch_dot(x, y, axes)
    assert K.int_shape(out) == (None,) + expected.shape[1:]
    got = K.function([x, y], [out])([x0, y0])[0]
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    weights = rng.standard_normal(expected.shape)
    check_gradient(lambda t: K.sum(K.batch_dot(t, f64(y0), axes) * f64(weights)), x0)
    check_gradient(lambda t: K.sum(K.batch_dot(f64(x0), t, axes) * f64(weights)), y0)


def test_batch_dot_takes_negative_axes_and_defaults_for_a_lower_rank_y():
    rng = np.random.default_rng(6)
    x0, y0 = rng.standard_normal((2, 4)), rng.standard_normal((2, 4, 5))
    got = K.eval(K.batch_dot(f64(x0), f64(y0)))
    np.testing.assert_allclose(got, np.einsum("bk,bkn->bn", x0, y0), rtol=1e-12)
    x1 = rng.standard_normal((2, 3, 4))
    got = K.eval(K.batch_dot(f64(x1), f64(y0), axes=(-1, -2)))
    np.testing.assert_allclose(got, np.matmul(x1, y0), rtol=1e-12)
    with pytest.raises(ValueError, match="axes"):
        K.batch_dot(f64(x1), f64(y0), axes=(3, 1))


# -- 4. the gradient of prod, zeros included -----------------------------------------------
def np_prod_grad(x, axis):
    """d sum(prod(x, axis)) / dx: the product of the other entries of each group."""
    grad = np.empty_like(x)
    for index in np.ndindex(*x.shape):
        others = x.copy()
        others[index] = 1.0
        group = tuple(i if a not in axis else slice(None) for a, i in enumerate(index))
        grad[index] = np.prod(others[group])
    return grad


PROD_INPUTS = {
    "no_zero": np.array([[1.5, -2.0, 3.0], [0.5, 2.0, -1.0]]),
    "one_zero": np.array([[1.5, 0.0, 3.0], [0.5, 2.0, -1.0]]),
    "two_zeros": np.array([[0.0, 0.0, 3.0], [0.5, 0.0, -1.0]]),
    "all_zero": np.zeros((2, 3)),
}


@pytest.mark.parametrize("name", sorted(PROD_INPUTS))
@pytest.mark.parametrize("axis,keepdims", [(1, False), (0, True), (None, False), ([0, 1], True)])
def test_prod_gradient_handles_zeros(name, axis, keepdims):
    x0 = PROD_INPUTS[name]
    axes = (0, 1) if axis is None else tuple(np.atleast_1d(axis))
    value, grad = value_and_grad(lambda x: K.prod(x, axis=axis, keepdims=keepdims), x0)
    np.testing.assert_allclose(value, np.prod(x0, axis=axes, keepdims=keepdims))
    np.testing.assert_allclose(grad, np_prod_grad(x0, axes), rtol=1e-12)
    weights = f64(np.random.default_rng(3).standard_normal(value.shape))
    check_gradient(lambda x: K.sum(K.prod(x, axis=axis, keepdims=keepdims) * weights), x0)


# -- 5. truthiness of non-boolean tensors ---------------------------------------------------
TRUTHY = np.array([[0.0, -1.0, 0.0], [-1.0, -2.0, 3.0], [0.0, 0.0, 0.0], [np.nan, 0.5, 2.0]])


@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "int64"])
@pytest.mark.parametrize("axis,keepdims", [(1, False), (0, True), (None, False), (-1, True)])
def test_any_all_count_nonzero_as_true(dtype, axis, keepdims):
    values = TRUTHY if dtype.startswith("float") else np.nan_to_num(TRUTHY, nan=7).astype(dtype)
    x = K.placeholder(values.shape, dtype=dtype)
    got_any, got_all = K.function([x], [K.any(x, axis, keepdims), K.all(x, axis, keepdims)])(
        [values]
    )
    truth = values != 0  # NaN counts as true, as tf.cast(x, bool)
    np.testing.assert_array_equal(got_any, truth.any(axis=axis, keepdims=keepdims))
    np.testing.assert_array_equal(got_all, truth.all(axis=axis, keepdims=keepdims))
    assert got_any.dtype == got_all.dtype == np.bool_


@pytest.mark.parametrize("dtype", ["float32", "int32"])
def test_switch_treats_any_nonzero_condition_as_true(dtype):
    cond = K.placeholder((2, 3), dtype=dtype)
    a, b = K.placeholder((2, 3)), K.placeholder((2, 3))
    c0 = np.array([[0, -2, 1], [3, 0, -1]], dtype)
    a0, b0 = np.ones((2, 3), "float32"), -np.ones((2, 3), "float32")
    got = K.function([cond, a, b], [K.switch(cond, a, b)])([c0, a0, b0])[0]
    np.testing.assert_array_equal(got, np.where(c0 != 0, a0, b0))


@pytest.mark.parametrize(
    "cond_shape,expr_shape", [((), (2, 3)), ((2,), (2, 3)), ((2,), (2, 3, 4)), ((2, 3), (2, 3, 4))]
)
def test_switch_condition_of_lower_rank_selects_along_the_leading_axes(cond_shape, expr_shape):
    rng = np.random.default_rng(8)
    c0 = rng.integers(-1, 2, size=cond_shape).astype("float64")
    a0, b0 = rng.standard_normal(expr_shape), rng.standard_normal(expr_shape)
    expected = np.where(
        c0.reshape(cond_shape + (1,) * (len(expr_shape) - len(cond_shape))) != 0, a0, b0
    )
    got = K.eval(K.switch(f64(c0), f64(a0), lambda: f64(b0)))
    np.testing.assert_array_equal(got, expected)
    weights = f64(rng.standard_normal(expr_shape))
    check_gradient(lambda t: K.sum(K.switch(f64(c0), t * t, -t) * weights), a0)


def test_switch_condition_of_higher_rank_is_an_error():
    with pytest.raises(ValueError, match="Rank of `condition`"):
        K.switch(f64(np.ones((2, 3))), f64(np.ones(2)), f64(np.zeros(2)))


# -- 6. shapes that mix Python ints and scalar tensors -------------------------------------
def test_reshape_takes_ints_mixed_with_scalar_tensors():
    x = K.placeholder((None, 6), dtype="float64")
    out = K.reshape(x, (K.shape(x)[0], -1, 3))
    assert K.int_shape(out) == (None, None, 3)
    x0 = np.arange(24.0).reshape(4, 6)
    np.testing.assert_array_equal(K.function([x], [out])([x0])[0], x0.reshape(4, -1, 3))
    int32_size = K.cast(K.shape(x)[1], "int32")
    out = K.reshape(x, [2, K.shape(x)[0] - 2, int32_size])
    np.testing.assert_array_equal(K.function([x], [out])([x0])[0], x0.reshape(2, 2, 6))
    out = K.reshape(x, K.cast(K.concatenate([K.shape(x)[1:], K.shape(x)[:1]]), "int32"))
    np.testing.assert_array_equal(K.function([x], [out])([x0])[0], x0.reshape(6, 4))
    weights = f64(np.random.default_rng(9).standard_normal((2, 4, 3)))
    check_gradient(lambda t: K.sum(K.reshape(t, (2, K.shape(t)[0], 3)) * weights), x0)


def test_reshape_rejects_float_entries():
    x = K.placeholder((None, 6))
    with pytest.raises(ValueError, match="K.reshape"):
        K.reshape(x, (K.cast(K.shape(x)[0], "float32"), 6))


@pytest.mark.parametrize("build", ["ints", "mixed", "tensor"])
def test_tile_takes_ints_mixed_with_scalar_tensors(build):
    x = K.placeholder((1, 3), dtype="float64")
    y = K.placeholder((None, 2), dtype="float64")
    n = {"ints": [4, 2], "mixed": [K.shape(y)[0], 2], "tensor": K.stack([K.shape(y)[0], 2])}[build]
    out = K.tile(x, n)
    assert K.int_shape(out) == (
        (4, 6) if build == "ints" else (None, 6 if build == "mixed" else None)
    )
    x0, y0 = np.array([[1.0, 2.0, 3.0]]), np.zeros((4, 2))
    got = K.function([x, y], [out])([x0, y0])[0]
    np.testing.assert_array_equal(got, np.tile(x0, (4, 2)))
    weights = np.random.default_rng(10).standard_normal((4, 6))
    (grad,) = K.gradients(K.sum(out * f64(weights)), [x])
    got = K.function([x, y], [grad])([x0, y0])[0]
    np.testing.assert_allclose(got, weights.reshape(4, 1, 2, 3).sum((0, 2)), rtol=1e-12)


def test_tile_gradient_matches_central_differences():
    rng = np.random.default_rng(11)
    weights = f64(rng.standard_normal((2, 6, 4)))
    check_gradient(lambda t: K.sum(K.tile(t, (2, 3, 1)) * weights), rng.standard_normal((1, 2, 4)))
    weights = f64(rng.standard_normal((4, 6, 4)))
    check_gradient(
        lambda t: K.sum(K.tile(t, [K.shape(t)[0], 3, 1]) * weights), rng.standard_normal((2, 2, 4))
    )


# -- 7. floor division and modulo operators --------------------------------------------------
NUMERATORS = np.array([-7.5, 7.5, -7.0, 7.0, 0.0, 2.25, -2.25, 6.0])
DIVISORS = np.array([2.0, -2.0, 2.0, -2.0, -1.5, 0.5, 1.5, -4.0])


@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "int64"])
def test_floordiv_and_mod_follow_python_for_negative_numbers(dtype):
    scale = 1 if dtype.startswith("float") else 2
    a0, b0 = (NUMERATORS * scale).astype(dtype), (DIVISORS * scale).astype(dtype)
    a, b = K.placeholder((8,), dtype=dtype), K.placeholder((8,), dtype=dtype)
    outs = [a // b, a % b, a // 3, a % 3, 7 // b, -7 % b, a // -3, a % -3]
    got = K.function([a, b], outs)([a0, b0])
    expected = [a0 // b0, a0 % b0, a0 // 3, a0 % 3, 7 // b0, -7 % b0, a0 // -3, a0 % -3]
    for out, g, e in zip(outs, got, expected, strict=True):
        assert K.dtype(out) == dtype and g.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(g, e.astype(dtype))


def test_floordiv_and_mod_work_on_variables():
    v = K.variable(np.array([-5.0, 5.0]))
    np.testing.assert_array_equal(K.eval(v // 2), [-3.0, 2.0])
    np.testing.assert_array_equal(K.eval(v % 2), [1.0, 1.0])
    np.testing.assert_array_equal(K.eval(11 % v), [-4.0, 1.0])


def test_mod_gradient_matches_central_differences():
    # d(a % b)/da = 1 and d(a % b)/db = -floor(a / b), away from the jumps.
    a0, b0 = np.array([7.3, -7.3, 2.2, -0.4]), np.array([2.0, 2.0, -1.5, 0.7])
    weights = f64([1.0, -2.0, 0.5, 3.0])
    check_gradient(lambda t: K.sum((t % f64(b0)) * weights), a0)
    check_gradient(lambda t: K.sum((f64(a0) % t) * weights), b0)
    _, grad = value_and_grad(lambda t: f64(a0) % t, b0)
    np.testing.assert_allclose(grad, -np.floor(a0 / b0))


# -- 8. reductions over an empty list of axes ------------------------------------------------
CUBE = np.arange(24.0).reshape(2, 3, 4) - 11.5
REDUCTIONS = {
    "sum": (K.sum, lambda v: v),
    "mean": (K.mean, lambda v: v),
    "max": (K.max, lambda v: v),
    "min": (K.min, lambda v: v),
    "prod": (K.prod, lambda v: v),
    "logsumexp": (K.logsumexp, lambda v: v),
    "var": (K.var, np.zeros_like),
    "std": (K.std, np.zeros_like),
    "any": (K.any, lambda v: v != 0),
    "all": (K.all, lambda v: v != 0),
}


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
@pytest.mark.parametrize("axis", [[], ()])
@pytest.mark.parametrize("keepdims", [False, True])
def test_reducing_an_empty_list_of_axes_reduces_nothing(name, axis, keepdims):
    fn, expected = REDUCTIONS[name]
    x = K.placeholder((None, 3, 4), dtype="float64")
    out = fn(x, axis, keepdims)
    assert K.int_shape(out) == (None, 3, 4)
    np.testing.assert_allclose(K.function([x], [out])([CUBE])[0], expected(CUBE))


def test_reducing_an_empty_list_of_axes_keeps_dtypes_and_gradients():
    flags = K.constant(CUBE > 0, dtype="bool")
    assert K.dtype(K.sum(flags, [])) == K.floatx() and K.dtype(K.mean(flags, [])) == K.floatx()
    assert K.dtype(K.max(K.constant([1, 2], dtype="int32"), [])) == "int32"
    weights = f64(np.random.default_rng(12).standard_normal(CUBE.shape))
    for fn in (K.sum, K.mean, K.max, K.prod):
        check_gradient(lambda t, fn=fn: K.sum(fn(t, []) * weights), CUBE)


# -- 9. abs, relu and negation of integer tensors -------------------------------------------
SIGNED = np.array([[-7, -1, 0], [1, 3, 100]])


@pytest.mark.parametrize("dtype", ["int8", "int16", "int32", "int64"])
def test_abs_relu_and_negation_keep_signed_integer_dtypes(dtype):
    values = SIGNED.astype(dtype)
    x = K.placeholder(values.shape, dtype=dtype)
    cases = {
        "K.abs": (K.abs(x), np.abs(values)),
        "abs()": (abs(x), np.abs(values)),
        "neg": (-x, -values),
        "relu": (K.relu(x), np.maximum(values, 0)),
        "relu_max": (K.relu(x, max_value=3), np.clip(values, 0, 3)),
        "relu_alpha": (K.relu(x, alpha=2), np.where(values > 0, values, 2 * values)),
        "relu_fraction": (K.relu(x, alpha=0.5), np.maximum(values, 0)),  # alpha cast to 0, as TF
    }
    got = K.function([x], [out for out, _ in cases.values()])([values])
    for (name, (out, expected)), value in zip(cases.items(), got, strict=True):
        assert K.dtype(out) == dtype and value.dtype == np.dtype(dtype), name
        np.testing.assert_array_equal(value, expected.astype(dtype), err_msg=name)


@pytest.mark.parametrize("dtype", ["uint8", "uint32", "uint64"])
def test_abs_and_relu_of_unsigned_integers_are_the_identity(dtype):
    values = np.array([0, 1, 200], dtype)
    x = K.placeholder((3,), dtype=dtype)
    got = K.function([x], [K.abs(x), K.relu(x), K.relu(x, max_value=100)])([values])
    np.testing.assert_array_equal(got[0], values)
    np.testing.assert_array_equal(got[1], values)
    np.testing.assert_array_equal(got[2], np.minimum(values, 100))
    assert all(g.dtype == np.dtype(dtype) for g in got)


def test_negating_an_unsigned_tensor_is_a_clear_error():
    with pytest.raises(Exception, match="Neg.*uint8"):
        -K.placeholder((3,), dtype="uint8")


# -- 10. K.function's keyword arguments ------------------------------------------------------
def test_function_takes_a_name_and_session_run_options():
    x = K.placeholder((2,))
    v = K.variable(np.zeros(2))
    f = K.function(
        [x], [x * 2], updates=[K.update_add(v, x)], name="double", options=None, run_metadata=None
    )
    np.testing.assert_array_equal(f([np.ones(2, "float32")])[0], [2.0, 2.0])
    np.testing.assert_array_equal(K.get_value(v), [1.0, 1.0])
    g = K.function(inputs=[x], outputs=[x + 1], updates=None, name="plus_one")
    np.testing.assert_array_equal(g([np.ones(2, "float32")])[0], [2.0, 2.0])
    assert K.Function([x], [x], name="same").name == "same"


def test_function_rejects_unknown_keywords_naming_the_valid_ones():
    x = K.placeholder((2,))
    with pytest.raises(ValueError, match=r"'feed_dict'.*name, options, run_metadata"):
        K.function([x], [x], feed_dict={})
    with pytest.raises(ValueError, match=r"'bogus', 'other'"):
        K.function([x], [x], other=1, bogus=2)
