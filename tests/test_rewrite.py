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
