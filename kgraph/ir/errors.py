"""Typed errors raised while building or lowering IR graphs."""

from __future__ import annotations

__all__ = ["IRError", "ShapeError", "RegistryError", "LoweringError"]


class IRError(Exception):
    """Base class of kgraph's graph-building errors."""


class ShapeError(IRError, ValueError):
    """Operand specs that an op cannot accept. The message names the op, the specs and the
    layer that was being called."""


class RegistryError(IRError):
    """An op registered twice, or used without being registered."""


class LoweringError(IRError):
    """A graph that cannot be turned into an ONNX program."""
