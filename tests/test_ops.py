"""The generic op harness: every registered op against onnx.reference in float64.

For each sample: the emitted op run by onnxruntime matches onnx's ReferenceEvaluator; the
shape rule agrees with the real output (with static and with unknown leading dims); and the
VJP rule agrees with central differences by random projection, <J^T v, u> ~ <v, J u>.
"""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
from onnx.reference import ReferenceEvaluator
from op_samples import META_TESTS, SAMPLES, Const, Sample

from kgraph.ir import Graph, Tensor, Variable
from kgraph.ir import build as B
from kgraph.ir.ops import registered_ops
from lowering import emit, gradients, lower
from lowering.cleanup import eliminate_dead_code
from lowering.specialize import specialize

FLOAT32_REFERENCE = {"Erf"}
_ort_errors = ort.capi.onnxruntime_pybind11_state
CASES = [(op, i, s) for op, samples in SAMPLES.items() for i, s in enumerate(samples)]


def _build(sample: Sample, op: str, dynamic: bool = False):
    g = Graph(op)
    ins, feeds = [], []
    for k, value in enumerate(sample.inputs):
        if isinstance(value, Const):
            ins.append(g.constant(value.value))
        else:
            value = np.asarray(value)
            shape = list(value.shape)
            if dynamic and shape:
                shape[0] = None
            if k == 0:
                for axis in sample.unknown:
                    shape[axis] = None
            t = g.placeholder(shape, value.dtype, f"in{k}")
            ins.append(t)
            feeds.append((f"in{k}", t, value))
    outs = g.add_node(op, ins, dict(sample.attrs))
    return g, ins, feeds, outs


def _run_reference(model, feeds):
    return ReferenceEvaluator(model).run(None, {n: v for n, _, v in feeds})


def test_every_registered_op_has_samples():
    missing = sorted(
        name for name in registered_ops() if name not in SAMPLES and name not in META_TESTS
    )
    assert not missing, f"ops without samples in tests/op_samples.py: {missing}"
    unknown = sorted(name for name in [*SAMPLES, *META_TESTS] if name not in registered_ops())
    assert not unknown, f"samples for unregistered ops: {unknown}"


def _as_float32(sample: Sample) -> Sample:
    def conv(v):
        if isinstance(v, Const):
            return v
        v = np.asarray(v)
        return v.astype(np.float32) if v.dtype == np.float64 else v

    attrs = dict(sample.attrs)
    if attrs.get("value") is not None and np.asarray(attrs["value"]).dtype == np.float64:
        attrs["value"] = np.asarray(attrs["value"], np.float32)
    return Sample([conv(v) for v in sample.inputs], attrs, sample.grad)


def _forward(sample: Sample, op: str):
    g, ins, feeds, outs = _build(sample, op)
    model = emit(g, [(n, t) for n, t, _ in feeds], [(f"out{k}", t) for k, t in enumerate(outs)]).model
    expected = _run_reference(model, feeds)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return outs, expected, sess.run(None, {n: v for n, _, v in feeds})


DATA_DEPENDENT_SHAPES = {"NonZero"}


@pytest.mark.parametrize("op,i,sample", CASES, ids=[f"{op}-{i}" for op, i, _ in CASES])
def test_forward_and_shape_rule(op, i, sample):
    tol = 1e-12
    try:
        outs, expected, got = _forward(sample, op)
    except (_ort_errors.NotImplemented, _ort_errors.RuntimeException) as err:
        # onnxruntime has no float64 kernel for this op (its LSTM/GRU/RNN register one and
        # refuse at run time): compare its float32 kernel.
        if isinstance(err, _ort_errors.RuntimeException) and "support double" not in str(err):
            raise
        outs, expected, got = _forward(_as_float32(sample), op)
        tol = 1e-6
    for t, e, a in zip(outs, expected, got):
        assert a.dtype == e.dtype == t.dtype.numpy
        assert a.shape == e.shape
        if op in DATA_DEPENDENT_SHAPES:
            # Output sizes that depend on the values: the rule must leave them unknown.
            assert len(t.shape) == e.ndim and all(
                d is None or d == k for d, k in zip(t.shape, e.shape)
            ), f"shape rule {t.shape} vs real {e.shape}"
        else:
            assert t.shape == e.shape, f"shape rule {t.shape} vs real {e.shape}"
        np.testing.assert_allclose(a, e, rtol=tol, atol=tol)
    # The rule must also hold when the leading dimension is unknown.
    _, _, _, dyn = _build(sample, op, dynamic=True)
    for t, e in zip(dyn, expected):
        assert len(t.shape) == e.ndim
        assert all(d is None or d == r for d, r in zip(t.shape, e.shape)), (t.shape, e.shape)


