"""`compile(..., steps_per_execution=N)`: N train steps per onnxruntime call through an ONNX
`Loop` (lowering/loop.py), with the same weights, History and per-batch callback logs as one
step per call; and the warning when a NaN loss may have corrupted the weights.
"""

from __future__ import annotations

import warnings

import numpy as np
import onnx
import pytest

import kgraph.backend as K
from kgraph import callbacks as cbks
from kgraph.engine.functions import CompiledFunction
from kgraph.engine.topology import Input
from kgraph.engine.training import Model
from kgraph.layers import Dense, Dropout
from kgraph.models import Sequential
from kgraph.optimizers import SGD, Adam
from kgraph.utils.data_utils import Sequence
from lowering.loop import loop_steps


class Recorder(cbks.Callback):
    def __init__(self):
        super().__init__()
        self.events = []

    def on_batch_begin(self, batch, logs=None):
        self.events.append(("begin", batch, dict(logs)))

    def on_batch_end(self, batch, logs=None):
        self.events.append(("end", batch, dict(logs)))


def _data(n=50):
    rng = np.random.RandomState(0)
    x = rng.normal(size=(n, 6)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[rng.randint(0, 3, size=n)]
    return x, y


def _model(steps, seed=1):
    K.clear_session()
    np.random.seed(seed)
    model = Sequential([
        Dense(16, activation="relu", input_dim=6), Dropout(0.4), Dense(3, activation="softmax"),
    ])  # fmt: skip
    model.compile(
        Adam(lr=0.01), "categorical_crossentropy", metrics=["acc"], steps_per_execution=steps
    )
    return model


def _fit(steps, **kwargs):
    model = _model(steps)
    recorder = Recorder()
    np.random.seed(123)  # the shuffle order
    x, y = _data()
    history = model.fit(x, y, batch_size=8, epochs=3, validation_split=0.2, callbacks=[recorder],
                        verbose=0, **kwargs)  # fmt: skip
    return model, history, recorder


@pytest.mark.parametrize("steps", [2, 4])
def test_fit_matches_one_step_per_call(steps, monkeypatch):
    one, h1, r1 = _fit(1)
    shapes = []
    call = CompiledFunction.__call__

    def spy(self, feeds):
        shapes.append((self.program.name, feeds[0].shape))
        return call(self, feeds)

    monkeypatch.setattr(CompiledFunction, "__call__", spy)
    many, hn, rn = _fit(steps)
    train_calls = [s for s in shapes if "_train" in s[0]]
    group = [("sequential_1_train_loop", (steps, 8, 6))] * (4 // steps) + [
        ("sequential_1_train", (8, 6))
    ]
    assert train_calls == group * 3
    # 40 training samples in batches of 8: with 4 steps per call, one Loop call runs
    # batches 0-3 and batch 4 runs alone; with 2, two calls and then batch 4.
    for a, b in zip(one.get_weights(), many.get_weights(), strict=True):
        np.testing.assert_allclose(b, a, rtol=0, atol=1e-6)
    assert hn.history.keys() == h1.history.keys() == {"loss", "acc", "val_loss", "val_acc"}
    for key in h1.history:
        np.testing.assert_allclose(hn.history[key], h1.history[key], rtol=1e-6)
    # The same callback calls with the same per-batch values; within a group every
    # on_batch_begin comes before the group's on_batch_end calls.
    key = lambda e: (e[0], e[1], tuple(sorted(e[2])))  # noqa: E731
    assert sorted(map(key, rn.events)) == sorted(map(key, r1.events))
    ends1 = [e[2] for e in r1.events if e[0] == "end"]
    endsn = [e[2] for e in rn.events if e[0] == "end"]
    for a, b in zip(ends1, endsn, strict=True):
        assert a["batch"] == b["batch"] and a["size"] == b["size"]
        assert b["loss"] == pytest.approx(a["loss"], rel=1e-6)
        assert b["acc"] == a["acc"]
    first_group = [(e[0], e[1]) for e in rn.events[: 2 * steps]]
    assert first_group == [("begin", i) for i in range(steps)] + [("end", i) for i in range(steps)]
    # Each inner step advanced the dropout counter (one per batch: 3 epochs x 5 batches).
    assert int(K.get_value(K.rng_step())) == 15


def test_dropout_masks_differ_between_the_inner_steps():
    # Frozen weights (lr 0): if the inner steps reused one mask, two identical batches in
    # one Loop call would give identical losses.
    model = _model(2)
    model.compile(SGD(lr=0.0), "categorical_crossentropy", steps_per_execution=2)
    x, y = _data(8)
    history_rec = Recorder()
    model.fit(np.concatenate([x, x]), np.concatenate([y, y]), batch_size=8, epochs=1,
              shuffle=False, verbose=0, callbacks=[history_rec])  # fmt: skip
    losses = [e[2]["loss"] for e in history_rec.events if e[0] == "end"]
    assert len(losses) == 2 and losses[0] != losses[1]
    single = _model(1)
    single.compile(SGD(lr=0.0), "categorical_crossentropy")
    single.set_weights(model.get_weights())
    assert [single.train_on_batch(x, y) for _ in range(2)] == pytest.approx(losses, rel=1e-6)


def test_two_outputs_sample_weights_and_shuffle_batch():
    def build(steps):
        K.clear_session()
        np.random.seed(2)
        inp = Input(shape=(5,))
        h = Dense(8, activation="tanh")(inp)
        model = Model(inp, [Dense(2, name="a")(h), Dense(1, activation="sigmoid", name="b")(h)])
        model.compile(SGD(lr=0.1, momentum=0.9), ["mse", "binary_crossentropy"],
                      loss_weights=[1.0, 0.3], metrics=["mae"], steps_per_execution=3)  # fmt: skip
        if steps == 1:
            model.steps_per_execution = 1
        return model

    rng = np.random.RandomState(3)
    x = rng.normal(size=(64, 5)).astype(np.float32)
    ya, yb = (
        rng.normal(size=(64, 2)).astype(np.float32),
        rng.randint(0, 2, (64, 1)).astype(np.float32),
    )
    sw = rng.uniform(0, 2, size=64).astype(np.float32)
    results = []
    for steps in (1, 3):
        model = build(steps)
        np.random.seed(9)
        h = model.fit(x, [ya, yb], batch_size=10, epochs=2, shuffle="batch", verbose=0,
                      sample_weight=[sw, sw])  # fmt: skip
        results.append((model.get_weights(), h.history))
    (w1, h1), (w3, h3) = results
    for a, b in zip(w1, w3, strict=True):
        np.testing.assert_allclose(b, a, rtol=0, atol=1e-6)
    for key in h1:
        np.testing.assert_allclose(h3[key], h1[key], rtol=1e-6)


def test_loop_program_structure_and_state_written_but_not_read():
    x = K.placeholder(shape=(None, 3), name="x")
    read_only = K.variable(np.full((3,), 2.0, np.float32), name="scale")
    total = K.variable(np.zeros((), np.float32), name="total")
    last = K.variable(np.zeros((3,), np.float32), name="last")
    summed = K.sum(x * read_only)
    updates = [(total, total + summed), (last, K.mean(x, axis=0))]  # `last` is never read
    fn = K.function([x], [summed], updates=updates)
    program = fn._program(False).program
    looped = loop_steps(program)
    assert [n.op_type for n in looped.model.graph.node][-1] == "Loop"
    onnx.checker.check_model(looped.model)
    assert {v.name for _, v in looped.state_in} == {"scale:0", "total:0", "last:0"}
    stacked = np.arange(24, dtype=np.float32).reshape(4, 2, 3)
    (per_step,) = CompiledFunction(looped, ["input_0"])([stacked])
    np.testing.assert_allclose(per_step, [2 * s.sum() for s in stacked])
    assert float(K.get_value(total)) == pytest.approx(2 * stacked.sum())
    np.testing.assert_allclose(K.get_value(last), stacked[-1].mean(0))
    np.testing.assert_allclose(K.get_value(read_only), 2.0)


@pytest.mark.parametrize("bad", [0, -2, 1.5, True, "4"])
def test_steps_per_execution_must_be_a_positive_integer(bad):
    model = Sequential([Dense(1, input_dim=2)])
    with pytest.raises(ValueError, match="steps_per_execution must be a positive integer"):
        model.compile("sgd", "mse", steps_per_execution=bad)
    with pytest.raises(TypeError, match="Invalid argument"):
        model.compile("sgd", "mse", step_per_execution=2)


# -- NaN losses --------------------------------------------------------------------------
def _nan_data():
    x, y = _data(40)
    y = y.copy()
    y[21] = np.nan  # sample 21 is in batch 2 (batch_size 8, no shuffling)
    return x, y


@pytest.mark.parametrize("steps", [1, 4])
def test_nan_loss_warns_once_naming_batch_and_epoch(steps):
    model = _model(steps)
    x, y = _nan_data()
    with pytest.warns(
        RuntimeWarning, match=r"batch 2 in epoch 0 is nan: the weights may now contain NaN"
    ) as rec:
        model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    assert sum("weights may now contain NaN" in str(w.message) for w in rec) == 1
    assert any(np.isnan(w).any() for w in model.get_weights())


def test_no_warning_with_terminate_on_nan(capsys):
    model = _model(1)
    x, y = _nan_data()
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        history = model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0,
                            callbacks=[cbks.TerminateOnNaN()])  # fmt: skip
    assert "Batch 2: Invalid loss" in capsys.readouterr().out
    assert history.epoch == [0]


