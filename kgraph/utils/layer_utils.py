"""Layer utilities of the Keras API: the `model.summary()` table and the conversion of conv
kernels between Theano's and TensorFlow's conventions."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

__all__ = ["convert_all_kernels_in_model", "count_params", "print_summary"]

# The layers Keras 2.0.5 converts (SeparableConv2D only ever existed on TensorFlow).
_CONV_CLASSES = ("Conv1D", "Conv2D", "Conv3D", "Conv2DTranspose")


def count_params(weights: Sequence[Any]) -> int:
    """The number of scalars in a list of weights, each weight counted once.

    Args:
        weights: objects with a `.shape` (tuple of ints), or numpy arrays.

    Returns:
        The total, as an int.
    """
    seen: set[int] = set()
    total = 0
    for w in weights:
        # Shared weights appear once per owner; Keras counts `set(weights)`.
        if id(w) in seen:
            continue
        seen.add(id(w))
        shape = getattr(w, "shape", None)
        if shape is None:
            shape = np.shape(w)
        total += int(np.prod(tuple(shape), dtype=np.int64))
    return total


def _nodes_by_depth(model: Any) -> list[list[Any]] | None:
    nodes_by_depth = getattr(model, "nodes_by_depth", None)
    if not isinstance(nodes_by_depth, dict):
        return None
    return [list(v) for v in nodes_by_depth.values()]


def _is_chain(model: Any, layers: Sequence[Any]) -> bool:
    """Whether the summary uses the short 3-column layout."""
    if type(model).__name__ == "Sequential":
        return True
    by_depth = _nodes_by_depth(model)
    if by_depth is not None:
        # The 2.0.5 rule: at most one node at each depth.
        return all(len(nodes) <= 1 for nodes in by_depth)
    # Without depth bookkeeping: a chain has one inbound node per layer, one input per
    # node, and no layer feeding two others.
    consumers: dict[int, int] = {}
    for layer in layers:
        nodes = list(getattr(layer, "inbound_nodes", None) or [])
        if len(nodes) > 1:
            return False
        for node in nodes:
            inbound = list(getattr(node, "inbound_layers", None) or [])
            if len(inbound) > 1:
                return False
            for src in inbound:
                consumers[id(src)] = consumers.get(id(src), 0) + 1
                if consumers[id(src)] > 1:
                    return False
    return True


def _output_shape(layer: Any) -> Any:
    try:
        return layer.output_shape
    except AttributeError:
        # Layers called more than once have no single output shape.
        return "multiple"


def _layer_params(layer: Any) -> int:
    if hasattr(layer, "count_params"):
        return layer.count_params()
    return count_params(list(getattr(layer, "weights", None) or []))


def _connections(layer: Any, relevant_nodes: list[Any] | None) -> list[str]:
    out = []
    for node in getattr(layer, "inbound_nodes", None) or []:
        # A layer shared with another model also has nodes outside this graph.
        if relevant_nodes and not any(node is n for n in relevant_nodes):
            continue
        inbound = list(getattr(node, "inbound_layers", None) or [])
        node_indices = list(getattr(node, "node_indices", None) or [0] * len(inbound))
        tensor_indices = list(getattr(node, "tensor_indices", None) or [0] * len(inbound))
        for src, ni, ti in zip(inbound, node_indices, tensor_indices):
            out.append(f"{src.name}[{ni}][{ti}]")
    return out


def print_summary(
    model: Any,
    line_length: int | None = None,
    positions: Sequence[float] | None = None,
    print_fn: Callable[[str], Any] = print,
) -> None:
    """Prints a table of a model's layers, in the Keras 2.0.5 `summary()` format.

    A Sequential model, or a functional graph with at most one node per depth, gets three
    columns (65 characters); other graphs get a fourth, "Connected to" column
    (100 characters) listing `layer[node_index][tensor_index]` for every input.

    Args:
        model: the model; read through `layers`, `trainable_weights`,
            `non_trainable_weights` and, when present, `nodes_by_depth`.
        line_length: the total width of the table.
        positions: where each column ends, as fractions of `line_length` (when the last
            is <= 1) or as absolute character positions.
        print_fn: called with each line.

    Example:
        ```python
        print_summary(model)   # the same as model.summary()
        ```
    """
    layers = list(getattr(model, "layers", None) or [])
    sequential_like = _is_chain(model, layers)
    relevant_nodes: list[Any] | None = None
    if sequential_like:
        line_length = line_length or 65
        positions = positions or [0.45, 0.85, 1.0]
        to_display = ["Layer (type)", "Output Shape", "Param #"]
    else:
        line_length = line_length or 100
        positions = positions or [0.33, 0.55, 0.67, 1.0]
        to_display = ["Layer (type)", "Output Shape", "Param #", "Connected to"]
        by_depth = _nodes_by_depth(model)
        relevant_nodes = [n for nodes in by_depth for n in nodes] if by_depth else None
    if positions[-1] <= 1:
        positions = [int(line_length * p) for p in positions]
    ends = [int(p) for p in positions]

    def print_row(fields: Sequence[Any]) -> None:
        line = ""
        for i, field in enumerate(fields):
            if i > 0:
                # Truncated fields would otherwise run into the next column.
                line = line[:-1] + " "
            line += str(field)
            line = line[: ends[i]]
            line += " " * (ends[i] - len(line))
        print_fn(line)

    print_fn("_" * line_length)
    print_row(to_display)
    print_fn("=" * line_length)
    for i, layer in enumerate(layers):
        fields = [f"{layer.name} ({type(layer).__name__})", _output_shape(layer)]
        fields.append(_layer_params(layer))
        if sequential_like:
            print_row(fields)
        else:
            connections = _connections(layer, relevant_nodes)
            print_row([*fields, connections[0] if connections else ""])
            for extra in connections[1:]:
                print_row(["", "", "", extra])
        print_fn(("=" if i == len(layers) - 1 else "_") * line_length)

    trainable = count_params(list(getattr(model, "trainable_weights", None) or []))
    non_trainable = count_params(list(getattr(model, "non_trainable_weights", None) or []))
    print_fn(f"Total params: {trainable + non_trainable:,}")
    print_fn(f"Trainable params: {trainable:,}")
    print_fn(f"Non-trainable params: {non_trainable:,}")
    print_fn("_" * line_length)


def _conv_layers(model: Any) -> list[Any]:
    found = []
    for layer in getattr(model, "layers", None) or []:
        if type(layer).__name__ in _CONV_CLASSES:
            found.append(layer)
        elif hasattr(layer, "layers"):  # a nested model
            found.extend(_conv_layers(layer))
    return found


def convert_all_kernels_in_model(model: Any) -> None:
    """Flips the kernels of every Conv1D, Conv2D, Conv3D and Conv2DTranspose layer on
    their spatial axes, in place.

    Theano convolves with the kernel flipped; TensorFlow (and ONNX) compute the
    cross-correlation. A model whose weights were trained on one backend computes the same
    function on the other after this conversion; applying it twice restores the kernels.
    Layers of nested models are converted too.

    Args:
        model: a Keras model.

    Example:
        ```python
        model.set_weights(weights_trained_with_theano)
        convert_all_kernels_in_model(model)   # now correct for kgraph's cross-correlation
        ```
    """
    from kgraph import backend as K
    from kgraph.engine.saving_legacy import flip_kernel

    kernels = [layer.kernel for layer in _conv_layers(model)]
    K.batch_set_value([(k, flip_kernel(K.get_value(k))) for k in kernels])