def _diff_inputs(sample: Sample, op: str) -> list[int]:
    if registered_ops()[op].vjp is None:
        return []
    if sample.grad is not None:
        return sample.grad
    return [
        k
        for k, v in enumerate(sample.inputs)
        if not isinstance(v, Const) and np.asarray(v).dtype.kind == "f"
    ]


GRAD_CASES = [c for c in CASES if _diff_inputs(c[2], c[0])]


@pytest.mark.parametrize("op,i,sample", GRAD_CASES, ids=[f"{op}-{i}" for op, i, _ in GRAD_CASES])
def test_vjp_matches_central_differences(op, i, sample):
    rng = np.random.default_rng(7)
    g, ins, feeds, outs = _build(sample, op)
    y = outs[0]
    shape = y.shape
    if None in shape:  # sizes known only at run time
        shape = _run_reference(emit(g, [(n, t) for n, t, _ in feeds], [("y", y)]).model, feeds)[0].shape
    v = rng.standard_normal(shape).astype(y.dtype.numpy)
    with g.as_default():
        s = B.reduce("ReduceSum", B.mul(y, g.constant(v)))
    # float32 outputs (Cast), and ops whose reference kernel rounds to float32 internally
    # (onnx.reference's Erf), are checked with a wider step and tolerance.
    exact = y.dtype.numpy == np.float64 and op not in FLOAT32_REFERENCE
    eps, rtol = (1e-6, 1e-5) if exact else (1e-3, 1e-3)
    wrt = _diff_inputs(sample, op)
    grads = gradients(g, s, [ins[k] for k in wrt])
    assert all(gr is not None for gr in grads)
    fwd = emit(g, [(n, t) for n, t, _ in feeds], [("s", s)]).model
    bwd = emit(g, [(n, t) for n, t, _ in feeds], [(f"g{k}", gr) for k, gr in zip(wrt, grads)]).model
    analytic = _run_reference(bwd, feeds)
    f = ReferenceEvaluator(fwd)
    base = {n: val for n, _, val in feeds}
    names = [n for n, _, _ in feeds]
    for k, ga in zip(wrt, analytic):
        name = f"in{k}"
        assert name in names
        x = base[name]
        assert ga.shape == x.shape
        u = rng.standard_normal(x.shape)
        plus = f.run(None, {**base, name: x + eps * u})[0]
        minus = f.run(None, {**base, name: x - eps * u})[0]
        numeric = (plus - minus) / (2 * eps)
        np.testing.assert_allclose(np.sum(ga * u), numeric, rtol=rtol, atol=1e-7)


def test_meta_sources_become_inputs_and_initializers():
    g = Graph("meta")
    x = g.placeholder([None, 3], "float32", "x")
    w = Variable(np.arange(6, dtype=np.float32).reshape(3, 2), name="w")
    y = B.add(B.matmul(x, w), g.constant(np.float32(1.0)))
    state = lower(g, [("x", x)], [("y", y)], training=False, name="p")
    assert [n for n, _ in state.state_in] == ["w"]
    assert [i.name for i in state.model.graph.input] == ["x", "w"]
    baked = lower(g, [("x", x)], [("y", y)], training=False, name="p", variables_as="initializers")
    assert [i.name for i in baked.model.graph.input] == ["x"]
    xv = np.ones((4, 3), np.float32)
    sess = ort.InferenceSession(baked.model.SerializeToString(), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(sess.run(None, {"x": xv})[0], xv @ w.value + 1)
    dims = state.model.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "batch" and dims[1].dim_value == 3


def test_meta_training_switch_is_specialized():
    g = Graph("phase")
    x = g.placeholder([2], "float32", "x")
    (phase,) = g.add_node("LearningPhase", [])
    (picked,) = g.add_node("InTrainPhase", [B.mul(x, 2.0), B.mul(x, 3.0)])
    y = B.add(picked, B.cast(phase, "float32"))
    for training, expected in ((True, [3.0, 5.0]), (False, [3.0, 6.0])):
        sub = g.subgraph(g.ancestors([y]))
        specialize(sub, training)
        eliminate_dead_code(sub, [Tensor(sub, y.node)])
        ops = {n.op for n in sub.nodes() if n.id in sub.ancestors([Tensor(sub, y.node)])}
        assert "InTrainPhase" not in ops and "LearningPhase" not in ops
        model = emit(sub, [("x", Tensor(sub, x.node))], [("y", Tensor(sub, y.node))]).model
        got = ReferenceEvaluator(model).run(None, {"x": np.array([1.0, 2.0], np.float32)})[0]
        np.testing.assert_allclose(got, expected)
