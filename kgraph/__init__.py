"""kgraph: the Keras 2 API as a graph compiler to ONNX.

`import kgraph as keras` gives the Keras 2 module layout; submodules load on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_SUBMODULES = (
    "activations",
    "applications",
    "backend",
    "callbacks",
    "constraints",
    "engine",
    "initializers",
    "layers",
    "losses",
    "metrics",
    "models",
    "optimizers",
    "preprocessing",
    "regularizers",
    "utils",
    "wrappers",
    "datasets",
)


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name == "Input":
        from kgraph.layers import Input

        return Input
    raise AttributeError(f"module 'kgraph' has no attribute {name!r}")


def __dir__() -> list[str]:
    public = {n for n in globals() if n.startswith("__") or n in _SUBMODULES}
    return sorted(public | set(_SUBMODULES) | {"Input"})
