"""Keras 2 layers."""

from __future__ import annotations

from kgraph.engine.topology import Input, InputLayer, InputSpec, Layer
from kgraph.layers.core import Activation, Dense, Dropout, Flatten
from kgraph.layers.core_extra import (
    ActivityRegularization,
    Lambda,
    Masking,
    Permute,
    RepeatVector,
    Reshape,
)
from kgraph.layers.merge import (
    Add,
    Average,
    Concatenate,
    Dot,
    Maximum,
    Multiply,
    add,
    average,
    concatenate,
    dot,
    maximum,
    multiply,
)

__all__ = ["Activation", "Dense", "Dropout", "Flatten", "Input", "InputLayer", "InputSpec", "Layer"]
__all__ += ["ActivityRegularization", "Lambda", "Masking", "Permute", "RepeatVector", "Reshape"]
__all__ += ["Add", "Average", "Concatenate", "Dot", "Maximum", "Multiply"]
__all__ += ["add", "average", "concatenate", "dot", "maximum", "multiply"]
