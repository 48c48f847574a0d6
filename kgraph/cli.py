"""The `kgraph` command line: convert Keras HDF5 models to ONNX and describe model files.

Usage::

    kgraph convert model.h5 model.onnx [--opset N] [--training]
    kgraph summary model.h5 | model.onnx
    python -m kgraph ...

Exit status: 0 on success, 1 when the input cannot be used (missing, damaged or
unsupported file; the message says why), 2 for a usage error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

__all__ = ["main"]

EXIT_OK, EXIT_USER_ERROR, EXIT_USAGE = 0, 1, 2


class CommandError(Exception):
    """An error to report as `kgraph: error: ...` with exit status 1."""


def _parser() -> argparse.ArgumentParser:
    import kgraph

    parser = argparse.ArgumentParser(
        prog="kgraph",
        description="Keras 2 models as ONNX: convert Keras .h5 files and describe model files.",
        epilog="Exit status: 0 success, 1 unusable input (the message says why), 2 usage error.",
    )
    parser.add_argument("--version", action="version", version=f"kgraph {kgraph.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    convert = sub.add_parser(
        "convert", help="convert a Keras .h5 model (kgraph, Keras 2.0.x or tf-keras) to ONNX",
        description="Converts a model saved with model.save() to an ONNX file that plain "
        "onnxruntime runs. The file's code is never executed (Lambda bytecode is refused).",
    )  # fmt: skip
    convert.add_argument("input", help="the .h5 file written by model.save()")
    convert.add_argument("output", help="the .onnx file to write")
    convert.add_argument("--opset", type=int, default=None, help="target ONNX opset (default 18)")
    convert.add_argument(
        "--training", action="store_true",
        help="export the train step (needs the file's training config) instead of inference",
    )  # fmt: skip
    summary = sub.add_parser(
        "summary", help="describe a .h5 (model or weights) or .onnx file",
        description="Prints the layers of a Keras .h5 model, the weights of a weights-only "
        ".h5 file, or the inputs, outputs and metadata of an .onnx file.",
    )  # fmt: skip
    summary.add_argument("file", help="a .h5 or .onnx file")
    return parser


def _require_file(path: str) -> None:
    if not os.path.exists(path):
        raise CommandError(f"{path}: no such file")
    if os.path.isdir(path):
        raise CommandError(f"{path} is a directory, not a model file")


def _convert(args: argparse.Namespace) -> None:
    from kgraph.models import load_model

    _require_file(args.input)
    if args.input.lower().endswith(".onnx"):
        raise CommandError(f"{args.input} is already an ONNX file; convert reads Keras .h5 files")
    model = load_model(args.input, compile=args.training)
    if args.training and not getattr(model, "_compiled", False):
        raise CommandError(f"{args.input} has no training config, so its train step cannot be exported")
    model.export(args.output, opset=args.opset, training=args.training)
    kind = "train step" if args.training else "inference graph"
    print(f"Wrote {args.output} ({kind} of {type(model).__name__} {model.name!r}, "
          f"{model.count_params()} parameters)")  # fmt: skip


def _h5_summary(path: str) -> None:
    from kgraph.engine.saving import attr_text, load_attributes, open_h5, read_array, reading
    from kgraph.models import load_model

    with open_h5(path) as f, reading(path):
        version, backend = attr_text(f, "keras_version"), attr_text(f, "backend")
        has_model = "model_config" in f.attrs
        training = attr_text(f, "training_config")
        optimizer_names = load_attributes(f["optimizer_weights"], "weight_names") if "optimizer_weights" in f else None
        if not has_model:
            layers = load_attributes(f, "layer_names")
            if layers is None:
                raise CommandError(f"{path} is HDF5 but neither a Keras model nor a Keras weight file")
            print(f"Keras weight file (keras_version {version}, backend {backend}): {len(layers)} layers")
            for name in layers:
                group = f[name]
                for weight in load_attributes(group, "weight_names") or []:
                    value = read_array(group, weight, f"layer {name!r}")
                    print(f"  {weight:<50} {str(value.shape):<16} {value.dtype}")
            return
    print(f"Keras model file (keras_version {version}, backend {backend})")
    model = load_model(path, compile=False)
    model.summary()
    if training:
        config = json.loads(training)
        optimizer = config.get("optimizer_config", {}) if isinstance(config, dict) else {}
        print(f"Training config: optimizer {optimizer.get('class_name')}, loss {config.get('loss')!r}, "
              f"metrics {config.get('metrics')!r}")  # fmt: skip
    if optimizer_names is not None:
        print(f"Optimizer state: {len(optimizer_names)} weights")


def _onnx_summary(path: str) -> None:
    import onnx
    from onnx import helper

    try:
        proto = onnx.load(path, load_external_data=False)
    except Exception as err:  # protobuf's DecodeError and friends
        raise CommandError(f"{path} is not a readable ONNX file: {err}") from None

    def describe(vi) -> str:
        t = vi.type.tensor_type
        dims = [d.dim_param or (str(d.dim_value) if d.HasField("dim_value") else "?") for d in t.shape.dim]
        return f"{vi.name}: {helper.tensor_dtype_to_np_dtype(t.elem_type)}[{', '.join(dims)}]"

    initializers = {t.name for t in proto.graph.initializer}
    opsets = ", ".join(f"{o.domain or 'ai.onnx'} {o.version}" for o in proto.opset_import)
    params = sum(int(_numel(t)) for t in proto.graph.initializer)
    print(f"ONNX model {proto.graph.name!r} (IR {proto.ir_version}, opset {opsets}, producer "
          f"{proto.producer_name or '?'}): {len(proto.graph.node)} nodes, {len(initializers)} "
          f"initializers, {params} values")  # fmt: skip
    inputs = [vi for vi in proto.graph.input if vi.name not in initializers]
    overridable = [vi for vi in proto.graph.input if vi.name in initializers]
    print("Inputs:")
    for vi in inputs:
        print(f"  {describe(vi)}")
    if overridable:
        print(f"State inputs with defaults: {len(overridable)}")
    print("Outputs:")
    for vi in proto.graph.output:
        print(f"  {describe(vi)}")
    for prop in proto.metadata_props:
        value = prop.value if len(prop.value) <= 100 else f"{prop.value[:97]}..."
        print(f"Metadata {prop.key}: {value}")


def _numel(tensor) -> int:
    n = 1
    for d in tensor.dims:
        n *= d
    return n


def _summary(args: argparse.Namespace) -> None:
    _require_file(args.file)
    with open(args.file, "rb") as f:
        head = f.read(8)
    if head == b"\x89HDF\r\n\x1a\n" or args.file.lower().endswith((".h5", ".hdf5", ".keras")):
        _h5_summary(args.file)
    elif args.file.lower().endswith(".onnx"):
        _onnx_summary(args.file)
    else:
        raise CommandError(f"{args.file}: unknown file type (expected an HDF5 .h5 or an .onnx file)")


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command line; returns the exit status."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # argparse exits 0 for --help/--version, 2 for usage
        return int(exit_.code or 0)
    if args.command is None:
        parser.print_usage(sys.stderr)
        print("kgraph: error: a command is required (convert or summary)", file=sys.stderr)
        return EXIT_USAGE
    try:
        {"convert": _convert, "summary": _summary}[args.command](args)
    except (CommandError, ValueError, TypeError, KeyError, RuntimeError, OSError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"kgraph: error: {message}", file=sys.stderr)
        return EXIT_USER_ERROR
    return EXIT_OK
