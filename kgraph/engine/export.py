"""Export of a model's inference graph as a standalone ONNX file."""

from __future__ import annotations

import json
import os
import tempfile

import onnx

import kgraph
from kgraph.ir import get_default_graph
from kgraph.ir.ops import OPSET
from lowering import lower

__all__ = ["to_onnx", "export"]


def to_onnx(model, opset: int | None = None) -> onnx.ModelProto:
    """The inference graph with weights as initializers, inputs and outputs named after the
    model's input and output layers, and a symbolic `batch` axis."""
    metadata = {"kgraph_version": kgraph.__version__, "keras_class": type(model).__name__}
    try:
        metadata["keras_config"] = json.dumps(model.get_config())
    except (TypeError, ValueError, AttributeError):
        pass
    fetches = list(zip(model.output_names, model.outputs))
    program = lower(
        get_default_graph(), list(zip(model.input_names, model.inputs)), fetches,
        training=False, name=model.name, variables_as="initializers", metadata=metadata,
    )  # fmt: skip
    proto = program.model
    if opset is not None and opset != OPSET:
        proto = onnx.version_converter.convert_version(proto, opset)
    onnx.checker.check_model(proto)
    return proto


def export(model, filepath: str, format: str = "onnx", opset: int | None = None) -> None:  # noqa: A002
    """Writes `to_onnx(model)` to `filepath` atomically (a failed write keeps the old file)."""
    if format != "onnx":
        raise ValueError(f"Unknown export format {format!r}; valid choices: onnx")
    proto = to_onnx(model, opset)
    directory = os.path.dirname(os.path.abspath(filepath))
    fd, tmp = tempfile.mkstemp(prefix=".kgraph-", suffix=".onnx.tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(proto.SerializeToString())
        os.replace(tmp, filepath)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
