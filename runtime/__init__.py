"""onnxruntime execution: cached sessions, device-resident double-buffered state.

Imports only onnx, onnxruntime and numpy.
"""

from __future__ import annotations

from runtime.executor import Executor, bake_state, clear_cache, resolve_providers
from runtime.state import StateBuffer

__all__ = ["Executor", "StateBuffer", "bake_state", "clear_cache", "resolve_providers"]
