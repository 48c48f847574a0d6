"""Sample inputs for every registered op: one table drives the generic op harness.

Each entry lists Samples: input arrays (wrapped in `Const` when the op needs the value at
build time, e.g. a target shape), attributes, and which inputs to differentiate (default:
every non-constant float input, when the op has a VJP rule). Inputs of non-smooth ops are
drawn away from their kinks so central differences are meaningful.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kgraph.ir.dtypes import DType

rng = np.random.default_rng(1234)


@dataclass(frozen=True)
class Const:
    value: np.ndarray


def _unpool_indices() -> np.ndarray:
    """Flat indices of one cell per 2x2 window of a (2, 2, 4, 6) tensor, as MaxPool gives."""
    n, c, i, j = np.meshgrid(*map(np.arange, (2, 2, 2, 3)), indexing="ij")
    corner = ((n * 2 + c) * 4 + 2 * i) * 6 + 2 * j
    return (corner + np.array([0, 1, 6, 7])[rng.integers(0, 4, corner.shape)]).astype(np.int64)


@dataclass
class Sample:
    inputs: list[Any]
    attrs: dict[str, Any] = field(default_factory=dict)
    grad: list[int] | None = None
    unknown: tuple[int, ...] = ()
    """Axes of the first input left unknown in the graph (sizes known only at run time)."""


def r(*shape, lo=-2.0, hi=2.0):
    return rng.uniform(lo, hi, size=shape).astype(np.float64)


def away(*shape, gap=0.2):
    """Values with |v| >= gap (no kink at zero)."""
    v = r(*shape)
    return np.where(np.abs(v) < gap, np.sign(v + 1e-12) * gap + v, v)


def distinct(*shape):
    """Values that are pairwise at least 0.1 apart (no ties for max/min)."""
    n = int(np.prod(shape))
    return (rng.permutation(n).astype(np.float64) * 0.1 - n * 0.05).reshape(shape)


def remainder_operands(*shape):
    """a and b with a / b at least 0.2 away from an integer (no jump of a % b nearby)."""
    b = np.where(rng.random(shape) < 0.5, -1.0, 1.0) * rng.uniform(0.7, 1.3, shape)
    a = b * (rng.integers(-3, 4, shape) + rng.uniform(0.2, 0.8, shape))
    return [a, b]


def with_zeros(v, where):
    """`v` with exact zeros at the listed indices (products whose slopes skip a factor)."""
    v = v.copy()
    for index in where:
        v[index] = 0.0
    return v


def ints(*shape, lo=0, hi=5, dtype=np.int64):
    return rng.integers(lo, hi, size=shape).astype(dtype)


def bools(*shape):
    return rng.integers(0, 2, size=shape).astype(bool)


SAMPLES: dict[str, list[Sample]] = {
    # unary, differentiable
    "Neg": [Sample([r(3, 4)]), Sample([ints(3, 4, lo=-5, hi=5, dtype=np.int16)])],
    "Abs": [
        Sample([away(3, 4)]),
        Sample([ints(3, 4, lo=-5, hi=5, dtype=np.int8)]),
        Sample([ints(3, 4, lo=0, hi=9, dtype=np.uint8)]),
    ],
    "Exp": [Sample([r(3, 4)])],
    "Log": [Sample([r(3, 4, lo=0.2, hi=3.0)])],
    "Sqrt": [Sample([r(3, 4, lo=0.2, hi=3.0)])],
    "Tanh": [Sample([r(3, 4)])],
    "Sigmoid": [Sample([r(3, 4)])],
    "Relu": [Sample([away(3, 4)]), Sample([ints(3, 4, lo=-5, hi=5, dtype=np.int32)])],
    "Reciprocal": [Sample([away(3, 4, gap=0.5)])],
    "Sin": [Sample([r(3, 4)])],
    "Cos": [Sample([r(3, 4)])],
    "Erf": [Sample([r(3, 4)])],
    "Identity": [Sample([r(2, 3)])],
    "StopGradient": [Sample([r(2, 3)])],
    # unary, piecewise constant
    "Floor": [Sample([r(3, 4)])],
    "Ceil": [Sample([r(3, 4)])],
    "Round": [Sample([r(3, 4)])],
    "Sign": [Sample([away(3, 4)])],
    "Not": [Sample([bools(3, 4)])],
    "IsNaN": [Sample([np.array([1.0, np.nan, np.inf, -2.0])])],
    "IsInf": [Sample([np.array([1.0, np.nan, np.inf, -np.inf])])],
    # binary, broadcasting
    "Add": [Sample([r(3, 4), r(4)]), Sample([r(2, 1, 3), r(4, 1)])],
    "Sub": [Sample([r(3, 4), r(3, 1)]), Sample([r(1), r(2, 3)])],
    "Mul": [Sample([r(3, 4), r(3, 4)]), Sample([r(2, 3, 4), r(3, 1)])],
    "Div": [Sample([r(3, 4), away(4, gap=0.5)])],
    "Pow": [Sample([r(3, 4, lo=0.5, hi=2.0), r(3, 4, lo=-1.5, hi=2.0)])],
    "Max": [Sample([distinct(3, 4), distinct(3, 4) + 0.05])],
    "Min": [Sample([distinct(3, 4), distinct(4) + 0.05])],
    "Elu": [Sample([away(3, 4)]), Sample([away(2, 5)], {"alpha": 0.4})],
    "HardSigmoid": [  # kinks (alpha * x + beta at 0 or 1) between the grid points of distinct()
        Sample([distinct(3, 4)]),
        Sample([distinct(3, 4)], {"alpha": 2.5, "beta": 0.45}),
    ],
    "Clip": [  # bounds between the grid points of distinct(), so no x sits on one
        Sample([distinct(3, 4), np.array(-0.25), np.array(0.25)]),
        Sample([distinct(2, 3, 2), np.array(-np.inf), np.array(0.15)]),
    ],
    "Mod": [
        Sample([ints(3, 4, lo=1, hi=20), ints(3, 4, lo=1, hi=6)]),
        Sample(remainder_operands(3, 4), {"fmod": 1}),
    ],
    "Equal": [Sample([ints(3, 4), ints(4)])],
    "Less": [Sample([r(3, 4), r(3, 4)])],
    "Greater": [Sample([r(3, 4), r(4)])],
    "LessOrEqual": [Sample([ints(3, 4), ints(3, 4)])],
    "GreaterOrEqual": [Sample([r(3, 4), r(1)])],
    "And": [Sample([bools(3, 4), bools(3, 4)])],
    "Or": [Sample([bools(3, 4), bools(4)])],
    "Xor": [Sample([bools(3, 4), bools(3, 4)])],
    "BitwiseAnd": [Sample([ints(3, 4, hi=1000), ints(3, 4, hi=1000)])],
    "BitwiseOr": [Sample([ints(3, 4, hi=1000), ints(3, 4, hi=1000)])],
    "BitwiseXor": [
        Sample([ints(3, 4, hi=2**62, dtype=np.uint64), ints(3, 4, hi=2**62, dtype=np.uint64)])
    ],
    "BitShift": [
        Sample(
            [ints(3, 4, hi=2**62, dtype=np.uint64), np.array(7, np.uint64)],
            {"direction": "RIGHT"},
        )
    ],
    "Where": [Sample([bools(3, 4), r(3, 4), r(4)])],
    "Cast": [
        Sample([r(3, 4)], {"to": DType.float32}),
        Sample([ints(3, 4)], {"to": DType.float64}),
    ],
    # linear algebra
    "MatMul": [
        Sample([r(3, 4), r(4, 5)]),
        Sample([r(2, 3, 4), r(4, 5)]),
        Sample([r(2, 3, 4), r(2, 4, 2)]),
    ],
    # reductions
    "ReduceSum": [
        Sample([r(3, 4, 5)], {"axes": (1,), "keepdims": 0}),
        Sample([r(3, 4)], {"axes": None, "keepdims": 0}),
        Sample([r(3, 4, 5)], {"axes": (0, 2), "keepdims": 1}),
        Sample([r(3, 4)], {"axes": (), "keepdims": 1}),  # ONNX: an empty list reduces all
    ],
    "ReduceMean": [
        Sample([r(3, 4, 5)], {"axes": (2,), "keepdims": 0}),
        Sample([r(3, 4)], {"axes": None, "keepdims": 0}),
    ],
    "ReduceMax": [
        Sample([distinct(3, 4, 5)], {"axes": (1,), "keepdims": 0}),
        Sample([distinct(3, 4)], {"axes": None, "keepdims": 1}),
    ],
    "ReduceMin": [Sample([distinct(3, 4)], {"axes": (0,), "keepdims": 1})],
    "ReduceProd": [
        Sample([ints(3, 4, lo=1, hi=4)], {"axes": None, "keepdims": 0}),
        Sample([r(3, 4, 5)], {"axes": (1,), "keepdims": 0}),
        Sample([with_zeros(r(3, 4), [(0, 1), (1, 0), (1, 2)])], {"axes": (1,), "keepdims": 1}),
        Sample([with_zeros(r(2, 3, 2), [(0, 0, 1)])], {"axes": None, "keepdims": 0}),
    ],
    "ArgMax": [Sample([distinct(3, 4)], {"axis": 1, "keepdims": 0})],
    "ArgMin": [Sample([distinct(3, 4)], {"axis": 0, "keepdims": 1})],
    # data movement
    "Reshape": [
        Sample([r(2, 3, 4), Const(np.array([0, -1], np.int64))]),
        Sample([r(6, 4), Const(np.array([2, 3, 4], np.int64))]),
    ],
    "Flatten": [Sample([r(2, 3, 4)], {"axis": 1})],
    "Squeeze": [Sample([r(3, 1, 4)], {"axes": (1,)})],
    "Unsqueeze": [Sample([r(3, 4)], {"axes": (0, 3)})],
    "Transpose": [Sample([r(2, 3, 4)], {"perm": (2, 0, 1)})],
    "Expand": [Sample([r(3, 1), Const(np.array([2, 3, 4], np.int64))])],
    "Tile": [
        Sample([r(2, 3), Const(np.array([2, 1], np.int64))]),
        Sample([r(1, 2, 3), Const(np.array([3, 2, 1], np.int64))]),
    ],
    "Concat": [Sample([r(3, 2), r(3, 4), r(3, 1)], {"axis": 1})],
    "Slice": [
        Sample([r(4, 6)], {"starts": (1, 0), "ends": (3, 5), "axes": (0, 1), "steps": (1, 1)}),
        Sample([r(4, 6)], {"starts": (-2,), "ends": (2**63 - 1,), "axes": (1,), "steps": (1,)}),
        Sample([r(4, 3, 2)], {"starts": (-1,), "ends": (-(2**63 - 1),), "axes": (0,), "steps": (-1,)}),
    ],
    "Pad": [Sample([r(3, 4)], {"pads": (1, 0, 2, 3)})],
    "Gather": [Sample([r(5, 3), Const(np.array([[0, 4], [2, 2]], np.int64))], {"axis": 0})],
    "ScatterND": [
        Sample(
            [r(5, 3), Const(np.array([[1], [3], [1]], np.int64)), r(3, 3)],
            {"reduction": "add"},
        )
    ],
    "NonZero": [Sample([ints(7, lo=0, hi=3)]), Sample([r(2, 5) * bools(2, 5)])],
    "Shape": [Sample([r(3, 4)])],
    "Range": [
        Sample([Const(np.array(2, np.int64)), Const(np.array(11, np.int64)), Const(np.array(3, np.int64))])
    ],
    "ConstantOfShape": [
        Sample([Const(np.array([2, 3], np.int64))], {"value": np.zeros((), np.float32)})
    ],
    "CumSum": [
        Sample([r(3, 4)], {"axis": 1}),
        Sample([r(3, 4, 2)], {"axis": 0, "exclusive": 1, "reverse": 1}),
        Sample([r(2, 3, 4)], {"axis": -1, "reverse": 1}),
        Sample([r(4, 3)], {"axis": 0, "exclusive": 1}),
    ],
    "Softmax": [Sample([r(3, 5)], {"axis": -1}), Sample([r(2, 3, 4)], {"axis": 1})],
    "LogSoftmax": [Sample([r(3, 5)], {"axis": -1}), Sample([r(2, 3, 4)], {"axis": 0})],
    # convolution and pooling (channels first, explicit pads: begins then ends)
    "Conv": [
        Sample(
            [r(2, 3, 6, 5), r(4, 3, 3, 2), r(4)],
            {"strides": (2, 1), "pads": (1, 0, 2, 1), "dilations": (1, 2)},
        ),
        Sample([r(2, 3, 9), r(4, 3, 2)], {"pads": (2, 0), "dilations": (2,)}),
        Sample(
            [r(1, 2, 4, 5, 3), r(3, 2, 2, 3, 2)], {"strides": (1, 2, 1), "pads": (0, 1, 1, 1, 1, 0)}
        ),
        Sample(
            [r(2, 4, 5, 5), r(6, 2, 3, 3)], {"group": 2, "pads": (1, 1, 1, 1), "strides": (2, 2)}
        ),
        Sample([r(2, 3, 4, 4), r(6, 1, 2, 2), r(6)], {"group": 3, "auto_pad": "SAME_UPPER"}),
        # Strided SAME over sizes known only at run time: the gradient pads at run time.
        Sample([r(2, 3, 7, 6), r(4, 3, 3, 2)], {"strides": (2, 3), "auto_pad": "SAME_UPPER"}, unknown=(2, 3)),
        Sample([r(2, 4, 5, 6), r(4, 2, 3, 3), r(4)], {"group": 2, "strides": (2, 2), "auto_pad": "SAME_UPPER"},
               unknown=(0, 2)),  # fmt: skip
        Sample([r(2, 3, 4, 3), r(5, 3, 1, 1)]),
    ],
    "ConvTranspose": [
        Sample(
            [r(2, 3, 3, 4), r(3, 2, 3, 2), r(2)],
            {
                "strides": (2, 1),
                "pads": (1, 0, 0, 1),
                "dilations": (1, 2),
                "output_padding": (1, 0),
            },
        ),
        Sample([r(2, 2, 5), r(2, 3, 3)], {"strides": (3,), "pads": (1, 1)}),
    ],
    "MaxPool": [
        Sample(
            [distinct(2, 3, 7, 6)],
            {"kernel_shape": (3, 2), "strides": (2, 1), "pads": (1, 0, 1, 1)},
        ),
        Sample([distinct(2, 2, 9)], {"kernel_shape": (2,), "strides": (2,)}),
        # Disjoint windows (the MaxUnpool gradient), with a padded edge and a stride
        # that skips cells.
        Sample([distinct(2, 3, 6, 7)], {"kernel_shape": (2, 2), "strides": (2, 2), "pads": (0, 0, 0, 1)}),
        Sample([distinct(1, 2, 8, 5)], {"kernel_shape": (2, 1), "strides": (3, 2)}),
        Sample(
            [distinct(1, 2, 4, 5, 3)],
            {"kernel_shape": (2, 2, 2), "strides": (2, 2, 1), "pads": (0, 0, 0, 0, 1, 1)},
        ),
        Sample(
            [distinct(2, 2, 6, 6)],
            {"kernel_shape": (3, 3), "dilations": (2, 1), "pads": (1, 1, 1, 1)},
        ),
        # storage_order asks for the Indices output too (flat indices over the whole tensor).
        Sample(
            [distinct(2, 2, 5, 4)],
            {"kernel_shape": (2, 2), "strides": (2, 2), "pads": (0, 0, 1, 0), "storage_order": 0},
            grad=[],
        ),
    ],
    "MaxUnpool": [
        # Indices as MaxPool(kernel 2x2, stride 2) gives them for a (2, 2, 4, 6) input.
        Sample(
            [
                r(2, 2, 2, 3),
                Const(_unpool_indices()),
                Const(np.array([2, 2, 4, 6], np.int64)),
            ],
            {"kernel_shape": (2, 2), "strides": (2, 2)},
        )
    ],
    "AveragePool": [
        Sample(
            [r(2, 3, 7, 6)],
            {
                "kernel_shape": (3, 2),
                "strides": (2, 1),
                "pads": (1, 0, 1, 1),
                "count_include_pad": 0,
            },
        ),
        Sample(
            [r(2, 3, 7, 6)],
            {
                "kernel_shape": (3, 3),
                "strides": (2, 2),
                "pads": (1, 1, 1, 1),
                "count_include_pad": 1,
            },
        ),
        Sample([r(2, 2, 9)], {"kernel_shape": (2,), "strides": (2,)}),
        Sample(
            [r(1, 2, 4, 5, 3)],
            {"kernel_shape": (2, 2, 2), "strides": (1, 2, 1), "pads": (0, 0, 1, 1, 1, 0)},
        ),
        # SAME over sizes known only at run time, padded cells left out of the mean or not.
        Sample([r(2, 3, 7, 6)], {"kernel_shape": (3, 2), "strides": (2, 2), "auto_pad": "SAME_UPPER"},
               unknown=(2, 3)),  # fmt: skip
        Sample([r(2, 2, 5, 8)], {"kernel_shape": (2, 3), "strides": (2, 3), "auto_pad": "SAME_UPPER",
                                 "count_include_pad": 1}, unknown=(0, 3)),  # fmt: skip
    ],
}


def _recurrent_samples() -> dict[str, list[Sample]]:
    """Whole recurrences (time-major, T=3, batch 2, 3 features, 2 units), their reverse
    pass, and ONNX's fused RNN ops. Masks and dropout masks are not differentiated."""
    t, b, f, u = 3, 2, 3, 2

    def keras(cell, gates, extra=(), **attrs):
        base = {"activation": "tanh", "recurrent_activation": "hard_sigmoid", "save": 1}
        ins = [r(t, b, f), r(f, gates * u, lo=-0.7, hi=0.7), r(u, gates * u, lo=-0.7, hi=0.7),
               r(gates * u, lo=-0.3, hi=0.3), r(b, u, lo=-0.5, hi=0.5)]  # fmt: skip
        ins += [r(b, u)] if cell == "lstm" else []
        return ins + list(extra), {"cell": cell, **base, **attrs}

    def drop(n, width):
        return (rng.random((n, b, width)) > 0.3) * (1.0 / 0.7)

    lstm, lstm_attrs = keras("lstm", 4)
    gru, gru_attrs = keras("gru", 3, [bools(t, b), drop(3, f), drop(3, u)], has_mask=1, n_din=3, n_drec=3,
                           recurrent_activation="sigmoid")  # fmt: skip
    gru2, gru2_attrs = keras("gru", 3, [r(3 * u, lo=-0.3, hi=0.3), bools(t, b), drop(1, u)], reset_after=1,
                             has_mask=1, n_drec=1, activation="elu")  # fmt: skip
    rnn, rnn_attrs = keras("simple", 1, [bools(t, b), drop(1, f)], has_mask=1, n_din=1, activation="softsign")
    lstm2, lstm2_attrs = keras("lstm", 4, [bools(t, b), drop(4, f), drop(4, u)], has_mask=1, n_din=4, n_drec=4,
                               recurrent_activation="sigmoid", save=0)  # fmt: skip
    # The masked inference form with the native op's weights: this mask is neither a prefix
    # nor a suffix, so both evaluators run the Scan branch (onnx's reference LSTM ignores
    # sequence_lens; the native branch is checked against Keras in test_recurrent.py).
    holes = np.array([[True, False], [False, True], [True, True]])
    onnx_w = [r(1, 4 * u, f), r(1, 4 * u, u), r(1, 8 * u)]
    native_attrs = (("activations", ("Sigmoid", "Tanh", "Tanh")), ("hidden_size", u), ("layout", 0))
    lstm3, lstm3_attrs = keras("lstm", 4, [holes] + onnx_w, has_mask=1, recurrent_activation="sigmoid", save=0,
                               native=1, native_op="LSTM", native_attrs=native_attrs)  # fmt: skip
    grad_lstm = [r(t, b, u), r(b, u), r(b, u), r(u, 4 * u), r(t, b, 4 * u, lo=0.1, hi=0.9), r(t, b, u),
                 r(t, b, u), bools(t, b), drop(4, u)]  # fmt: skip
    grad_gru = [r(b, u), r(u, 3 * u), r(t, b, 3 * u, lo=0.1, hi=0.9), r(t, b, u), r(t, b, u)]
    grad_rnn = [r(t, b, u), r(b, u), r(u, u), r(t, b, u, lo=-0.9, hi=0.9), bools(t, b)]
    common = {"activation": "tanh", "recurrent_activation": "sigmoid"}

    def native(gates, dirs=1):
        # onnxruntime has float32 kernels only: the harness compares those.
        return [r(t, b, f), r(dirs, gates * u, f), r(dirs, gates * u, u), r(dirs, 2 * gates * u),
                np.full(b, t, np.int32), r(dirs, b, u)]  # fmt: skip

    # A convolutional LSTM: frames of 2 filters over 3x2 cells, a 3x2 recurrent kernel
    # (an even side pads one more cell at the end), the input already projected.
    conv = (2, 3, 2, 3, 2)
    cu = 2 * 3 * 2

    def conv_lstm(extra=(), **attrs):
        ins = [r(t, b, 4 * cu, lo=-1.0, hi=1.0), r(8, 2, 3, 2, lo=-0.5, hi=0.5), r(b, cu, lo=-0.5, hi=0.5),
               r(b, cu)]  # fmt: skip
        return Sample(ins + list(extra), {"cell": "lstm", "activation": "tanh", "recurrent_activation": "sigmoid",
                                          "save": 1, "conv": conv, **attrs}, grad=[0, 1, 2, 3])  # fmt: skip

    return {
        "KerasRNN": [
            conv_lstm(),
            conv_lstm([bools(t, b), drop(4, cu)], has_mask=1, n_drec=4, activation="relu"),
            conv_lstm([drop(1, cu)], n_drec=1, recurrent_activation="hard_sigmoid"),
            Sample(lstm, lstm_attrs),
            Sample(gru, gru_attrs, grad=[0, 1, 2, 3, 4]),
            Sample(gru2, gru2_attrs, grad=[0, 1, 2, 3, 4, 5]),
            Sample(rnn, rnn_attrs, grad=[0, 1, 2, 3, 4]),
            Sample(lstm2, lstm2_attrs, grad=[]),
            Sample(lstm3, lstm3_attrs, grad=[]),
        ],
        "KerasRNNGrad": [
            Sample(grad_lstm, {"cell": "lstm", **common, "has_dy": 1, "has_mask": 1, "n_drec": 4}),
            Sample(grad_gru, {"cell": "gru", **common, "reset_after": 1}),
            Sample(grad_rnn, {"cell": "simple", **common, "has_dy": 1, "has_mask": 1}),
            Sample([r(t, b, cu), r(b, cu), r(b, cu), r(8, 2, 3, 2), r(t, b, 4 * cu, lo=0.1, hi=0.9), r(t, b, cu),
                    r(t, b, cu), drop(4, cu)], {"cell": "lstm", **common, "has_dy": 1, "n_drec": 4, "conv": conv}),
        ],
        "LSTM": [Sample(native(4) + [r(1, b, u)], {"hidden_size": u})],
        "GRU": [
            Sample(native(3), {"hidden_size": u, "linear_before_reset": 1}),
            Sample(native(3, dirs=2), {"hidden_size": u, "direction": "bidirectional"}),
        ],
        "RNN": [Sample(native(1), {"hidden_size": u})],
    }


SAMPLES.update(_recurrent_samples())


# IR-only ops are resolved before emission; each has a dedicated test named here.
META_TESTS = {
    "Placeholder": "test_ops.py::test_meta_sources_become_inputs_and_initializers",
    "Variable": "test_ops.py::test_meta_sources_become_inputs_and_initializers",
    "Constant": "test_ops.py::test_meta_sources_become_inputs_and_initializers",
    "LearningPhase": "test_ops.py::test_meta_training_switch_is_specialized",
    "InTrainPhase": "test_ops.py::test_meta_training_switch_is_specialized",
}
