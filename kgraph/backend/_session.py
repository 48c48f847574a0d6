"""Session state: names, the learning phase, variables and placeholders."""

from __future__ import annotations

import collections
from collections.abc import Sequence
from typing import Any

import numpy as np

from kgraph._config import floatx
from kgraph.ir import Graph, Tensor, Variable, as_dtype, get_default_graph, reset_default_graph

__all__ = [
    "backend",
    "get_uid",
    "reset_uids",
    "clear_session",
    "learning_phase",
    "set_learning_phase",
    "variable",
    "constant",
    "placeholder",
    "is_keras_tensor",
    "is_placeholder",
    "manual_variable_initialization",
    "get_value",
    "set_value",
    "batch_get_value",
    "batch_set_value",
    "int_shape",
    "ndim",
    "dtype",
    "count_params",
    "get_variable_shape",
    "eval",
    "rng_step",
    "name_scope",
    "get_session",
    "set_session",
    "image_dim_ordering",
    "set_image_dim_ordering",
]

_UIDS: collections.defaultdict[str, int] = collections.defaultdict(int)
_PHASE: dict[Graph, Tensor] = {}
_FORCED_PHASE: list[int | None] = [None]
_RNG_STEP: list[Variable | None] = [None]


def backend() -> str:
    return "onnx"


def get_uid(prefix: str = "") -> int:
    """A per-prefix counter starting at 1 (Keras's automatic layer naming)."""
    _UIDS[prefix] += 1
    return _UIDS[prefix]


def reset_uids() -> None:
    _UIDS.clear()


def clear_session() -> None:
    """Forgets every layer, graph, name counter, forced learning phase and cached program
    of this session."""
    reset_default_graph()
    reset_uids()
    _PHASE.clear()
    _FORCED_PHASE[0] = None
    _RNG_STEP[0] = None
    from runtime import clear_cache

    clear_cache()


def get_session() -> Any:
    """kgraph has no TensorFlow session: its analog is the `onnxruntime.SessionOptions`
    every program's session is created with. Change it in place (e.g.
    `K.get_session().intra_op_num_threads = 4`) and call `K.set_session` with it, or pass
    new options, so that the next run creates its sessions with them."""
    from runtime import get_session_options

    return get_session_options()


def set_session(session: Any) -> None:
    """Creates every later onnxruntime session with `session`, an
    `onnxruntime.SessionOptions` (None restores the defaults)."""
    from runtime import set_session_options

    set_session_options(session)


_DIM_ORDERINGS = {"tf": "channels_last", "th": "channels_first"}


def image_dim_ordering() -> str:
    """Keras 1's name for the image data format: 'tf' (channels_last) or 'th'."""
    from kgraph._config import image_data_format

    return "tf" if image_data_format() == "channels_last" else "th"


def set_image_dim_ordering(dim_ordering: str) -> None:
    from kgraph._config import set_image_data_format

    if dim_ordering not in _DIM_ORDERINGS:
        raise ValueError(f"Unknown dim_ordering: {dim_ordering!r}; valid choices: 'tf', 'th'")
    set_image_data_format(_DIM_ORDERINGS[dim_ordering])


def learning_phase() -> Tensor | int:
    """The training-mode flag: a bool tensor resolved per program (train: 1, else 0)."""
    if _FORCED_PHASE[0] is not None:
        return _FORCED_PHASE[0]
    g = get_default_graph()
    t = _PHASE.get(g)
    if t is None or t.node not in g:
        (t,) = g.add_node("LearningPhase", [])
        _PHASE[g] = t
    return t


def set_learning_phase(value: int) -> None:
    if value not in (0, 1):
        raise ValueError("Expected learning phase to be 0 or 1.")
    _FORCED_PHASE[0] = value


def rng_step() -> Variable:
    """The step counter that every in-graph random mask hashes; train steps advance it."""
    if _RNG_STEP[0] is None:
        _RNG_STEP[0] = Variable(np.zeros((), np.int64), name="rng_step", trainable=False)
    return _RNG_STEP[0]


def variable(value: Any, dtype: Any = None, name: str | None = None, constraint: Any = None) -> Variable:
    dtype = as_dtype(dtype or floatx())
    return Variable(np.asarray(value, dtype=dtype.numpy), dtype=dtype, name=name, constraint=constraint)


