"""Keras 2 layers."""

from __future__ import annotations

from kgraph.engine.topology import Input, InputLayer, InputSpec, Layer
from kgraph.layers.core import Activation, Dense, Dropout, Flatten

__all__ = ["Activation", "Dense", "Dropout", "Flatten", "Input", "InputLayer", "InputSpec", "Layer"]
