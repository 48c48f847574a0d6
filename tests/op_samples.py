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


@dataclass
class Sample:
    inputs: list[Any]
    attrs: dict[str, Any] = field(default_factory=dict)
    grad: list[int] | None = None


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


def ints(*shape, lo=0, hi=5, dtype=np.int64):
    return rng.integers(lo, hi, size=shape).astype(dtype)


def bools(*shape):
    return rng.integers(0, 2, size=shape).astype(bool)


SAMPLES: dict[str, list[Sample]] = {
    # unary, differentiable
    "Neg": [Sample([r(3, 4)])],
    "Abs": [Sample([away(3, 4)])],
    "Exp": [Sample([r(3, 4)])],
    "Log": [Sample([r(3, 4, lo=0.2, hi=3.0)])],
    "Sqrt": [Sample([r(3, 4, lo=0.2, hi=3.0)])],
    "Tanh": [Sample([r(3, 4)])],
    "Sigmoid": [Sample([r(3, 4)])],
    "Relu": [Sample([away(3, 4)])],
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
    "Mod": [Sample([ints(3, 4, lo=1, hi=20), ints(3, 4, lo=1, hi=6)])],
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
    "ReduceProd": [Sample([ints(3, 4, lo=1, hi=4)], {"axes": None, "keepdims": 0})],
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
    "Concat": [Sample([r(3, 2), r(3, 4), r(3, 1)], {"axis": 1})],
    "Slice": [
        Sample([r(4, 6)], {"starts": (1, 0), "ends": (3, 5), "axes": (0, 1), "steps": (1, 1)}),
        Sample([r(4, 6)], {"starts": (-2,), "ends": (2**63 - 1,), "axes": (1,), "steps": (1,)}),
    ],
    "Pad": [Sample([r(3, 4)], {"pads": (1, 0, 2, 3)})],
    "Gather": [Sample([r(5, 3), Const(np.array([[0, 4], [2, 2]], np.int64))], {"axis": 0})],
    "ScatterND": [
        Sample(
            [r(5, 3), Const(np.array([[1], [3], [1]], np.int64)), r(3, 3)],
            {"reduction": "add"},
        )
    ],
    "Shape": [Sample([r(3, 4)])],
    "Range": [
        Sample([Const(np.array(2, np.int64)), Const(np.array(11, np.int64)), Const(np.array(3, np.int64))])
    ],
    "ConstantOfShape": [
        Sample([Const(np.array([2, 3], np.int64))], {"value": np.zeros((), np.float32)})
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
    ],
}

# IR-only ops are resolved before emission; each has a dedicated test named here.
META_TESTS = {
    "Placeholder": "test_ops.py::test_meta_sources_become_inputs_and_initializers",
    "Variable": "test_ops.py::test_meta_sources_become_inputs_and_initializers",
    "Constant": "test_ops.py::test_meta_sources_become_inputs_and_initializers",
    "LearningPhase": "test_ops.py::test_meta_training_switch_is_specialized",
    "InTrainPhase": "test_ops.py::test_meta_training_switch_is_specialized",
}