def constant(value: Any, dtype: Any = None, shape: Sequence[int] | None = None, name: str | None = None) -> Tensor:
    array = np.asarray(value, dtype=as_dtype(dtype or floatx()).numpy)
    if shape is not None:
        array = np.broadcast_to(array, tuple(shape)).copy()
    return get_default_graph().constant(array)


def placeholder(
    shape: Sequence[int | None] | None = None,
    ndim: int | None = None,
    dtype: Any = None,
    sparse: bool = False,
    name: str | None = None,
) -> Tensor:
    if sparse:
        raise ValueError("Sparse placeholders are not supported by kgraph: feed dense arrays.")
    if shape is None:
        if ndim is None:
            raise ValueError("placeholder needs a shape or an ndim")
        shape = (None,) * ndim
    return get_default_graph().placeholder(tuple(shape), dtype or floatx(), name or f"placeholder_{get_uid('placeholder')}")


def is_keras_tensor(x: Any) -> bool:
    return isinstance(x, Tensor) and hasattr(x, "_keras_history")


def is_placeholder(x: Any) -> bool:
    """Whether `x` is a graph input made by `K.placeholder` or an `Input` layer."""
    return isinstance(x, Tensor) and x.op == "Placeholder"


_MANUAL_VAR_INIT = [False]


def manual_variable_initialization(value: bool) -> None:
    """Keras's switch for leaving variables uninitialized until the user initializes them.

    A kgraph variable holds its initial value from the moment it is created and no
    session initializes it, so the flag is recorded and changes nothing.
    """
    _MANUAL_VAR_INIT[0] = bool(value)


def get_value(x: Variable) -> np.ndarray:
    if not isinstance(x, Variable):
        raise TypeError(f"get_value expects a variable, got {type(x).__name__}")
    return x.value


def set_value(x: Variable, value: Any) -> None:
    if not isinstance(x, Variable):
        raise TypeError(f"set_value expects a variable, got {type(x).__name__}")
    x.assign(value)


def batch_get_value(xs: Sequence[Variable]) -> list[np.ndarray]:
    return [get_value(x) for x in xs]


def batch_set_value(pairs: Sequence[tuple[Variable, Any]]) -> None:
    for x, v in pairs:
        set_value(x, v)


def int_shape(x: Any) -> tuple[int | None, ...]:
    if hasattr(x, "_keras_shape"):
        return tuple(x._keras_shape)
    if isinstance(x, (Tensor, Variable)):
        return tuple(x.shape)
    return tuple(np.shape(x))


def ndim(x: Any) -> int:
    return len(int_shape(x))


def dtype(x: Any) -> str:
    return str(x.dtype)


def count_params(x: Variable) -> int:
    return int(np.prod(x.shape))


def get_variable_shape(x: Variable) -> tuple[int, ...]:
    return tuple(x.shape)


def eval(x: Any) -> np.ndarray:  # noqa: A001 - Keras's name
    """The value of a variable or of a tensor that needs no inputs."""
    if isinstance(x, Variable):
        return x.value
    from kgraph.backend._function import printed_tensors, show_printed
    from kgraph.engine.functions import evaluate_tensors

    prints = printed_tensors([x])
    values = evaluate_tensors([x, *(t for t, _ in prints)])
    show_printed(prints, values[1:])
    return values[0]


def name_scope(name: str):
    from kgraph.ir import provenance_scope

    return provenance_scope(name)




def update(x: Variable, new_x: Any) -> tuple[Variable, Any]:
    """An update pair: `x` takes the value `new_x` after the step (Keras's K.update)."""
    return (x, new_x)


def update_add(x: Variable, increment: Any) -> tuple[Variable, Any]:
    return (x, get_default_graph().read(x) + increment)


def update_sub(x: Variable, decrement: Any) -> tuple[Variable, Any]:
    return (x, get_default_graph().read(x) - decrement)


def moving_average_update(x: Variable, value: Any, momentum: float) -> tuple[Variable, Any]:
    return (x, get_default_graph().read(x) * momentum + value * (1.0 - momentum))


__all__ += ["update", "update_add", "update_sub", "moving_average_update"]
