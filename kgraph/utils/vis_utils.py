"""`plot_model`: the layer graph of a model drawn with graphviz (through pydot)."""

from __future__ import annotations

from typing import Any

__all__ = ["model_to_dot", "plot_model"]


def _pydot():
    try:
        import pydot
    except ImportError:
        raise ImportError(
            "plot_model needs pydot and the graphviz programs: `pip install pydot` and install "
            "graphviz (for example `apt-get install graphviz`)."
        ) from None
    try:
        pydot.Dot.create(pydot.Dot())
    except (OSError, FileNotFoundError, Exception) as err:  # graphviz's `dot` is missing
        raise ImportError(
            f"plot_model found pydot but not graphviz's `dot` program ({err}); install graphviz, "
            "for example `apt-get install graphviz`."
        ) from None
    return pydot


def _shape_label(shape: Any) -> str:
    return str(shape).replace("None", "?")


def model_to_dot(model, show_shapes: bool = False, show_layer_names: bool = True, rankdir: str = "TB"):
    """A `pydot.Dot` with one node per layer and one edge per connection in the model."""
    pydot = _pydot()
    if rankdir not in ("TB", "LR"):
        raise ValueError(f"rankdir must be 'TB' or 'LR', got {rankdir!r}")
    dot = pydot.Dot(graph_type="digraph", rankdir=rankdir)
    dot.set_node_defaults(shape="record")
    layers = list(getattr(model, "input_layers", [])) + [la for la in model.layers if la not in getattr(model, "input_layers", [])]
    for layer in layers:
        cls = type(layer).__name__
        label = f"{layer.name}: {cls}" if show_layer_names else cls
        if show_shapes:
            try:
                ins = _shape_label(layer.input_shape)
            except (AttributeError, RuntimeError):
                ins = "multiple"
            try:
                outs = _shape_label(layer.output_shape)
            except (AttributeError, RuntimeError):
                outs = "multiple"
            label = f"{label}|{{input:|output:}}|{{{ins}|{outs}}}"
        dot.add_node(pydot.Node(str(id(layer)), label=label))
    members = {id(la) for la in layers}
    for layer, node in model._node_order():
        for inbound in node.inbound_layers:
            if inbound is not None and id(inbound) in members:
                dot.add_edge(pydot.Edge(str(id(inbound)), str(id(layer))))
    return dot


def plot_model(model, to_file: str = "model.png", show_shapes: bool = False,
               show_layer_names: bool = True, rankdir: str = "TB") -> None:  # fmt: skip
    """Draws the model's layer graph to `to_file` (format from the extension, PNG by default).

    Raises:
        ImportError: pydot or graphviz is missing (the message says how to install them).
    """
    dot = model_to_dot(model, show_shapes, show_layer_names, rankdir)
    extension = to_file.rsplit(".", 1)[-1] if "." in to_file else "png"
    dot.write(to_file, format=extension)
