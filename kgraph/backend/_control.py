"""Control flow over a Python step function: `rnn`, `map_fn`, `foldl`, `foldr`.

Each one unrolls: the step function is called once per element of the iterated axis and
builds its ops into the graph at every step, as Keras's `unroll=True` path does. So the
iterated axis needs a static length, the result is ordinary IR (gradients, export and
every program work on it unchanged), and graph size grows with the length. The recurrent
layers do not use this: they run a whole sequence as one fused op.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from kgraph.backend._ops import _t, cast, concatenate, expand_dims
from kgraph.ir import DType, Tensor, as_dtype
from kgraph.ir import build as B

__all__ = ["rnn", "map_fn", "foldl", "foldr"]


def _static_length(
    x: Tensor, axis: int, fn: str, input_length: int | None = None
) -> tuple[Tensor, int]:
    """`x` with a static size along `axis` (taken from `input_length` when unknown)."""
    n = x.shape[axis]
    if n is None and input_length is not None:
        # Declare the length with a Reshape: its gradient restores the runtime shape, and a
        # batch of another length fails at run time with the sizes named.
        n = int(input_length)
        dims = [0] * x.ndim
        dims[axis] = n
        return B.reshape(x, dims), n
    if n is None:
        hint = "pass `input_length=` or " if fn == "rnn" else ""
        raise ValueError(
            f"K.{fn} unrolls over axis {axis} and needs its length to be static, but the "
            f"input has shape {x.shape}: {hint}give the input a fixed length along that "
            f"axis (e.g. `Input(shape=(timesteps, ...))` or `input_length=` on the layer "
            f"that makes it)"
        )
    if n == 0:
        raise ValueError(f"K.{fn}: axis {axis} of the input (shape {x.shape}) is empty")
    return x, int(n)


def _take(x: Tensor, axis: int, i: int) -> Tensor:
    key = (slice(None),) * axis + (i,)
    return B.getitem(x, key)


def _stack(xs: Sequence[Tensor], axis: int) -> Tensor:
    return concatenate([expand_dims(x, axis) for x in xs], axis=axis)


def _broadcast_mask(mask_t: Tensor, like: Tensor) -> Tensor:
    """A (batch,) bool mask shaped (batch, 1, ..., 1) to select rows of `like`."""
    if like.ndim <= 1:
        return mask_t
    return B.apply1("Unsqueeze", mask_t, axes=tuple(range(1, like.ndim)))


def _time_mask(mask: Any, inputs: Tensor) -> Tensor:
    mask = _t(mask)
    if mask.dtype is not DType.bool:
        mask = B.cast(mask, DType.bool)
    if mask.ndim == 3 and mask.shape[2] == 1:
        mask = B.apply1("Squeeze", mask, axes=(2,))
    if mask.ndim != 2:
        raise ValueError(
            f"K.rnn expects a mask of shape (samples, timesteps), got {mask.shape} for "
            f"inputs of shape {inputs.shape}"
        )
    return mask


def rnn(
    step_function: Callable[[Tensor, list[Tensor]], tuple[Tensor, Sequence[Tensor]]],
    inputs: Any,
    initial_states: Sequence[Any],
    go_backwards: bool = False,
    mask: Any = None,
    constants: Sequence[Any] | None = None,
    unroll: bool = False,
    input_length: int | None = None,
) -> tuple[Tensor, Tensor, list[Tensor]]:
    """Iterates over the time dimension of a tensor.

    The time axis is always unrolled (one copy of the step's ops per timestep), so its
    length must be static: the inputs' second dimension, or `input_length` when that is
    unknown.

    Args:
        step_function: `step_function(input_t, states) -> (output_t, new_states)`, where
            `input_t` is `(samples, ...)`, `states` is the list of states followed by the
            `constants`, and `new_states` has one tensor per state.
        inputs: a tensor `(samples, timesteps, ...)`, at least 3-D.
        initial_states: the states at the first step, each `(samples, ...)`.
        go_backwards: iterate from the last timestep to the first; the outputs are then
            in that (reversed) order.
        mask: `(samples, timesteps)` (bool, or nonzero means kept). At a masked step the
            states keep their previous values, and so does the output: with
            `unroll=True` the previous output (zeros before the first step), with
            `unroll=False` the previous first state, as Keras 2.0.5's two paths do.
        constants: tensors passed to every step after the states.
        unroll: picks the masked-output rule above; the loop is unrolled either way.
        input_length: the number of timesteps when the inputs' own is unknown.

    Returns:
        `(last_output, outputs, new_states)`: `last_output` is `(samples, ...)`, `outputs`
        `(samples, timesteps, ...)`, `new_states` the list of the states after the last step.

    Raises:
        ValueError: inputs below 3-D, an unknown number of timesteps without
            `input_length`, a mask with `unroll=False` and no states, or a step function
            returning the wrong number of states.

    Example:
        ```python
        x = K.placeholder((None, 10, 8))    # 10 timesteps of 8 features
        h0 = K.placeholder((None, 16))
        W, U = K.variable(np.ones((8, 16))), K.variable(np.eye(16))

        def step(x_t, states):
            h = K.tanh(K.dot(x_t, W) + K.dot(states[0], U))
            return h, [h]

        last, outputs, states = K.rnn(step, x, [h0])   # outputs: (None, 10, 16)
        ```
    """
    inputs = _t(inputs)
    if inputs.ndim < 3:
        raise ValueError(f"K.rnn: Input should be at least 3D, got shape {inputs.shape}")
    inputs, steps = _static_length(inputs, 1, "rnn", input_length)
    states = [_t(s) for s in initial_states]
    constants = [_t(c) for c in (constants or [])]
    if mask is not None:
        mask = _time_mask(mask, inputs)
        if not unroll and not states:
            raise ValueError(
                "No initial states provided! When using masking in an RNN, you should "
                "provide initial states (and your step function should return as its first "
                "state at time `t` the output at time `t-1`)."
            )
        if mask.shape[1] is None:
            mask = B.reshape(mask, [0, steps])

    order = range(steps - 1, -1, -1) if go_backwards else range(steps)
    outputs: list[Tensor] = []
    uses_learning_phase = False
    for t in order:
        output, new_states = step_function(_take(inputs, 1, t), states + constants)
        output, new_states = _t(output), [_t(s) for s in new_states]
        uses_learning_phase = uses_learning_phase or getattr(output, "_uses_learning_phase", False)
        if len(new_states) != len(states):
            raise ValueError(
                f"K.rnn: the step function returned {len(new_states)} state(s) for "
                f"{len(states)} initial state(s)"
            )
        if mask is not None:
            mask_t = _take(mask, 1, t)
            if unroll:
                previous = outputs[-1] if outputs else 0.0
            else:
                previous = states[0]
            output = B.where(_broadcast_mask(mask_t, output), output, previous)
            new_states = [
                B.where(_broadcast_mask(mask_t, new), new, old)
                for old, new in zip(states, new_states, strict=True)
            ]
        outputs.append(output)
        states = new_states
    last_output = outputs[-1]
    if uses_learning_phase:
        last_output._uses_learning_phase = True
    return last_output, _stack(outputs, 1), states


def _elements(elems: Any, fn: str) -> tuple[Tensor, list[Tensor]]:
    elems = _t(elems)
    if elems.ndim == 0:
        raise ValueError(f"K.{fn} iterates over the first axis and needs a tensor of rank >= 1")
    elems, n = _static_length(elems, 0, fn)
    return elems, [_take(elems, 0, i) for i in range(n)]


def map_fn(
    fn: Callable[[Tensor], Any], elems: Any, name: str | None = None, dtype: Any = None
) -> Tensor:
    """Applies `fn` to every element of `elems` along its first axis and stacks the results.

    Args:
        fn: called with one element, `elems[i]`.
        elems: a tensor whose first dimension is static.
        name: unused (TensorFlow's op name).
        dtype: the output dtype; results are cast to it.

    Returns:
        A tensor `(len(elems), ...)` of the stacked results.
    """
    _, items = _elements(elems, "map_fn")
    results = [_t(fn(item)) for item in items]
    if dtype is not None:
        results = [cast(r, dtype) if r.dtype != as_dtype(dtype) else r for r in results]
    return _stack(results, 0)


def _fold(fn: Callable[[Any, Tensor], Any], items: list[Tensor], initializer: Any) -> Tensor:
    if initializer is None:
        acc, items = items[0], items[1:]
    else:
        acc = _t(initializer)
    for item in items:
        acc = _t(fn(acc, item))
    return acc


def foldl(
    fn: Callable[[Any, Tensor], Any], elems: Any, initializer: Any = None, name: str | None = None
) -> Tensor:
    """Reduces `elems` along its first axis from the first element to the last.

    Args:
        fn: `fn(accumulator, element) -> accumulator`.
        elems: a tensor whose first dimension is static.
        initializer: the first accumulator; None uses `elems[0]` and folds the rest.
        name: unused (TensorFlow's op name).

    Returns:
        The final accumulator.
    """
    _, items = _elements(elems, "foldl")
    return _fold(fn, items, initializer)


def foldr(
    fn: Callable[[Any, Tensor], Any], elems: Any, initializer: Any = None, name: str | None = None
) -> Tensor:
    """Reduces `elems` along its first axis from the last element to the first.

    Args:
        fn: `fn(accumulator, element) -> accumulator`.
        elems: a tensor whose first dimension is static.
        initializer: the first accumulator; None uses `elems[-1]` and folds the rest.
        name: unused (TensorFlow's op name).

    Returns:
        The final accumulator.
    """
    _, items = _elements(elems, "foldr")
    return _fold(fn, items[::-1], initializer)
