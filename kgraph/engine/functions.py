"""Compiled programs: lowering once, then executing steps over device-resident state."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from kgraph.ir import Tensor, Variable, get_default_graph
from lowering import Program, lower
from runtime import Executor, StateBuffer, bake_state

__all__ = ["CompiledFunction", "buffer_for", "evaluate_tensors"]

_DEVICE = ["cpu"]


def set_device(device: str) -> None:
    """Where new programs run: 'cpu' or 'cuda' (needs onnxruntime-gpu; falls back with a warning)."""
    _DEVICE[0] = device


def buffer_for(var: Variable) -> StateBuffer:
    """The variable's runtime buffer, created from its host value on first use."""
    buf = var.device_buffer
    if buf is None:
        buf = StateBuffer(var.value, "cpu")
        var.attach(buf)
    return buf  # type: ignore[return-value]


class CompiledFunction:
    """A lowered program bound to the variables it reads and updates.

    Call it with the batch arrays in `feed_names` order (unused feeds are skipped); it
    returns the fetched arrays. Updated variables change in place on the device.
    """

    def __init__(self, program: Program, feed_names: Sequence[str]) -> None:
        self.program = program
        self._pick = [list(feed_names).index(n) for n in program.feeds]
        self._dtypes = [
            np.dtype(_feed_dtype(program, n)) for n in program.feeds
        ]
        self.executor_bytes = program.model.SerializeToString()
        self.executor = Executor(
            self.executor_bytes,
            program.feeds,
            program.fetches,
            [n for n, _ in program.state_in],
            [n for n, _ in program.state_out],
            _DEVICE[0],
        )
        self._ins = [buffer_for(v) for _, v in program.state_in]
        self._outs = [buffer_for(v) for _, v in program.state_out]
        self._baked: tuple[tuple, Executor] | None = None
        self._same_state_calls = 0
        self._last_versions: tuple | None = None

    # Programs that only read state (predict) run faster with the weights as initializers,
    # which onnxruntime pre-packs; a baked copy is made once the weights look settled and
    # dropped as soon as they change.
    BAKE_AFTER_CALLS = 3
    BAKE_FOR_BATCHES = 32

    def _executor_for(self, batches_hint: int = 1) -> tuple[Executor, list]:
        if self._outs or not self._ins:
            return self.executor, self._ins
        versions = tuple(b.version for b in self._ins)
        if self._baked is not None and self._baked[0] == versions:
            return self._baked[1], []
        self._same_state_calls = self._same_state_calls + 1 if versions == self._last_versions else 1
        self._last_versions = versions
        if self._same_state_calls >= self.BAKE_AFTER_CALLS or batches_hint >= self.BAKE_FOR_BATCHES:
            state = [(n, b.read()) for (n, _), b in zip(self.program.state_in, self._ins)]
            baked = Executor(bake_state(self.executor_bytes, state), self.program.feeds,
                             self.program.fetches, [], [], _DEVICE[0])  # fmt: skip
            self._baked = (versions, baked)
            return baked, []
        return self.executor, self._ins

    def __call__(self, feeds: Sequence[np.ndarray]) -> list[np.ndarray]:
        batch = []
        for i, dtype in zip(self._pick, self._dtypes):
            a = feeds[i]
            if a.dtype != dtype or not a.flags.c_contiguous:
                a = np.ascontiguousarray(a, dtype=dtype)
            batch.append(a)
        executor, ins = self._executor_for()
        return executor.run(batch, ins, self._outs)

    def output_specs(self) -> list[tuple[tuple, np.dtype]] | None:
        """Static (shape without batch, dtype) of each fetch, or None if any is unknown (or
        the program updates state, which `call_into` does not write back)."""
        if self.program.state_out:
            return None
        if not hasattr(self, "_output_specs"):
            self._output_specs = self._read_output_specs()
        return self._output_specs

    def _read_output_specs(self) -> list[tuple[tuple, np.dtype]] | None:
        from onnx import helper

        specs = []
        by_name = {o.name: o for o in self.program.model.graph.output}
        for name in self.program.fetches:
            t = by_name[name].type.tensor_type
            dims = [d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim]
            if not dims or any(d is None for d in dims[1:]):
                return None
            specs.append((tuple(dims[1:]), np.dtype(helper.tensor_dtype_to_np_dtype(t.elem_type))))
        return specs

    def call_into(self, feeds: Sequence[np.ndarray], outputs: Sequence[np.ndarray], batches_hint: int = 1) -> None:
        """Like calling, but writes the fetches into `outputs` (programs without updates).
        `batches_hint` is how many calls the caller is about to make with this state."""
        batch = []
        for i, dtype in zip(self._pick, self._dtypes):
            a = feeds[i]
            if a.dtype != dtype or not a.flags.c_contiguous:
                a = np.ascontiguousarray(a, dtype=dtype)
            batch.append(a)
        executor, ins = self._executor_for(batches_hint)
        executor.run_into(batch, outputs, ins)


def _feed_dtype(program: Program, name: str) -> str:
    from onnx import helper

    for vi in program.model.graph.input:
        if vi.name == name:
            return helper.tensor_dtype_to_np_dtype(vi.type.tensor_type.elem_type).name
    raise KeyError(name)


def evaluate_tensors(tensors: Sequence[Tensor]) -> list[np.ndarray]:
    """Values of tensors that depend only on variables and constants (`K.eval`)."""
    graph = tensors[0].graph if tensors else get_default_graph()
    program = lower(graph, [], [(f"out{i}", t) for i, t in enumerate(tensors)], training=False, name="eval")
    return CompiledFunction(program, [])([])
