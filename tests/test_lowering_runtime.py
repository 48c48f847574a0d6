"""The IR printer, the lowering passes and the runtime's device state, tested alone."""

from __future__ import annotations

import numpy as np
import pytest

from kgraph.ir import Graph, ShapeError, Tensor, Variable, provenance_scope
from kgraph.ir import build as B
from lowering import gradients, lower
from lowering.cleanup import eliminate_common_subexpressions, eliminate_dead_code
from runtime import Executor, StateBuffer


def test_printed_ir_has_one_line_per_node_with_specs_and_provenance():
    g = Graph("p")
    x = g.placeholder([None, 3], "float32", "x")
    w = Variable(np.ones((3, 2), np.float32), name="dense_1/kernel")
    with provenance_scope("dense_1"):
        y = B.matmul(x, w)
    text = str(g).splitlines()
    assert text[0] == "graph p:"
    assert text[1] == "  %0: f32[?,3] = Placeholder{name=x}   # x"
    assert text[2] == "  %1: f32[3,2] = Variable{var=dense_1/kernel:0}   # dense_1"
    assert text[3] == f"  %{y.node}: f32[?,2] = MatMul %0 %1   # dense_1"


def test_shape_errors_name_the_op_the_layer_and_the_specs():
    g = Graph("e")
    a = g.placeholder([None, 3], "float32", "a")
    b = g.placeholder([4, 2], "float32", "b")
    with provenance_scope("dense_7"), pytest.raises(ShapeError, match=r'MatMul in layer "dense_7".*3 vs 4.*f32\[\?,3\], f32\[4,2\]'):
        B.matmul(a, b)


def test_cse_merges_duplicates_and_dce_drops_dead_nodes():
    g = Graph("c")
    x = g.placeholder([2], "float32", "x")
    a = B.unary("Exp", x)
    b = B.unary("Exp", x)
    B.unary("Log", x)  # dead
    y = B.add(a, b)
    replaced = eliminate_common_subexpressions(g)
    assert replaced[b] == a
    eliminate_dead_code(g, [y])
    assert sorted(n.op for n in g.nodes()) == ["Add", "Exp", "Placeholder"]
    assert g.inputs(y.node) == [a, a]


def test_cse_keeps_the_max_pool_that_also_returns_indices():
    g = Graph("p")
    x = g.placeholder([1, 1, 4, 4], "float32", "x")
    attrs = {"kernel_shape": (2, 2), "strides": (2, 2), "pads": (0, 0, 0, 0)}
    (pooled,) = B.apply("MaxPool", [x], **attrs)
    y = B.unary("Exp", pooled)
    first, where = B.apply("MaxPool", [x], storage_order=0, **attrs)
    replaced = eliminate_common_subexpressions(g)
    assert replaced == {pooled: first}
    assert g.inputs(y.node) == [first]
    pools = [n for n in g.nodes() if n.op == "MaxPool"]
    assert len(pools) == 1 and g.outputs(pools[0].id) == [first, where]
    # Indices in another storage order are another result: that MaxPool stays.
    _, column_major = B.apply("MaxPool", [x], storage_order=1, **attrs)
    assert eliminate_common_subexpressions(g) == {}
    assert len([n for n in g.nodes() if n.op == "MaxPool"]) == 2


def test_a_cnn_training_step_pools_once():
    import kgraph as keras

    model = keras.models.Sequential([
        keras.layers.Conv2D(2, 3, activation="relu", input_shape=(8, 8, 1)),
        keras.layers.MaxPooling2D(),
        keras.layers.Flatten(),
        keras.layers.Dense(1),
    ])  # fmt: skip
    model.compile("sgd", "mse")
    pools = [n for n in model.to_onnx(training=True).graph.node if n.op_type == "MaxPool"]
    assert len(pools) == 1 and len(pools[0].output) == 2


