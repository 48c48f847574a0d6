"""Standalone ONNX files: the inference graph, or the whole training step.

Inference export (`model.export(path)`): inputs and outputs named after the model's input
and output layers, a symbolic `batch` axis, weights as initializers, opset 18 unless asked
otherwise, standard ONNX operators only (no onnxruntime contrib ops), and `metadata_props`
holding `kgraph_version`, `keras_version`, `keras_class` and `keras_config` (the model's
`to_json()`, so `model_from_json` rebuilds the architecture).

Training export (`model.export(path, training=True)`): one call of the program runs one
`train_on_batch` step, exactly the program kgraph itself runs. Naming convention:

* **Batch inputs**: each model input by its input layer's name; for each output with a
  loss, `<output>_target` and `<output>_sample_weights` (shape `(batch,)`, or
  `(batch, time)` with `sample_weight_mode='temporal'`; feed ones for unweighted training).
* **Results**: `loss`, then the rest of `model.metrics_names` (e.g. `dense_2_loss`,
  `acc`), each a scalar computed before the update, as `train_on_batch` returns them.
* **State**: every variable the step reads is a graph input *and* an initializer of the
  same name holding its value at export time, so a run without it uses the exported
  value and a feed overrides it. Model weights are named by their Keras weight name
  without `:0` (`dense_1/kernel`); optimizer state `optimizer/iterations`,
  `optimizer/<weight>/<slot>` (e.g. `optimizer/dense_1/kernel/m`; slot names as
  tf-keras's legacy optimizers use them) and hyper-parameters `optimizer/lr`,
  `optimizer/beta_1`, ... (feed one to change it); the random-stream counter that dropout
  masks hash is `rng_step`.
* **New state**: each state input `S` that the step changes has an output `S__new`.
  Training loops feed the batch and the previous step's `S__new` values as `S`.

The metadata entry `kgraph_training` lists the same as JSON: `{"inputs": [...],
"outputs": [...], "state": [{"name", "output", "kind"}]}` (`output` null for read-only
state such as hyper-parameters).

Models larger than 2 GB cannot be a single protobuf: `export` then writes the tensors to
`<file>.data` beside the model (ONNX external data; load the model by path).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

import kgraph
from kgraph.ir import LoweringError, Variable, get_default_graph
from kgraph.ir.ops import OPSET
from kgraph.engine.saving import target_directory
from lowering import lower
from lowering.opset import MIN_OPSET, downgrade

__all__ = ["to_onnx", "export", "MAX_PROTO_BYTES"]

MAX_PROTO_BYTES = 2**31 - 2**24
"""Above this size (protobuf's 2 GiB limit less a margin) `export` writes external data."""

_STANDARD_DOMAINS = ("", "ai.onnx")


def _metadata(model: Any) -> dict[str, str]:
    from kgraph.engine.config import KERAS_VERSION

    metadata = {"kgraph_version": kgraph.__version__, "keras_version": KERAS_VERSION,
                "keras_class": type(model).__name__}  # fmt: skip
    try:
        metadata["keras_config"] = model.to_json()
    except (TypeError, ValueError, NotImplementedError) as err:
        # A custom layer without get_config still exports; the file says why it has no config.
        metadata["keras_config_error"] = f"{type(err).__name__}: {err}"
    return metadata


def _unique(names: list[str], taken: set[str]) -> list[str]:
    out = []
    for name in names:
        cand, k = name, 1
        while cand in taken:
            cand, k = f"{name}_{k}", k + 1
        taken.add(cand)
        out.append(cand)
    return out


def _inference_proto(model: Any) -> onnx.ModelProto:
    names = _unique(list(model.output_names), set(model.input_names))
    program = lower(
        get_default_graph(), list(zip(model.input_names, model.inputs)), list(zip(names, model.outputs)),
        training=False, name=model.name, variables_as="initializers", metadata=_metadata(model),
    )  # fmt: skip
    return program.model


def _state_names(model: Any) -> dict[int, tuple[str, str]]:
    """`id(variable) -> (exported name, kind)` for the variables a train step can touch."""
    from kgraph import backend as K
    from kgraph.engine.saving_optimizer import weight_names

    out: dict[int, tuple[str, str]] = {}
    for w in model.weights:
        out.setdefault(id(w), (w.op_name, "weight"))
    optimizer = model.optimizer
    params = model._collected_trainable_weights
    for w, name in zip(optimizer.weights, weight_names(optimizer, params)):
        parts = name[:-2].split("/") if name.endswith(":0") else name.split("/")
        if len(parts) > 1 and parts[0] == type(optimizer).__name__:
            parts = parts[1:]
        out.setdefault(id(w), ("optimizer/" + "/".join(parts), "optimizer"))
    for attr, value in vars(optimizer).items():
        if isinstance(value, Variable):
            out.setdefault(id(value), (f"optimizer/{attr}", "optimizer"))
    out.setdefault(id(K.rng_step()), ("rng_step", "counter"))
    return out


def _rename(graph: onnx.GraphProto, mapping: Mapping[str, str]) -> None:
    """Renames tensors throughout `graph`, including references from subgraphs (a name a
    subgraph declares itself shadows the outer one and is left alone)."""

    def walk(g: onnx.GraphProto, outer: bool) -> None:
        local = set() if outer else {v.name for v in g.input} | {t.name for t in g.initializer}
        local |= set() if outer else {o for n in g.node for o in n.output}
        live = {k: v for k, v in mapping.items() if k not in local}
        if outer:
            for seq in (g.input, g.output, g.value_info):
                for v in seq:
                    v.name = live.get(v.name, v.name)
            for t in g.initializer:
                t.name = live.get(t.name, t.name)
        for node in g.node:
            node.input[:] = [live.get(n, n) for n in node.input]
            if outer:
                node.output[:] = [live.get(n, n) for n in node.output]
            for attr in node.attribute:
                for sub in ([attr.g] if attr.HasField("g") else []) + list(attr.graphs):
                    walk(sub, outer=False)

    walk(graph, outer=True)


def _all_names(graph: onnx.GraphProto) -> set[str]:
    names = {v.name for v in graph.input} | {v.name for v in graph.output}
    names |= {t.name for t in graph.initializer}
    for node in graph.node:
        names.update(node.input)
        names.update(node.output)
    return names


def _training_proto(model: Any) -> onnx.ModelProto:
    """The train step `train_on_batch` runs, renamed to the documented convention, with its
    state as overridable initializers."""
    model._check_compiled("exporting the training step")
    program = model._make_train_function().program
    proto = onnx.ModelProto()
    proto.CopyFrom(program.model)
    graph = proto.graph
    names = _state_names(model)
    mapping: dict[str, str] = {}
    fetch_names = _unique(list(model.metrics_names), set(program.feeds))
    if len(fetch_names) != len(program.fetches):
        raise LoweringError(
            f"the train program returns {len(program.fetches)} results but the model's "
            f"metrics_names are {model.metrics_names}"
        )
    mapping.update(zip(program.fetches, fetch_names))
    taken = set(program.feeds) | set(fetch_names)
    state: list[dict[str, Any]] = []
    by_var: dict[int, str] = {}
    for old, var in program.state_in:
        base, kind = names.get(id(var), (var.op_name, "state"))
        new = _unique([base], taken)[0]
        mapping[old] = by_var[id(var)] = new
        state.append({"name": new, "output": None, "kind": kind})
    outputs = {id(var): old for old, var in program.state_out}
    for entry, (_, var) in zip(state, program.state_in):
        if id(var) in outputs:
            entry["output"] = mapping[outputs[id(var)]] = _unique([f"{entry['name']}__new"], taken)[0]
    for old, var in program.state_out:
        if old not in mapping:  # written without being read
            base = by_var.get(id(var)) or names.get(id(var), (var.op_name, ""))[0]
            mapping[old] = _unique([f"{base}__new"], taken)[0]
    clash = (_all_names(graph) - set(mapping)) & set(mapping.values())
    if clash:
        raise LoweringError(f"exported names {sorted(clash)} clash with tensors of the train program")
    _rename(graph, mapping)
    values = {by_var[id(var)]: var.value for _, var in program.state_in}
    for vi in graph.input:
        if vi.name in values:
            graph.initializer.append(numpy_helper.from_array(np.asarray(values[vi.name]), vi.name))
    del proto.metadata_props[:]
    meta = _metadata(model)
    meta["kgraph_training"] = json.dumps({
        "inputs": [mapping.get(n, n) for n in program.feeds], "outputs": fetch_names, "state": state,
    })  # fmt: skip
    for key, value in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    return proto


def _proto_bytes(proto: onnx.ModelProto) -> int:
    """The serialized size, summed per tensor and node (a whole >2 GB proto cannot be sized)."""
    graph = proto.graph
    return (sum(t.ByteSize() for t in graph.initializer) + sum(n.ByteSize() for n in graph.node)
            + sum(p.ByteSize() for p in proto.metadata_props))  # fmt: skip


def _check(proto: onnx.ModelProto, max_bytes: int, full: bool = False) -> None:
    unknown = sorted({n.domain for n in proto.graph.node if n.domain not in _STANDARD_DOMAINS})
    if unknown:
        raise LoweringError(f"the exported graph uses non-standard operator domains {unknown}")
    if _proto_bytes(proto) <= max_bytes:
        try:
            onnx.checker.check_model(proto, full_check=full)
        except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as err:
            if not full:
                raise
            raise ValueError(f"the graph is not valid at opset {proto.opset_import[0].version}: {err}") from None


def to_onnx(model: Any, opset: int | None = None, training: bool = False,
            max_bytes: int = MAX_PROTO_BYTES) -> onnx.ModelProto:  # fmt: skip
    """The model as an `onnx.ModelProto` (see the module docstring for both forms).

    Args:
        model: a built `Model` or `Sequential` (compiled, for `training=True`).
        opset: the ONNX opset to target; None keeps kgraph's (18). Older ones go through
            `lowering.opset.downgrade`, newer ones through `onnx.version_converter`.
        training: the train step instead of the inference graph.
        max_bytes: above this size the proto is checked by `export` from its file instead
            (protobuf cannot hold more than 2 GB).

    Raises:
        RuntimeError: `training=True` on a model that is not compiled.
        ValueError: an opset the graph cannot be converted to.
    """
    proto = _training_proto(model) if training else _inference_proto(model)
    if opset is not None and opset != OPSET:
        if not isinstance(opset, int) or isinstance(opset, bool) or opset < MIN_OPSET:
            raise ValueError(f"opset must be an integer >= {MIN_OPSET}, got {opset!r}")
        try:
            if opset < OPSET:
                proto = downgrade(proto, opset)
            else:
                proto = onnx.version_converter.convert_version(proto, opset)
        except Exception as err:  # the converter raises bare RuntimeErrors and others
            raise ValueError(f"Cannot convert the exported graph to opset {opset}: {err}") from None
        _check(proto, max_bytes, full=True)
        return proto
    _check(proto, max_bytes)
    return proto


def export(model: Any, filepath: str, format: str = "onnx", opset: int | None = None,  # noqa: A002
           training: bool = False, max_bytes: int = MAX_PROTO_BYTES) -> None:  # fmt: skip
    """Writes `to_onnx(model, opset, training)` to `filepath`, atomically (a failed write
    keeps the old file). Above `max_bytes` (default just under 2 GB) the tensors go to
    `<filename>.data` in the same folder, as ONNX external data.

    Raises:
        ValueError: an unknown `format` or unconvertible `opset`.
    """
    if format != "onnx":
        raise ValueError(f"Unknown export format {format!r}; valid choices: onnx")
    filepath = os.fspath(filepath)
    directory = target_directory(filepath)
    proto = to_onnx(model, opset, training=training, max_bytes=max_bytes)
    base = os.path.basename(filepath)
    tmpdir = tempfile.mkdtemp(prefix=".kgraph-", dir=directory)
    try:
        tmp = os.path.join(tmpdir, base)
        if _proto_bytes(proto) > max_bytes:
            location = f"{base}.data"
            onnx.save_model(proto, tmp, save_as_external_data=True, all_tensors_to_one_file=True,
                            location=location, size_threshold=1024)  # fmt: skip
            onnx.checker.check_model(tmp)
            if os.path.exists(os.path.join(tmpdir, location)):  # absent if every tensor is tiny
                os.replace(os.path.join(tmpdir, location), os.path.join(directory, location))
        else:
            with open(tmp, "wb") as f:
                f.write(proto.SerializeToString())
        os.replace(tmp, filepath)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