def test_fit_generator_warns_too():
    model = _model(1)
    x, y = _nan_data()

    class Batches(Sequence):
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return x[i * 8 : (i + 1) * 8], y[i * 8 : (i + 1) * 8]

    with pytest.warns(RuntimeWarning, match="batch 2 in epoch 1 is nan"):
        model.fit_generator(Batches(), epochs=2, initial_epoch=1, verbose=0)


def test_loop_renames_the_outer_names_that_subgraphs_read():
    # An RNN's Scan body reads tensors of the step graph by name; inside the Loop those
    # names change, and the subgraph must follow. Here an If branch reads `h` (a body
    # value) and `w` (state read from the enclosing scope).
    from onnx import TensorProto, helper

    from lowering import Program

    w = K.variable(np.array([1.0, 2.0, 3.0], np.float32), name="w")
    acc = K.variable(np.zeros((), np.float32), name="acc")
    f32 = TensorProto.FLOAT
    branch = helper.make_graph(
        [helper.make_node("Add", ["h", "w"], ["y_then"])], "then", [],
        [helper.make_tensor_value_info("y_then", f32, None)],
    )  # fmt: skip
    other = helper.make_graph(
        [helper.make_node("Sub", ["h", "w"], ["y_else"])], "else", [],
        [helper.make_tensor_value_info("y_else", f32, None)],
    )  # fmt: skip
    graph = helper.make_graph(
        [
            helper.make_node("Mul", ["x", "w"], ["h"]),
            helper.make_node("If", ["yes"], ["y"], then_branch=branch, else_branch=other),
            helper.make_node("ReduceSum", ["y"], ["s"], keepdims=0),
            helper.make_node("Add", ["acc", "s"], ["acc__new"]),
        ],
        "step",
        [helper.make_tensor_value_info("x", f32, ["batch", 3]),
         helper.make_tensor_value_info("w", f32, [3]),
         helper.make_tensor_value_info("acc", f32, [])],
        [helper.make_tensor_value_info("s", f32, []),
         helper.make_tensor_value_info("acc__new", f32, [])],
        initializer=[helper.make_tensor("yes", TensorProto.BOOL, [], [True])],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=9)
    program = Program("step", model, ("x",), ("s",), (("w", w), ("acc", acc)),
                      (("acc__new", acc),), None)  # fmt: skip
    stacked = np.arange(18, dtype=np.float32).reshape(3, 2, 3)
    (per_step,) = CompiledFunction(loop_steps(program), ["x"])([stacked])
    want = [(s * [1, 2, 3] + [1, 2, 3]).sum() for s in stacked]
    np.testing.assert_allclose(per_step, want)
    assert float(K.get_value(acc)) == pytest.approx(sum(want))
