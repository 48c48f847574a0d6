"""The op vocabulary: ONNX operators at one pinned opset plus IR-only meta ops.

Importing this package registers every op; only modules in this package register.
"""

from __future__ import annotations

from kgraph.ir.ops import (  # noqa: F401
    conv,
    cumulative,
    elementwise,
    linalg,
    meta,
    nn,
    reduce,
    rnn,
    shape_ops,
)
from kgraph.ir.ops.registry import OpDef, VjpContext, get_op, registered_ops

OPSET = 18
"""The ONNX opset whose operator semantics the IR vocabulary follows."""

__all__ = ["OPSET", "OpDef", "VjpContext", "get_op", "registered_ops"]
