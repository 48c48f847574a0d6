"""`K.function`, `K.stop_gradient`: compiled callables over symbolic tensors."""

from __future__ import annotations

import sys
import weakref
from collections.abc import Sequence
from typing import Any

import numpy as np

from kgraph.backend._ops import _t
from kgraph.ir import Graph, Tensor, get_default_graph
from kgraph.ir import build as B

__all__ = ["function", "stop_gradient", "Function", "print_tensor"]

# The Identity nodes made by print_tensor and their messages. ONNX has no print op, so the
# tensor itself is an Identity; K.function and K.eval fetch it alongside their outputs and
# print it after each run.
_PRINTS: weakref.WeakKeyDictionary[Graph, dict[int, str]] = weakref.WeakKeyDictionary()


def print_tensor(x: Any, message: str = "") -> Tensor:
    """`x` unchanged; its value is printed (to stderr, after `message`) whenever `K.function`
    or `K.eval` evaluates something that depends on it.

    Example:
        ```python
        y = K.print_tensor(x * 2, message="y = ")
        K.function([x], [y])([np.ones(3)])   # prints "y = [2. 2. 2.]"
        ```
    """
    y = B.unary("Identity", _t(x))
    _PRINTS.setdefault(y.graph, {})[y.node] = str(message)
    return y


def printed_tensors(outputs: Sequence[Tensor]) -> list[tuple[Tensor, str]]:
    """The print_tensor results that `outputs` depend on, in graph order."""
    if not outputs:
        return []
    graph = outputs[0].graph
    marks = _PRINTS.get(graph)
    if not marks:
        return []
    found = graph.ancestors(outputs)
    return [(Tensor(graph, nid), msg) for nid, msg in sorted(marks.items()) if nid in found]


def show_printed(prints: Sequence[tuple[Tensor, str]], values: Sequence[np.ndarray]) -> None:
    for (_, message), value in zip(prints, values, strict=True):
        print(f"{message}{np.asarray(value)}", file=sys.stderr)


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

    def __init__(
        self,
        inputs: Sequence[Tensor],
        outputs: Sequence[Tensor],
        updates: Sequence[Any] | None = (),
        name: str | None = None,
        **session_kwargs: Any,
    ) -> None:
        _check_kwargs(session_kwargs, SESSION_KWARGS, "K.Function")
        self.name = name
        updates = updates or ()
        self.inputs = list(inputs)
        self.outputs = list(outputs)
        self.updates = [u for u in updates if isinstance(u, tuple)]
        self._prints = printed_tensors(
            self.outputs + [_t(v) for _, v in self.updates if isinstance(v, Tensor)]
        )
        self._programs: dict[bool, Any] = {}

    def _program(self, training: bool):
        from kgraph.engine.functions import CompiledFunction
        from lowering import lower

        fn = self._programs.get(training)
        if fn is None:
            feeds = [(f"input_{i}", t) for i, t in enumerate(self.inputs) if t.op != "LearningPhase"]
            fetches = self.outputs + [t for t, _ in self._prints]
            program = lower(
                get_default_graph(), feeds, [(f"output_{i}", t) for i, t in enumerate(fetches)],
                training=training, name="function", state_updates=self.updates,
            )  # fmt: skip
            fn = self._programs[training] = CompiledFunction(program, [n for n, _ in feeds])
        return fn

    def __call__(self, values: Sequence[Any]) -> list[np.ndarray]:
        if len(values) != len(self.inputs):
            raise ValueError(f"This function takes {len(self.inputs)} input value(s), got {len(values)}")
        training = False
        arrays = []
        for t, v in zip(self.inputs, values, strict=True):
            if t.op == "LearningPhase":
                training = bool(int(np.asarray(v)))
            else:
                arrays.append(np.asarray(v))
        values = self._program(training)(arrays)
        n = len(self.outputs)
        show_printed(self._prints, values[n:])
        return values[:n]


SESSION_KWARGS = ("options", "run_metadata")
"""TensorFlow's Session.run arguments that Keras 2.0.5's K.function passes through. They
only configure TensorFlow's tracing, so they are accepted and have no effect."""


def _check_kwargs(kwargs: dict[str, Any], valid: Sequence[str], fn: str) -> None:
    unknown = sorted(set(kwargs) - set(valid))
    if unknown:
        shown = ", ".join(repr(k) for k in unknown)
        raise ValueError(
            f"Invalid argument(s) {shown} passed to {fn}; the valid keyword arguments are "
            f"{', '.join(sorted(valid))}"
        )


def function(
    inputs: Sequence[Any],
    outputs: Sequence[Any],
    updates: Sequence[Any] | None = None,
    **kwargs: Any,
) -> Function:
    """Keras's `K.function(inputs, outputs, updates=None, name=None)`: returns a callable
    `f(list_of_values) -> list_of_arrays`.

    Args:
        inputs: placeholders (and `K.learning_phase()`) fed, in order, by each call.
        outputs: tensors to compute.
        updates: `(variable, new_value)` pairs applied at each call.
        **kwargs: `name`, and TensorFlow's Session.run `options` and `run_metadata`
            (accepted, without effect).

    Raises:
        ValueError: for any other keyword argument, naming the valid ones, and for an output
            that is None.
    """
    _check_kwargs(kwargs, ("name", *SESSION_KWARGS), "K.function")
    missing = [i for i, out in enumerate(outputs) if out is None]
    if missing:
        raise ValueError(
            f"K.function: output(s) {missing} are None, not tensors; a gradient is None when the "
            "loss does not depend on that tensor (K.gradients gives None for it)"
        )
    return Function([_t(x) for x in inputs], [_t(x) for x in outputs], updates, **kwargs)
