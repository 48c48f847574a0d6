"""IR -> ONNX lowering: small Graph -> Graph passes run in a fixed pipeline.

Imports only `kgraph.ir` (plus onnx for emission).
"""

from __future__ import annotations

from lowering.autodiff import gradients
from lowering.emit import emit
from lowering.pipeline import Program, lower

__all__ = ["Program", "emit", "gradients", "lower"]
