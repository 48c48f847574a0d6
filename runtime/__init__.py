"""onnxruntime execution: cached sessions, device-resident double-buffered state.

Imports only onnx, onnxruntime and numpy.
"""

from __future__ import annotations

from runtime.executor import (
    Executor,
    bake_state,
    clear_cache,
    get_session_options,
    resolve_providers,
    set_session_options,
)
from runtime.state import StateBuffer

__all__ = [
    "Executor", "StateBuffer", "bake_state", "clear_cache", "get_session_options",
    "resolve_providers", "set_session_options",
]  # fmt: skip
