"""The lowering's rewrites keep results and move the data movement onto the small tensor."""

from __future__ import annotations

import numpy as np

import kgraph.backend as K
from lowering import lower


def test_lookup_then_transpose_becomes_transpose_of_indices():
    table = K.variable(np.arange(20.0).reshape(5, 4))
    idx = K.placeholder((None, 3), dtype="int32")
    looked = K.gather(table, idx)
    moved = K.permute_dimensions(looked, (1, 0, 2))
    f = K.function([idx], [moved, K.shape(looked)])
    data = np.array([[0, 4, 2], [1, 1, 3]], np.int32)
    got, shape = f([data])
    np.testing.assert_array_equal(got, np.arange(20.0).reshape(5, 4)[data].transpose(1, 0, 2))
    np.testing.assert_array_equal(shape, [2, 3, 4])
    model = lower(idx.graph, [("idx", idx)], [("out", moved), ("shape", K.shape(looked))], training=False, name="rewrite").model
    ops = [n.op_type for n in model.graph.node]
    first_transpose = next(n for n in model.graph.node if n.op_type == "Transpose")
    assert first_transpose.input[0] == model.graph.input[0].name  # the indices move
    assert ops.count("Gather") == 1


def test_transpose_that_moves_the_embedding_axis_is_left_alone():
    table = K.variable(np.arange(20.0).reshape(5, 4))
    idx = K.placeholder((None, 3), dtype="int32")
    moved = K.permute_dimensions(K.gather(table, idx), (2, 0, 1))
    data = np.array([[0, 4, 2]], np.int32)
    got = K.function([idx], [moved])([data])[0]
    np.testing.assert_array_equal(got, np.arange(20.0).reshape(5, 4)[data].transpose(2, 0, 1))


def _lowered_ops(x, y):
    model = lower(x.graph, [("x", x)], [("y", y)], training=False, name="sums").model
    return [n.op_type for n in model.graph.node]


def _check_sum(shape, op, axes, keepdims, dtype="float32", rewritten=True, left=0):
    rng = np.random.default_rng(len(shape) + len(axes))
    data = rng.standard_normal([d or 7 for d in shape]).astype(dtype)
    x = K.placeholder(shape, dtype=dtype)
    y = (K.sum if op == "ReduceSum" else K.mean)(x, axis=list(axes), keepdims=keepdims)
    got = K.function([x], [y])([data])[0]
    want = (np.sum if op == "ReduceSum" else np.mean)(data.astype(np.float64), axis=tuple(axes), keepdims=keepdims)
    assert got.shape == want.shape and got.dtype == np.dtype(dtype)
    tol = 2e-2 if dtype == "float16" else 1e-5
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
    ops = _lowered_ops(x, y)
    assert ("MatMul" in ops) == rewritten, ops
    if rewritten:  # only a reduction of trailing axes may remain, in front of the product
        assert ops.count(op) == left, ops


def test_leading_axis_sums_become_ones_row_products():
    _check_sum((None, 512), "ReduceSum", [0], True)  # a bias gradient, rows known at run time
    _check_sum((None, 512), "ReduceSum", [0], False)
    _check_sum((None, 6, 40), "ReduceSum", [0, 1], False)  # batch and time
    _check_sum((256, 6, 40), "ReduceSum", [0], True)  # rows known: a constant ones row
    _check_sum((None, 24, 24, 16), "ReduceMean", [0, 1, 2], True)  # channels-last batch statistics
    _check_sum((None, 300, 20), "ReduceMean", [0], False, dtype="float64")


def test_leading_and_trailing_axes_sum_the_trailing_ones_first():
    _check_sum((None, 16, 12, 12), "ReduceSum", [0, 2, 3], False, left=1)  # channels-first conv bias gradient
    _check_sum((64, 16, 12, 12), "ReduceMean", [0, 2, 3], True, left=1)
    _check_sum((None, 30, 20), "ReduceSum", [0, 2], True, left=1)


def test_sums_that_do_not_gain_stay_reductions():
    _check_sum((None, 300, 20), "ReduceSum", [1], False, rewritten=False)  # no leading axis
    _check_sum((None, 300, 20), "ReduceSum", [0, 1, 2], False, rewritten=False)  # everything
    _check_sum((None, 30, 20, 4), "ReduceSum", [0, 2], False, rewritten=False)  # reduced axes between kept ones
    _check_sum((8, 20), "ReduceSum", [0], False, rewritten=False)  # too small to matter
    _check_sum((None, 30, 20), "ReduceSum", [0], False, dtype="float16", rewritten=False)
