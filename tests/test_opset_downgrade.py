"""Exports re-targeted to opsets 11-17 load in onnxruntime and give the same predictions."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest

import kgraph.backend as K
from kgraph.layers import (
    GRU, Activation, LSTM, AveragePooling2D, BatchNormalization, Bidirectional, Conv1D, Conv2D,
    Conv2DTranspose, Cropping2D, Dense, Dropout, Embedding, Flatten, GlobalAveragePooling1D,
    GlobalMaxPooling2D, MaxPooling2D, PReLU, SeparableConv2D, SimpleRNN, UpSampling1D, ZeroPadding2D,
)  # fmt: skip
from kgraph.models import Sequential
from lowering.opset import downgrade

MODELS = {
    "cnn": lambda: Sequential([
        ZeroPadding2D(1, input_shape=(6, 6, 2)), Conv2D(3, 3, strides=2, padding="same"),
        BatchNormalization(), MaxPooling2D(), Flatten(), Dropout(0.5), Dense(2, activation="softmax")]),
    "masked_rnn": lambda: Sequential([
        Embedding(10, 4, input_length=5, mask_zero=True), LSTM(3, return_sequences=True), GRU(2)]),
    "bidirectional": lambda: Sequential([
        Embedding(10, 4, input_length=5), Bidirectional(LSTM(3)), Dense(1, activation="sigmoid")]),
    "conv1d": lambda: Sequential([
        Conv1D(2, 3, input_shape=(8, 3), padding="causal"), UpSampling1D(), GlobalAveragePooling1D(),
        Dense(3, activation="elu")]),
    "simple_rnn": lambda: Sequential([SimpleRNN(3, input_shape=(4, 2), go_backwards=True), Dense(2)]),
    "misc": lambda: Sequential([
        Cropping2D(1, input_shape=(6, 6, 2)), SeparableConv2D(3, 2), Conv2DTranspose(2, 2, strides=2),
        AveragePooling2D(), GlobalMaxPooling2D(), PReLU(), Dense(2, activation="hard_sigmoid")]),
}  # fmt: skip


def _input(model):
    rng = np.random.RandomState(0)
    if model.inputs[0].dtype.is_integer:
        return rng.randint(0, 10, (3, 5)).astype("int32")
    return rng.rand(3, *model.input_shape[1:]).astype("float32")


@pytest.mark.parametrize("name", sorted(MODELS))
def test_inference_export_at_older_opsets_matches_predict(name):
    model = MODELS[name]()
    x = _input(model)
    expected = model.predict(x)
    for opset in (17, 15, 13, 12, 11):
        proto = model.to_onnx(opset=opset)
        assert proto.opset_import[0].version == opset
        assert proto.ir_version == onnx.helper.find_min_ir_version_for(list(proto.opset_import))
        opts = ort.SessionOptions()
        opts.log_severity_level = 1  # an unused initializer would be a warning
        sess = ort.InferenceSession(proto.SerializeToString(), opts, providers=["CPUExecutionProvider"])
        got = sess.run(None, {sess.get_inputs()[0].name: x})[0]
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6, err_msg=f"opset {opset}")
        used = {i for n in proto.graph.node for i in n.input}
        assert all(t.name in used for t in proto.graph.initializer), "constants left unused"


def test_moved_attributes_are_rewritten():
    model = MODELS["masked_rnn"]()
    proto13 = model.to_onnx(opset=13)
    proto11 = model.to_onnx(opset=11)

    def nodes(proto):
        out = []

        def walk(g):
            for n in g.node:
                out.append(n)
                for a in n.attribute:
                    if a.type == onnx.AttributeProto.GRAPH:
                        walk(a.g)

        walk(proto.graph)
        return out

    def with_axes(proto, moved_at):
        found = [n for n in nodes(proto) if (n.op_type == "ReduceSum") == (moved_at == 13)
                 and n.op_type.startswith("Reduce")]  # fmt: skip
        return (sum(len(n.input) > 1 for n in found), sum(any(a.name == "axes" for a in n.attribute) for n in found))

    proto18 = model.to_onnx()
    assert with_axes(proto18, 18)[0] + with_axes(proto18, 13)[0] > 0
    assert with_axes(proto13, 18) == (0, with_axes(proto18, 18)[0])
    assert with_axes(proto11, 13) == (0, with_axes(proto18, 13)[0])
    for n in nodes(proto13):
        attrs = {a.name for a in n.attribute}
        if n.op_type.startswith("Reduce") and n.op_type != "ReduceSum":
            assert len(n.input) == 1, n  # axes, if any, moved to the attribute
        if n.op_type == "Split":
            assert "num_outputs" not in attrs
    ops11 = {n.op_type for n in nodes(proto11)}
    assert "GreaterOrEqual" not in ops11 and "LessOrEqual" not in ops11
    for n in nodes(proto11):
        if n.op_type in ("Squeeze", "Unsqueeze", "ReduceSum"):
            assert len(n.input) == 1, n


def test_training_export_at_opset_17_runs_the_same_step():
    model = Sequential([Conv1D(2, 3, input_shape=(8, 3)), Flatten(), Dense(2)])
    model.compile("adam", "mse")
    rng = np.random.RandomState(1)
    feeds = {"conv1d_1_input": rng.rand(4, 8, 3).astype("float32"),
             "dense_1_target": rng.rand(4, 2).astype("float32"),
             "dense_1_sample_weights": np.ones(4, "float32")}  # fmt: skip
    results = []
    for opset in (None, 17, 13):
        proto = model.to_onnx(opset=opset, training=True)
        sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
        results.append(sess.run(None, feeds))
    for other in results[1:]:
        for a, b in zip(results[0], other, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_what_an_older_opset_cannot_express_is_named():
    model = Sequential([Dense(4, input_dim=3), Dropout(0.5), Dense(2)])
    model.compile("sgd", "mse")
    with pytest.raises(ValueError, match=r"opset 17: BitwiseXor node .* needs opset 18 or later"):
        model.to_onnx(opset=17, training=True)  # dropout's hash
    emb = Sequential([Embedding(10, 3, input_length=4), Flatten(), Dense(1)])
    emb.compile("sgd", "mse")
    with pytest.raises(ValueError, match="ScatterND node .* uses attribute 'reduction', which opset 15"):
        emb.to_onnx(opset=15, training=True)
    softmax_axis = Sequential([Conv1D(2, 3, input_shape=(8, 3)), Activation(lambda t: K.softmax(t, axis=1))])
    with pytest.raises(ValueError, match="before opset 13 Softmax works on the last axis only"):
        softmax_axis.to_onnx(opset=12)
    assert softmax_axis.to_onnx(opset=13).opset_import[0].version == 13
    with pytest.raises(ValueError, match="opset must be an integer >= 11"):
        model.to_onnx(opset=10)
    with pytest.raises(ValueError, match="to an older one"):
        downgrade(model.to_onnx(), 18)
