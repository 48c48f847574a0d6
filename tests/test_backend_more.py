"""More of `kgraph.backend` against numpy: the unrolled control flow (rnn, map_fn, foldl,
foldr) with its gradients, running sums and products, reversal, ranges, in_top_k, unshared
convolutions, the seeded binomial and truncated-normal draws, random variables, and the
tensor predicates and printing."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

import kgraph.backend as K
from kgraph.ir import Variable

RNG = np.random.RandomState(4321)


def f64(x):
    return K.constant(x, dtype="float64")


def check_gradient(build, x0, eps=1e-6, rtol=1e-6):
    """`build(x)` maps a float64 placeholder to a scalar: K.gradients against central
    differences along a random direction."""
    x = K.placeholder(x0.shape, dtype="float64")
    loss = build(x)
    (grad,) = K.gradients(loss, [x])
    fn = K.function([x], [loss, grad])
    analytic = fn([x0])[1]
    assert analytic.shape == x0.shape
    u = RNG.standard_normal(x0.shape)
    numeric = (fn([x0 + eps * u])[0] - fn([x0 - eps * u])[0]) / (2 * eps)
    np.testing.assert_allclose(np.sum(analytic * u), numeric, rtol=rtol, atol=1e-9)


def weighted_sum(y, shape):
    """A scalar that weighs every entry of `y` differently."""
    return K.sum(y * f64(RNG.standard_normal(shape)))


# -- rnn -------------------------------------------------------------------------------
BATCH, STEPS, FEATURES, UNITS = 3, 5, 4, 2
X = RNG.standard_normal((BATCH, STEPS, FEATURES))
W0 = RNG.standard_normal((FEATURES, UNITS)) * 0.5
U0 = RNG.standard_normal((UNITS, UNITS)) * 0.5
C0 = RNG.standard_normal((BATCH, UNITS)) * 0.1
H0 = RNG.standard_normal((BATCH, UNITS))
MASK = np.array([[1, 1, 0, 1, 1], [0, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool)


def np_rnn(step, x, states, mask=None, go_backwards=False, unroll=False, constants=()):
    """Keras 2.0.5's K.rnn in numpy: masked steps keep the states; the output keeps the
    previous output (zeros at first) with unroll=True, the previous first state otherwise."""
    outputs = []
    for t in reversed(range(x.shape[1])) if go_backwards else range(x.shape[1]):
        out, new = step(x[:, t], list(states) + list(constants))
        if mask is not None:
            m = mask[:, t].reshape((-1,) + (1,) * (out.ndim - 1))
            prev = (outputs[-1] if outputs else np.zeros_like(out)) if unroll else states[0]
            out = np.where(m, out, prev)
            new = [np.where(m, n, s) for n, s in zip(new, states, strict=True)]
        outputs.append(out)
        states = new
    return outputs[-1], np.stack(outputs, 1), states


def np_simple_step(x_t, states):
    h = np.tanh(x_t @ W0 + states[0] @ U0 + states[1])
    return h, [h]


def simple_step(w, u):
    def step(x_t, states):
        h = K.tanh(K.dot(x_t, w) + K.dot(states[0], u) + states[1])
        return h, [h]

    return step


def run_simple_rnn(**kwargs):
    w, u = K.variable(W0, dtype="float64"), K.variable(U0, dtype="float64")
    x = K.placeholder((None, STEPS, FEATURES), dtype="float64")
    h0 = K.placeholder((None, UNITS), dtype="float64")
    c = K.placeholder((None, UNITS), dtype="float64")
    mask = K.placeholder((None, STEPS), dtype="bool")
    use_mask = kwargs.pop("masked", False)
    last, outputs, states = K.rnn(
        simple_step(w, u), x, [h0], constants=[c], mask=mask if use_mask else None, **kwargs
    )
    assert K.int_shape(outputs) == (None, STEPS, UNITS)
    assert K.int_shape(last) == (None, UNITS) and len(states) == 1
    fn = K.function([x, h0, c, mask], [last, outputs, states[0]])
    return fn([X, H0, C0, MASK])


@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("unroll", [False, True])
def test_rnn_simple_step_matches_numpy(go_backwards, masked, unroll):
    last, outputs, state = run_simple_rnn(go_backwards=go_backwards, masked=masked, unroll=unroll)
    ref_last, ref_outputs, ref_states = np_rnn(
        np_simple_step, X, [H0], MASK if masked else None, go_backwards, unroll, [C0]
    )
    np.testing.assert_allclose(outputs, ref_outputs, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(last, ref_last, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(state, ref_states[0], rtol=1e-12, atol=1e-12)


def test_rnn_masked_output_rule_follows_unroll():
    # The output (h + 1) is not the first state (h): Keras's two paths differ on masked steps.
    def np_step(x_t, states):
        h = np.tanh(x_t @ W0 + states[0] @ U0)
        return h + 1.0, [h, states[1] + x_t[:, :1]]

    def step(x_t, states):
        h = K.tanh(K.dot(x_t, f64(W0)) + K.dot(states[0], f64(U0)))
        return h + 1.0, [h, states[1] + x_t[:, :1]]

    acc0 = RNG.standard_normal((BATCH, 1))
    for unroll in (False, True):
        last, outputs, states = K.rnn(
            step, f64(X), [f64(H0), f64(acc0)], mask=f64(MASK), unroll=unroll
        )
        got = K.function([], [last, outputs, *states])([])
        want = np_rnn(np_step, X, [H0, acc0], MASK, unroll=unroll)
        for a, b in zip(got, [want[0], want[1], *want[2]], strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    # Sample 1 is masked at step 0: zeros with unroll=True, the initial state otherwise.
    np.testing.assert_allclose(got[1][1, 0], 0.0)


def test_rnn_on_higher_rank_steps_with_a_mask():
    x = RNG.standard_normal((2, 3, 2, 2))
    mask = np.array([[1, 0, 1], [0, 1, 1]], np.float32)
    s0 = RNG.standard_normal((2, 2, 2))

    def step(x_t, states):
        out = x_t * 0.5 + states[0]
        return out, [out]

    last, outputs, states = K.rnn(step, f64(x), [f64(s0)], mask=K.constant(mask), go_backwards=True)
    got = K.function([], [last, outputs, states[0]])([])
    want = np_rnn(
        lambda x_t, s: (x_t * 0.5 + s[0], [x_t * 0.5 + s[0]]), x, [s0], mask.astype(bool), True
    )
    for a, b in zip(got, [want[0], want[1], want[2][0]], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_rnn_gradient_wrt_a_weight_matches_central_differences():
    w, u = K.variable(W0, dtype="float64"), K.variable(U0, dtype="float64")
    x = K.placeholder((None, STEPS, FEATURES), dtype="float64")
    h0 = K.placeholder((None, UNITS), dtype="float64")
    _, outputs, states = K.rnn(simple_step(w, u), x, [h0], constants=[f64(C0)], mask=f64(MASK),
                               go_backwards=True)  # fmt: skip
    loss = weighted_sum(outputs, (BATCH, STEPS, UNITS)) + K.sum(K.square(states[0]))
    grad_w, grad_u = K.gradients(loss, [w, u])
    fn = K.function([x, h0], [loss, grad_w, grad_u])
    _, gw, gu = fn([X, H0])
    eps = 1e-6
    for var, start, analytic in ((w, W0, gw), (u, U0, gu)):
        direction = RNG.standard_normal(start.shape)
        K.set_value(var, start + eps * direction)
        plus = fn([X, H0])[0]
        K.set_value(var, start - eps * direction)
        minus = fn([X, H0])[0]
        K.set_value(var, start)
        np.testing.assert_allclose(
            np.sum(analytic * direction), (plus - minus) / (2 * eps), rtol=1e-6
        )


def test_rnn_gradient_wrt_the_inputs():
    step = simple_step(f64(W0), f64(U0))

    def build(x):
        _, outputs, _ = K.rnn(step, x, [f64(H0)], constants=[f64(C0)], mask=f64(MASK))
        return weighted_sum(outputs, (BATCH, STEPS, UNITS))

    check_gradient(build, X)


def test_rnn_unknown_length_needs_input_length():
    x = K.placeholder((None, None, FEATURES), dtype="float64")
    h0 = K.placeholder((None, UNITS), dtype="float64")
    step = simple_step(f64(W0), f64(U0))
    with pytest.raises(ValueError, match="input_length"):
        K.rnn(step, x, [h0], constants=[f64(C0[0])])
    last, outputs, _ = K.rnn(step, x, [h0], constants=[f64(C0[0])], input_length=STEPS)
    assert K.int_shape(outputs) == (None, STEPS, UNITS)
    got = K.function([x, h0], [outputs])([X, H0])[0]
    np.testing.assert_allclose(
        got, np_rnn(np_simple_step, X, [H0], constants=[C0[0]])[1], rtol=1e-12
    )


def test_rnn_errors():
    step = simple_step(f64(W0), f64(U0))
    with pytest.raises(ValueError, match="at least 3D"):
        K.rnn(step, f64(X[:, 0]), [f64(H0)])
    with pytest.raises(ValueError, match="No initial states"):
        K.rnn(lambda x_t, s: (x_t, []), f64(X), [], mask=f64(MASK))
    with pytest.raises(ValueError, match="returned 2 state"):
        K.rnn(lambda x_t, s: (x_t, [x_t, x_t]), f64(X), [f64(H0)])


# -- map_fn / foldl / foldr ------------------------------------------------------------
ELEMS = RNG.standard_normal((4, 3))


def test_map_fn_matches_numpy_and_casts():
    got = K.eval(K.map_fn(lambda r: K.sin(r) * K.sum(r), f64(ELEMS)))
    np.testing.assert_allclose(got, np.sin(ELEMS) * ELEMS.sum(1, keepdims=True), rtol=1e-12)
    counts = K.eval(K.map_fn(lambda r: K.sum(r), f64(ELEMS), dtype="float32"))
    assert counts.dtype == np.float32 and counts.shape == (4,)
    np.testing.assert_allclose(counts, ELEMS.sum(1), rtol=1e-6)


def test_map_fn_gradient():
    check_gradient(
        lambda x: weighted_sum(K.map_fn(lambda r: K.sin(r) * K.sum(r), x), (4, 3)), ELEMS
    )


def test_folds_match_numpy_in_their_order():
    elems = f64(ELEMS)

    def fn(acc, x):  # not commutative: the order shows
        return acc * 2.0 + x

    left, right = np.zeros(3), np.zeros(3)
    for row in ELEMS:
        left = left * 2.0 + row
    for row in ELEMS[::-1]:
        right = right * 2.0 + row
    np.testing.assert_allclose(K.eval(K.foldl(fn, elems, initializer=f64(np.zeros(3)))), left)
    np.testing.assert_allclose(K.eval(K.foldr(fn, elems, initializer=f64(np.zeros(3)))), right)
    # Without an initializer the first (foldl) or last (foldr) element starts, which is
    # what a zero initializer gives for this fn.
    np.testing.assert_allclose(K.eval(K.foldl(fn, elems)), left, rtol=1e-12)
    np.testing.assert_allclose(K.eval(K.foldr(fn, elems)), right, rtol=1e-12)
    np.testing.assert_allclose(
        K.eval(K.foldl(fn, elems, f64(np.ones(3)))), left + 2.0**4, rtol=1e-12
    )
    total = K.eval(K.foldl(lambda acc, x: acc + K.sum(x), elems, initializer=f64(0.0)))
    assert float(total) == pytest.approx(ELEMS.sum())


def test_foldl_and_foldr_gradients():
    check_gradient(lambda x: weighted_sum(K.foldl(lambda a, r: a * K.tanh(r) + r, x), (3,)), ELEMS)
    check_gradient(lambda x: K.sum(K.foldr(lambda a, r: a * r + 1.0, x, f64(np.ones(3)))), ELEMS)


def test_unrolled_functions_need_a_static_length():
    x = K.placeholder((None, 3))
    for fn in (lambda: K.map_fn(K.sum, x), lambda: K.foldl(lambda a, r: a + r, x)):
        with pytest.raises(ValueError, match="static"):
            fn()


# -- cumsum / cumprod / reverse / arange ------------------------------------------------
CUBE = RNG.uniform(-2.0, 2.0, (3, 4, 5))


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_cumsum_and_cumprod_match_numpy(axis):
    np.testing.assert_allclose(K.eval(K.cumsum(f64(CUBE), axis)), np.cumsum(CUBE, axis), rtol=1e-12)
    np.testing.assert_allclose(
        K.eval(K.cumprod(f64(CUBE), axis)), np.cumprod(CUBE, axis), rtol=1e-12
    )


def test_cumsum_defaults_to_axis_0_and_keeps_float32():
    x = CUBE.astype(np.float32)
    got = K.eval(K.cumsum(K.constant(x)))
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, np.cumsum(x, 0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(K.eval(K.cumprod(K.constant(x))), np.cumprod(x, 0), rtol=1e-5)


def test_cumprod_with_zeros_and_an_unknown_length():
    x = RNG.uniform(-2.0, 2.0, (7, 3))
    x[2, 0] = x[5, 1] = 0.0
    np.testing.assert_allclose(K.eval(K.cumprod(f64(x), 0)), np.cumprod(x, 0), rtol=1e-12)
    p = K.placeholder((None, 3), dtype="float64")
    got = K.function([p], [K.cumprod(p, 0), K.cumsum(p, 0)])([x])
    np.testing.assert_allclose(got[0], np.cumprod(x, 0), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(got[1], np.cumsum(x, 0), rtol=1e-12)


def test_cumsum_cumprod_reverse_gradients():
    x = RNG.uniform(-2.0, 2.0, (3, 6))
    check_gradient(lambda t: weighted_sum(K.cumsum(t, 1), (3, 6)), x)
    check_gradient(lambda t: weighted_sum(K.cumprod(t, 1), (3, 6)), x)
    check_gradient(lambda t: weighted_sum(K.reverse(t, [0, 1]), (3, 6)), x)
    x[1, 2] = 0.0  # the doubling scan's gradient is exact at zeros too
    check_gradient(lambda t: weighted_sum(K.cumprod(t, 1), (3, 6)), x)


def test_reverse_matches_numpy():
    np.testing.assert_array_equal(K.eval(K.reverse(f64(CUBE), 1)), CUBE[:, ::-1])
    np.testing.assert_array_equal(K.eval(K.reverse(f64(CUBE), [0, -1])), CUBE[::-1, :, ::-1])
    p = K.placeholder((None, 4, 5), dtype="float64")
    got = K.function([p], [K.reverse(p, 0)])([CUBE])[0]
    np.testing.assert_array_equal(got, CUBE[::-1])


def test_arange_matches_keras():
    for args, kwargs, want in [
        ((5,), {}, np.arange(5, dtype=np.int32)),
        ((2, 9, 3), {}, np.arange(2, 9, 3, dtype=np.int32)),
        ((-3,), {}, np.zeros(0, np.int32)),
        ((1, 4), {"dtype": "float32"}, np.arange(1, 4, dtype=np.float32)),
        ((0, 5, 2), {"dtype": "int64"}, np.arange(0, 5, 2, dtype=np.int64)),
        ((0.5, 3), {}, np.arange(0.5, 3, dtype=np.float32)),
    ]:
        got = K.eval(K.arange(*args, **kwargs))
        assert got.dtype == want.dtype, (args, kwargs)
        np.testing.assert_array_equal(got, want)
    n = K.placeholder((), dtype="int64")
    got = K.function([n], [K.arange(n), K.arange(1, n, 2, dtype="float32")])([np.int64(6)])
    np.testing.assert_array_equal(got[0], np.arange(6))
    np.testing.assert_array_equal(got[1], np.arange(1, 6, 2, dtype=np.float32))


# -- in_top_k ----------------------------------------------------------------------------
def np_in_top_k(p, targets, k):
    out = []
    for row, t in zip(p, targets, strict=True):
        if not 0 <= t < row.size or not np.all(np.isfinite(row)):
            out.append(False)
        else:
            out.append(int(np.sum(row > row[t])) < k)
    return np.array(out)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_in_top_k_matches_tensorflow_semantics(k):
    p = RNG.randint(0, 4, (30, 6)).astype(np.float32)  # many ties
    targets = RNG.randint(0, 6, 30)
    p[3, 1], p[4, 2] = np.inf, np.nan
    targets[5] = 6
    got = K.eval(K.in_top_k(K.constant(p), K.constant(targets, "int32"), k))
    assert got.dtype == np.bool_ and got.shape == (30,)
    np.testing.assert_array_equal(got, np_in_top_k(p, targets, k))
    assert not got[3] and not got[4] and not got[5]


def test_in_top_k_with_fed_inputs():
    p, t = K.placeholder((None, 4)), K.placeholder((None,), dtype="int64")
    fn = K.function([p, t], [K.in_top_k(p, t, 2)])
    scores = np.array([[0.1, 0.2, 0.3, 0.4], [0.4, 0.3, 0.2, 0.1]], np.float32)
    np.testing.assert_array_equal(fn([scores, np.array([1, 1])])[0], [False, True])


# -- local_conv1d / local_conv2d ---------------------------------------------------------
def np_local_conv(x, kernel, kernel_size, strides, output_shape, first):
    batch = x.shape[0]
    filters = kernel.shape[-1]
    out = np.zeros((batch, *output_shape, filters))
    for n, pos in enumerate(np.ndindex(*output_shape)):
        window = tuple(
            slice(p * s, p * s + k) for p, s, k in zip(pos, strides, kernel_size, strict=True)
        )
        patch = x[(slice(None), slice(None), *window)] if first else x[(slice(None), *window)]
        out[(slice(None), *pos)] = patch.reshape(batch, -1) @ kernel[n]
    return np.moveaxis(out, -1, 1) if first else out


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_local_conv1d_and_2d_match_numpy(data_format):
    first = data_format == "channels_first"
    x1 = RNG.standard_normal((2, 3, 7) if first else (2, 7, 3))
    k1 = RNG.standard_normal((3, 9, 4))
    got = K.eval(K.local_conv1d(f64(x1), f64(k1), (3,), (2,), data_format))
    np.testing.assert_allclose(got, np_local_conv(x1, k1, (3,), (2,), (3,), first), rtol=1e-12)
    x2 = RNG.standard_normal((2, 3, 6, 5) if first else (2, 6, 5, 3))
    k2 = RNG.standard_normal((3 * 2, 2 * 2 * 3, 4))
    got = K.eval(K.local_conv2d(f64(x2), f64(k2), (2, 2), (2, 2), (3, 2), data_format))
    want = np_local_conv(x2, k2, (2, 2), (2, 2), (3, 2), first)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_local_conv2d_gradient_and_kernel_check():
    k2 = RNG.standard_normal((4, 12, 2))
    x2 = RNG.standard_normal((2, 5, 5, 3))
    check_gradient(
        lambda x: weighted_sum(K.local_conv2d(x, f64(k2), (2, 2), (3, 3), (2, 2)), (2, 2, 2, 2)), x2
    )
    with pytest.raises(ValueError, match="features per position"):
        K.local_conv2d(f64(x2), f64(k2[:, :8]), (2, 2), (3, 3), (2, 2))


# -- random tensors and variables --------------------------------------------------------
def test_random_binomial_is_uniform_at_most_p():
    draw = K.eval(K.random_binomial((100, 50), p=0.3, seed=7))
    assert draw.dtype == np.float32 and draw.shape == (100, 50)
    assert set(np.unique(draw)) <= {0.0, 1.0}
    assert abs(draw.mean() - 0.3) < 0.02
    uniform = K.reference_random_uniform((100, 50), 7, 0)
    np.testing.assert_array_equal(draw, (uniform <= 0.3).astype(np.float32))
    np.testing.assert_array_equal(K.eval(K.random_binomial((100, 50), p=0.3, seed=7)), draw)
    assert np.any(K.eval(K.random_binomial((100, 50), p=0.3, seed=8)) != draw)
    assert K.eval(K.random_binomial((4,), p=1.0, dtype="float64", seed=1)).tolist() == [1.0] * 4
    x = K.placeholder((None, 3))
    shaped = K.function([x], [K.random_binomial(K.shape(x), 0.5, seed=2)])([np.zeros((5, 3))])[0]
    assert shaped.shape == (5, 3)


def _truncated_cdf(z):
    phi = lambda v: 0.5 * (1.0 + math.erf(v / math.sqrt(2.0)))  # noqa: E731
    return (np.vectorize(phi)(z) - phi(-2.0)) / (phi(2.0) - phi(-2.0))


def test_truncated_normal_follows_the_truncated_distribution():
    mean, stddev = 1.0, 0.5
    draw = K.eval(K.truncated_normal((200, 100), mean, stddev, seed=11))
    assert draw.dtype == np.float32 and draw.shape == (200, 100)
    assert draw.min() >= mean - 2 * stddev and draw.max() <= mean + 2 * stddev
    z = np.sort(((draw - mean) / stddev).ravel())
    # Moments of N(0, 1) truncated to [-2, 2]: mean 0, std 0.8796.
    assert abs(z.mean()) < 0.02 and abs(z.std() - 0.8796) < 0.01
    ecdf = np.arange(1, z.size + 1) / z.size
    assert np.max(np.abs(ecdf - _truncated_cdf(z))) < 0.015  # Kolmogorov-Smirnov
    np.testing.assert_allclose(draw, K.reference_truncated_normal((200, 100), 11, 0, mean, stddev),
                               atol=2e-6)  # fmt: skip
    np.testing.assert_array_equal(
        K.eval(K.truncated_normal((200, 100), mean, stddev, seed=11)), draw
    )
    assert np.any(K.eval(K.truncated_normal((200, 100), mean, stddev, seed=12)) != draw)
    assert K.eval(K.truncated_normal((3, 2), dtype="float64", seed=1)).dtype == np.float64


def test_random_variables_are_seeded_variables():
    w = K.random_uniform_variable((30, 40), -2.0, 3.0, dtype="float64", name="w", seed=1)
    assert isinstance(w, Variable) and w.name == "w:0"
    value = K.get_value(w)
    assert value.dtype == np.float64 and value.shape == (30, 40)
    assert value.min() >= -2.0 and value.max() < 3.0 and abs(value.mean() - 0.5) < 0.1
    np.testing.assert_allclose(
        value, K.eval(K.random_uniform((30, 40), -2.0, 3.0, seed=1)), rtol=1e-6
    )
    again = K.get_value(K.random_uniform_variable((30, 40), -2.0, 3.0, dtype="float64", seed=1))
    np.testing.assert_array_equal(again, value)
    n = K.get_value(K.random_normal_variable((50, 40), 1.0, 2.0, seed=3))
    assert n.dtype == np.float32
    assert abs(n.mean() - 1.0) < 0.1 and abs(n.std() - 2.0) < 0.1
    np.random.seed(5)
    a = K.get_value(K.random_normal_variable((4,), 0.0, 1.0))
    np.random.seed(5)
    np.testing.assert_array_equal(K.get_value(K.random_normal_variable((4,), 0.0, 1.0)), a)


# -- predicates, printing, settings ------------------------------------------------------
def test_placeholder_and_sparse_predicates():
    p = K.placeholder((None, 3))
    assert K.is_placeholder(p) and not K.is_placeholder(p * 2.0)
    assert not K.is_placeholder(K.variable(np.ones(2))) and not K.is_placeholder(np.ones(2))
    assert not K.is_sparse(p) and K.to_dense(p) is p
    with pytest.raises(ValueError, match="Sparse"):
        K.placeholder((None, 3), sparse=True)
    assert K.manual_variable_initialization(True) is None
    K.manual_variable_initialization(False)


def test_print_tensor_prints_when_evaluated(capsys):
    x = K.placeholder((2,))
    y = K.print_tensor(x * 2.0, message="y = ")
    out = K.function([x], [y + 1.0])([np.array([1.0, 2.0], np.float32)])[0]
    np.testing.assert_allclose(out, [3.0, 5.0])
    assert "y = [2. 4.]" in capsys.readouterr().err
    np.testing.assert_allclose(K.eval(K.print_tensor(K.constant([1.0]), "c: ")), [1.0])
    assert "c: [1.]" in capsys.readouterr().err


# -- CTC ---------------------------------------------------------------------------------
CTC_PROBS = RNG.dirichlet(np.ones(4), size=(5, 5))  # (samples, time, classes); blank = 3
CTC_LABELS = np.array([[0, 1, 1], [2, 2, 0], [1, 0, 0], [0, 1, 2], [1, 1, 0]])
CTC_LABEL_LENGTH = np.array([[3], [2], [1], [3], [2]])
CTC_INPUT_LENGTH = np.array([[5], [4], [3], [2], [2]])


def _collapse(path, blank):
    out, previous = [], None
    for c in path:
        if c != previous and c != blank:
            out.append(c)
        previous = c
    return out


def np_ctc_loss(probs, label, steps):
    """-log of the total probability of every alignment that collapses to `label`."""
    p = probs[:steps] + 1e-8
    p = p / p.sum(-1, keepdims=True)
    blank = p.shape[-1] - 1
    total = sum(
        np.prod(p[np.arange(steps), path])
        for path in itertools.product(range(p.shape[-1]), repeat=steps)
        if _collapse(path, blank) == list(label)
    )
    return -np.log(total) if total > 0 else np.inf


def test_ctc_batch_cost_matches_the_sum_over_alignments():
    loss = K.eval(K.ctc_batch_cost(K.constant(CTC_LABELS), f64(CTC_PROBS),
                                   K.constant(CTC_INPUT_LENGTH, "int64"),
                                   K.constant(CTC_LABEL_LENGTH, "int64")))  # fmt: skip
    want = [
        np_ctc_loss(CTC_PROBS[b], CTC_LABELS[b, : CTC_LABEL_LENGTH[b, 0]], CTC_INPUT_LENGTH[b, 0])
        for b in range(5)
    ]
    assert loss.shape == (5, 1)
    # Sample 3 has 3 labels in 2 steps, sample 4 a repeat ("1 1" needs 3 steps): impossible.
    assert np.isinf(loss[3, 0]) and np.isinf(loss[4, 0])
    np.testing.assert_allclose(loss[:, 0], want, rtol=1e-10)
    f32 = K.eval(K.ctc_batch_cost(K.constant(CTC_LABELS), K.constant(CTC_PROBS),
                                  K.constant(CTC_INPUT_LENGTH), K.constant(CTC_LABEL_LENGTH)))  # fmt: skip
    assert f32.dtype == np.float32
    np.testing.assert_allclose(f32[:3, 0], want[:3], rtol=1e-5)


def test_ctc_batch_cost_gradient():
    lengths = (K.constant(CTC_INPUT_LENGTH[:3]), K.constant(CTC_LABEL_LENGTH[:3]))

    def build(p):
        return K.sum(K.ctc_batch_cost(K.constant(CTC_LABELS[:3]), p, *lengths))

    check_gradient(build, CTC_PROBS[:3])


def test_ctc_decode_greedy():
    length = np.array([5, 4, 3, 2, 1])
    decoded, log_prob = K.ctc_decode(K.constant(CTC_PROBS), K.constant(length, "int32"))
    got, got_log_prob = K.function([], [decoded[0], log_prob])([])
    rows = [_collapse(CTC_PROBS[b, : length[b]].argmax(-1), 3) for b in range(5)]
    want = np.full((5, max(len(r) for r in rows)), -1)
    for b, r in enumerate(rows):
        want[b, : len(r)] = r
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, want)
    best = np.log(CTC_PROBS + 1e-8).max(-1)
    want_log_prob = [-best[b, : length[b]].sum() for b in range(5)]
    np.testing.assert_allclose(got_log_prob[:, 0], want_log_prob, rtol=1e-5)
    with pytest.raises(NotImplementedError, match="beam search"):
        K.ctc_decode(K.constant(CTC_PROBS), K.constant(length), greedy=False)


def test_ctc_label_dense_to_sparse_and_to_dense():
    dense = CTC_LABELS.astype(np.int32) + 1
    keep = np.arange(3)[None, :] < CTC_LABEL_LENGTH
    sparse = K.ctc_label_dense_to_sparse(
        K.constant(dense, "int32"), K.constant(CTC_LABEL_LENGTH[:, 0], "int32")
    )
    assert K.is_sparse(sparse) and not K.is_sparse(dense)
    # The entry count is data-dependent: each is fetched by a program of its own.
    np.testing.assert_array_equal(K.eval(sparse.indices), np.argwhere(keep))
    np.testing.assert_array_equal(K.eval(sparse.values), dense[keep])
    np.testing.assert_array_equal(K.eval(sparse.dense_shape), [5, 3])
    labels = K.placeholder((None, 3), dtype="int32")
    lengths = K.placeholder((None,), dtype="int32")
    back = K.to_dense(K.ctc_label_dense_to_sparse(labels, lengths))
    got = K.function([labels, lengths], [back])([dense, CTC_LABEL_LENGTH[:, 0].astype(np.int32)])[0]
    np.testing.assert_array_equal(got, np.where(keep, dense, 0))


def test_zeros_like_and_ones_like_keep_static_dims():
    x = K.placeholder((None, 6, 4))
    assert K.int_shape(K.zeros_like(x)) == (None, 6, 4)
    assert K.int_shape(K.ones_like(x, dtype="int32")) == (None, 6, 4)
    got = K.function([x], [K.ones_like(x) + x])([np.zeros((2, 6, 4), np.float32)])[0]
    np.testing.assert_array_equal(got, np.ones((2, 6, 4)))
    # Keras's idiom for a recurrent initial state: zeros of (samples, units).
    h0 = K.sum(K.zeros_like(x), axis=1)
    assert K.int_shape(h0) == (None, 4)


def test_gradient_through_in_train_phase_with_concatenated_branches():
    # The untaken branch's gradient rules (Concat slices its cotangent) run on zeros of the
    # right shape in both programs.
    x = K.placeholder((None, 2))
    y = K.in_train_phase(K.concatenate([x * 2, x * 3], 1), K.concatenate([x * 4, x * 5], 1))
    (grad,) = K.gradients(K.sum(y * K.constant(np.arange(4.0))), [x])
    data = np.ones((3, 2), np.float32)
    for phase, want in ((1, [0 * 2 + 2 * 3, 1 * 2 + 3 * 3]), (0, [0 * 4 + 2 * 5, 1 * 4 + 3 * 5])):
        got = K.function([x, K.learning_phase()], [grad])([data, phase])[0]
        np.testing.assert_allclose(got, np.tile(want, (3, 1)))


def test_gradients_of_one_tensor_and_tensor_iteration():
    x = K.placeholder((None, 3))
    y = K.sum(x * x)
    (grad,) = K.gradients(y, x)  # one tensor, not a list, as tf.gradients takes it
    data = np.arange(6.0, dtype=np.float32).reshape(2, 3)
    np.testing.assert_allclose(K.function([x], [grad])([data])[0], 2 * data)
    with pytest.raises(TypeError, match="iterable only along a first axis of known size"):
        list(x)
    a, b = K.shape(K.ones((4, 5)))  # a static first axis iterates
    assert K.eval(a) == 4 and K.eval(b) == 5


def test_random_normal_takes_a_shape_of_runtime_and_static_sizes():
    x = K.placeholder((None, 2))
    noise = K.random_normal(shape=(K.shape(x)[0], 2), mean=0.0, stddev=1.0, seed=3)
    got = K.function([x], [noise])([np.zeros((5, 2), np.float32)])[0]
    assert got.shape == (5, 2) and np.isfinite(got).all() and got.std() > 0


def test_random_tensors_keep_the_static_shape_they_are_given():
    x = K.placeholder((None, 5))
    assert K.int_shape(K.random_normal((32, 10))) == (32, 10)
    assert K.int_shape(K.random_uniform((4, 3))) == (4, 3)
    assert K.int_shape(K.truncated_normal((3, 4))) == (3, 4)
    assert K.int_shape(K.random_binomial((2, 3), 0.5)) == (2, 3)
    assert K.int_shape(K.random_normal(K.shape(x))) == (None, 5)
    assert K.int_shape(K.random_normal((K.shape(x)[0], 7))) == (None, 7)
    assert K.int_shape(K.random_uniform(K.shape(x)[1:])) == (5,)
    f = K.function([x], [K.random_normal((K.shape(x)[0], 7)), K.random_uniform(K.shape(x))])
    a, b = f([np.ones((4, 5), "float32")])
    assert a.shape == (4, 7) and b.shape == (4, 5)


def test_concat_gradient_along_an_axis_of_runtime_size():
    # The batch axis has no static size: the gradient gathers each piece's runtime range.
    a, b = K.placeholder((None, 3)), K.placeholder((None, 3))
    c = K.concatenate([K.square(a), b * 2.0], axis=0)
    weights = K.placeholder((None, 3))
    ga, gb = K.gradients(K.sum(c * weights), [a, b])
    assert K.int_shape(ga) == (None, 3)
    f = K.function([a, b, weights], [ga, gb])
    rng = np.random.RandomState(0)
    A, Bv, W = rng.rand(2, 3), rng.rand(4, 3), rng.rand(6, 3)
    got_a, got_b = f([A.astype("float32"), Bv.astype("float32"), W.astype("float32")])
    np.testing.assert_allclose(got_a, 2 * A * W[:2], rtol=1e-5)
    np.testing.assert_allclose(got_b, 2 * W[2:], rtol=1e-6)


def test_shape_is_int32_and_mixes_with_int32_tensors_as_in_keras_2():
    x = K.placeholder((None, 4, 3))
    s = K.shape(x)
    assert K.dtype(s) == "int32"
    doubled = s[0] * K.constant(2, dtype="int32")
    sizes = K.stack([s[0], 12])
    assert K.dtype(sizes) == "int32"
    flat = K.reshape(x, sizes)
    noise = K.random_normal((s[0], 5), seed=3)
    repeated = K.repeat(x[:, 0], s[1])
    x0 = np.random.RandomState(0).rand(2, 4, 3).astype("float32")
    got = K.function([x], [doubled, flat, noise, repeated])([x0])
    assert got[0] == 4 and got[1].shape == (2, 12) and got[2].shape == (2, 5)
    np.testing.assert_array_equal(got[3], np.repeat(x0[:, :1], 4, axis=1))
    (grad,) = K.gradients(K.sum(repeated * K.constant(np.arange(12.0).reshape(1, 4, 3), dtype="float32")), [x])
    want = np.zeros((2, 4, 3), "float32")
    want[:, 0] = np.arange(12.0).reshape(4, 3).sum(0)
    np.testing.assert_allclose(K.function([x], [grad])([x0])[0], want)