def test_fan_out_cotangents_are_summed_and_unused_inputs_get_none():
    g = Graph("f")
    x = g.placeholder([3], "float64", "x")
    z = g.placeholder([3], "float64", "z")
    y = B.reduce("ReduceSum", B.add(B.mul(x, x), x))
    gx, gz = gradients(g, y, [x, z])
    assert gz is None
    prog = lower(g, [("x", x)], [("g", gx)], training=False, name="f")
    ex = Executor(prog.model.SerializeToString(), prog.feeds, prog.fetches, [], [])
    (out,) = ex.run([np.array([1.0, 2.0, 3.0])])
    np.testing.assert_allclose(out, [3.0, 5.0, 7.0])


def test_train_program_updates_state_in_place_and_flips_buffers():
    g = Graph("t")
    x = g.placeholder([None, 2], "float32", "x")
    w = Variable(np.array([[1.0], [2.0]], np.float32), name="w")
    loss = B.reduce("ReduceMean", B.matmul(x, w))

    def sgd(loss_t):
        (grad,) = gradients(loss_t.graph, loss_t, [loss_t.graph.read(w)])
        return [(w, B.sub(loss_t.graph.read(w), B.mul(grad, 0.5)))]

    prog = lower(g, [("x", x)], [("loss", loss)], training=True, name="t", loss=loss, make_updates=sgd)
    assert [v for _, v in prog.state_out] == [w]
    buf = StateBuffer(w.value)
    w.attach(buf)
    ex = Executor(prog.model.SerializeToString(), prog.feeds, prog.fetches,
                  [n for n, _ in prog.state_in], [n for n, _ in prog.state_out])  # fmt: skip
    xb = np.array([[1.0, 1.0], [3.0, 1.0]], np.float32)
    side = buf.side
    (l1,) = ex.run([xb], [buf], [buf])
    assert buf.side != side
    np.testing.assert_allclose(l1, 4.0)
    np.testing.assert_allclose(w.value, [[0.0], [1.5]])
    (l2,) = ex.run([xb], [buf], [buf])
    np.testing.assert_allclose(l2, 1.5)
    np.testing.assert_allclose(w.value, [[-1.0], [1.0]])
    w.assign(np.zeros((2, 1), np.float32))
    (l3,) = ex.run([xb], [buf], [buf])
    np.testing.assert_allclose(l3, 0.0)


def test_in_train_phase_is_resolved_differently_per_program():
    g = Graph("m")
    x = g.placeholder([None, 2], "float32", "x")
    (y,) = g.add_node("InTrainPhase", [B.mul(x, 2.0), x])
    for training, scale in ((True, 2.0), (False, 1.0)):
        prog = lower(g, [("x", x)], [("y", y)], training=training, name="m")
        assert all(n.op_type != "InTrainPhase" for n in prog.model.graph.node)
        ex = Executor(prog.model.SerializeToString(), prog.feeds, prog.fetches, [], [])
        np.testing.assert_allclose(ex.run([np.ones((1, 2), np.float32)])[0], [[scale, scale]])
    assert isinstance(y, Tensor)


def test_dense_weight_gradient_through_a_slice_that_hides_static_dims():
    # The cotangent reaching Dense's MatMul comes back through a Lambda slice with unknown
    # dims; the weight gradient must still be the folded GEMM (and correct).
    import kgraph as keras
    from kgraph import backend as K

    rng = np.random.default_rng(0)
    inp = keras.layers.Input((6, 3))
    dense = keras.layers.Dense(4, use_bias=False)
    last = keras.layers.Lambda(lambda t: t[:, -1])(dense(inp))
    loss = K.sum(K.square(last))
    (grad,) = K.gradients(loss, [dense.kernel])
    x = rng.standard_normal((5, 6, 3)).astype("float32")
    got = K.function([inp], [grad])([x])[0]
    w = K.get_value(dense.kernel)
    want = x[:, -1].T @ (2 * (x[:, -1] @ w))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
