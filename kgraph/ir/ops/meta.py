"""IR-only ops: graph inputs, weights, constants and the training-mode switch.

Placeholder, Variable and Constant become graph inputs or initializers at emission;
LearningPhase and InTrainPhase are resolved by mode specialization and never emitted.
"""

from __future__ import annotations

from kgraph.ir.dtypes import DType
from kgraph.ir.errors import ShapeError
from kgraph.ir.ops._rules import broadcast_shapes, same_dtype
from kgraph.ir.ops.registry import register
from kgraph.ir.spec import TensorSpec


def _source(specs, attrs, consts):
    raise ShapeError("source ops carry their spec explicitly")


register("Placeholder", _source, meta=True)
register("Variable", _source, meta=True)
register("Constant", _source, meta=True)
register("LearningPhase", lambda specs, attrs, consts: [TensorSpec((), DType.bool)], meta=True)


def _in_train_phase_infer(specs, attrs, consts):
    train, test = specs
    return [TensorSpec(broadcast_shapes(train.shape, test.shape), same_dtype(specs))]


def _in_train_phase_vjp(ctx, g):
    # Each branch gets the cotangent only in its own mode; specialization resolves the switch
    # in the gradient exactly as in the forward pass.
    # The other mode's branch gets zeros of the cotangent's shape, not a scalar: its
    # gradient rules (a Concat's slices) may need the axes.
    import numpy as np

    from kgraph.ir import build as B

    zeros = B.apply1("ConstantOfShape", B.apply1("Shape", g), value=np.zeros((), g.dtype.numpy))
    train = B.apply1("InTrainPhase", g, zeros) if ctx.needs[0] else None
    test = B.apply1("InTrainPhase", zeros, g) if ctx.needs[1] else None
    return [train, test]


register("InTrainPhase", _in_train_phase_infer, _in_train_phase_vjp, meta=True)
