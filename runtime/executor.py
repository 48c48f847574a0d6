"""Executors: one cached InferenceSession per program, run over bound device state."""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Sequence

import numpy as np
import onnxruntime as ort

from runtime.state import StateBuffer

__all__ = ["Executor", "resolve_providers", "clear_cache", "bake_state", "get_session_options", "set_session_options"]

_SESSIONS: dict[tuple[str, tuple[str, ...]], ort.InferenceSession] = {}
_OPTIONS: list[ort.SessionOptions | None] = [None]
_GENERATION = [0]  # bumped by set_session_options: executors then re-create their sessions


def get_session_options() -> ort.SessionOptions:
    """The options new sessions are created with (threads, optimization level, ...)."""
    if _OPTIONS[0] is None:
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        _OPTIONS[0] = opts
    return _OPTIONS[0]


def set_session_options(options: ort.SessionOptions | None) -> None:
    """Creates every later session with `options` (None: the defaults); cached sessions are
    dropped so the next run uses them."""
    if options is not None and not isinstance(options, ort.SessionOptions):
        raise TypeError(f"Expected an onnxruntime.SessionOptions, got {type(options).__name__}")
    _OPTIONS[0] = options
    _SESSIONS.clear()
    _GENERATION[0] += 1


def clear_cache() -> None:
    _SESSIONS.clear()


def resolve_providers(device: str = "cpu") -> list[str]:
    """ONNX Runtime providers for `device` ('cpu' or 'cuda'); falls back to CPU with a warning."""
    if device not in ("cpu", "cuda"):
        raise ValueError(f"Unknown device {device!r}; valid choices: cpu, cuda")
    if device == "cuda":
        if "CUDAExecutionProvider" in ort.get_available_providers():
            return ["CUDAExecutionProvider", "CPUExecutionProvider"]
        warnings.warn(
            "CUDA was requested but this onnxruntime has no CUDAExecutionProvider "
            "(install onnxruntime-gpu); running on the CPU.",
            stacklevel=3,
        )
    return ["CPUExecutionProvider"]


def _session(model_bytes: bytes, providers: Sequence[str]) -> ort.InferenceSession:
    key = (hashlib.sha1(model_bytes).hexdigest(), tuple(providers))
    sess = _SESSIONS.get(key)
    if sess is None:
        sess = ort.InferenceSession(model_bytes, get_session_options(), providers=list(providers))
        _SESSIONS[key] = sess
    return sess


def bake_state(model_bytes: bytes, state: Sequence[tuple[str, np.ndarray]]) -> bytes:
    """The same program with the given state inputs turned into initializers holding their
    current values: onnxruntime can then pre-pack weight matrices for its GEMM kernels."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load_from_string(model_bytes)
    values = dict(state)
    kept = [i for i in model.graph.input if i.name not in values]
    del model.graph.input[:]
    model.graph.input.extend(kept)
    model.graph.initializer.extend(numpy_helper.from_array(v, n) for n, v in values.items())
    return model.SerializeToString()


class Executor:
    """Runs one program: `run(feeds, state_in, state_out)` -> fetched arrays.

    State inputs and outputs are StateBuffers; each output is written into its buffer's
    spare side and the buffer flips after the run. Bindings are built once per arrangement
    of buffer sides and reused, so a step binds only the batch.
    """

    def __init__(
        self,
        model_bytes: bytes,
        feeds: Sequence[str],
        fetches: Sequence[str],
        state_in: Sequence[str],
        state_out: Sequence[str],
        device: str = "cpu",
    ) -> None:
        self.providers = resolve_providers(device)
        self.device = "cuda" if self.providers[0] == "CUDAExecutionProvider" else "cpu"
        self._model_bytes = model_bytes
        self._generation = _GENERATION[0]
        self._session = _session(model_bytes, self.providers)
        self.feeds = tuple(feeds)
        self.fetches = tuple(fetches)
        self.state_in = tuple(state_in)
        self.state_out = tuple(state_out)
        self._bindings: dict[tuple, ort.IOBinding] = {}
        self._into: ort.IOBinding | None = None
        outputs = {o.name: o for o in self.session.get_outputs()}
        # Outputs whose shape changes with the batch must be re-bound before every run, or
        # onnxruntime would reuse the previous run's buffer (and its shape).
        self._dynamic = [
            name for name in self.fetches
            if any(not isinstance(d, int) for d in outputs[name].shape)
        ]  # fmt: skip

    @property
    def session(self) -> ort.InferenceSession:
        """The onnxruntime session, re-created (bindings too) after `set_session_options`."""
        if self._generation != _GENERATION[0]:
            self._session = _session(self._model_bytes, self.providers)
            self._generation = _GENERATION[0]
            self._bindings.clear()
            self._into = None
        return self._session

    def _binding(self, ins: Sequence[StateBuffer], outs: Sequence[StateBuffer]) -> ort.IOBinding:
        key = tuple(id(b.current) for b in ins) + tuple(id(b.spare) for b in outs)
        io = self._bindings.get(key)
        if io is None:
            if len(self._bindings) > 8:
                self._bindings.clear()
            io = self.session.io_binding()
            for name, buf in zip(self.state_in, ins):
                io.bind_ortvalue_input(name, buf.current)
            # Fetches first: get_outputs() lists outputs in binding order.
            for name in self.fetches:
                io.bind_output(name, "cpu")
            for name, buf in zip(self.state_out, outs):
                io.bind_ortvalue_output(name, buf.spare)
            self._bindings[key] = io
        return io

    def run(
        self,
        feeds: Sequence[np.ndarray],
        ins: Sequence[StateBuffer] = (),
        outs: Sequence[StateBuffer] = (),
    ) -> list[np.ndarray]:
        session = self.session  # first: a re-created session drops the cached bindings
        io = self._binding(ins, outs)
        for name, value in zip(self.feeds, feeds):
            io.bind_cpu_input(name, value)
        for name in self._dynamic:
            io.bind_output(name, "cpu")
        session.run_with_iobinding(io)
        results = io.get_outputs()
        fetched = [np.array(results[i].numpy()) for i in range(len(self.fetches))]
        for buf in outs:
            buf.flip()
        return fetched

    def run_into(self, feeds: Sequence[np.ndarray], outputs: Sequence[np.ndarray],
                 ins: Sequence[StateBuffer] = ()) -> None:  # fmt: skip
        """Runs a program without state outputs, writing the fetches straight into the given
        C-contiguous host arrays (zero copies: onnxruntime writes into their memory)."""
        session = self.session  # first: a re-created session drops the cached bindings
        io = self._into
        if io is None or getattr(self, "_into_key", None) != tuple(id(b.current) for b in ins):
            io = self._into = session.io_binding()
            self._into_key = tuple(id(b.current) for b in ins)
            for name, buf in zip(self.state_in, ins):
                io.bind_ortvalue_input(name, buf.current)
        for name, value in zip(self.feeds, feeds):
            io.bind_cpu_input(name, value)
        for name, out in zip(self.fetches, outputs):
            io.bind_output(name, "cpu", 0, out.dtype, list(out.shape), out.__array_interface__["data"][0])
        session.run_with_iobinding(io)
