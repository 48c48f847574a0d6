"""`K.function`, `K.stop_gradient`: compiled callables over symbolic tensors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from kgraph.backend._ops import _t
from kgraph.ir import Tensor, get_default_graph
from kgraph.ir import build as B

__all__ = ["function", "stop_gradient", "Function"]


def stop_gradient(variables: Any) -> Any:
    """The same values, with no gradient flowing back through them."""
    if isinstance(variables, (list, tuple)):
        return [B.unary("StopGradient", _t(v)) for v in variables]
    return B.unary("StopGradient", _t(variables))


class Function:
    """A callable running `outputs` (and `updates`) for fed `inputs` through onnxruntime.

    If `K.learning_phase()` is among the inputs, its fed value (0 or 1) picks the inference
    or the training program, each lowered once.
    """

    def __init__(self, inputs: Sequence[Tensor], outputs: Sequence[Tensor], updates: Sequence[Any] = ()) -> None:
        self.inputs = list(inputs)
        self.outputs = list(outputs)
        self.updates = [u for u in updates if isinstance(u, tuple)]
        self._programs: dict[bool, Any] = {}

    def _program(self, training: bool):
        from kgraph.engine.functions import CompiledFunction
        from lowering import lower

        fn = self._programs.get(training)
        if fn is None:
            feeds = [(f"input_{i}", t) for i, t in enumerate(self.inputs) if t.op != "LearningPhase"]
            program = lower(
                get_default_graph(), feeds, [(f"output_{i}", t) for i, t in enumerate(self.outputs)],
                training=training, name="function", state_updates=self.updates,
            )  # fmt: skip
            fn = self._programs[training] = CompiledFunction(program, [n for n, _ in feeds])
        return fn

    def __call__(self, values: Sequence[Any]) -> list[np.ndarray]:
        if len(values) != len(self.inputs):
            raise ValueError(f"This function takes {len(self.inputs)} input value(s), got {len(values)}")
        training = False
        arrays = []
        for t, v in zip(self.inputs, values):
            if t.op == "LearningPhase":
                training = bool(int(np.asarray(v)))
            else:
                arrays.append(np.asarray(v))
        return self._program(training)(arrays)


def function(inputs: Sequence[Any], outputs: Sequence[Any], updates: Sequence[Any] | None = None, **kwargs: Any) -> Function:
    """Keras's `K.function(inputs, outputs, updates)`: returns `f(list_of_values) -> list`."""
    if kwargs:
        raise ValueError(f"Invalid argument(s) to K.function: {sorted(kwargs)}")
    return Function([_t(x) for x in inputs], [_t(x) for x in outputs], updates or ())
