"""The Keras engine: layer contract, containers, training."""

from __future__ import annotations

from kgraph.engine.topology import Input, InputLayer, InputSpec, Layer, Node
from kgraph.engine.training import Model

__all__ = ["Input", "InputLayer", "InputSpec", "Layer", "Model", "Node"]
