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


register("InTrainPhase", _in_train_phase_infer, meta=True)
