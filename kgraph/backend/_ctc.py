"""Connectionist temporal classification: the batch loss, greedy decoding, and dense labels
as a sparse tensor, with TensorFlow's conventions (the blank is the last class).

The loss is the CTC forward recursion in log space, unrolled over the (static) time axis,
so it is ordinary IR and its gradient comes from autodiff. Log-zero is a large negative
finite number, not -inf, so no unreachable state can turn a gradient into NaN.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kgraph.backend._ops import _t
from kgraph.backend._sparse import SparseTensor
from kgraph.ir import DType, Tensor
from kgraph.ir import build as B

__all__ = ["ctc_batch_cost", "ctc_decode", "ctc_label_dense_to_sparse"]

# Keras 2.0.5 adds this literal (not epsilon()) to the probabilities before the log.
_FLOOR = 1e-8
_LOG_ZERO = -1e30
# A loss this large means no alignment fits: TensorFlow reports it as infinite.
_IMPOSSIBLE = 1e29


def _lengths(x: Any) -> Tensor:
    """(batch,) int64 from (batch,) or (batch, 1) lengths."""
    return B.reshape(B.cast(_t(x), DType.int64), [-1])


def _int_range(g, n: Any) -> Tensor:
    n = g.constant(np.int64(n)) if isinstance(n, (int, np.integer)) else n
    return B.apply1("Range", g.constant(np.int64(0)), n, g.constant(np.int64(1)))


def ctc_label_dense_to_sparse(labels: Any, label_lengths: Any) -> SparseTensor:
    """The first `label_lengths[i]` labels of each row of `labels` as a `SparseTensor`.

    Args:
        labels: `(samples, max_label_length)` dense labels.
        label_lengths: `(samples,)` (or `(samples, 1)`) how many labels each row holds.

    Returns:
        A `SparseTensor` with `dense_shape` the shape of `labels`.
    """
    labels = _t(labels)
    g = labels.graph
    dense_shape = B.apply1("Shape", labels)
    width = B.getitem(dense_shape, 1)
    inside = B.binary(
        "Less",
        B.apply1("Unsqueeze", _int_range(g, width), axes=(0,)),
        B.apply1("Unsqueeze", _lengths(label_lengths), axes=(1,)),
    )
    indices = B.transpose(B.apply1("NonZero", inside), (1, 0))
    flat = B.add(
        B.mul(B.getitem(indices, (slice(None), 0)), width), B.getitem(indices, (slice(None), 1))
    )
    values = B.apply1("Gather", B.reshape(labels, [-1]), flat, axis=0)
    return SparseTensor(indices, values, dense_shape)


def _along_labels(values: np.ndarray) -> np.ndarray:
    return values.reshape(1, -1)


def _shift(alpha: Tensor, k: int, size: int) -> Tensor:
    """alpha[:, s - k] at position s, log-zero where s < k."""
    head = B.apply1("Slice", alpha, starts=(0,), ends=(size - k,), axes=(1,), steps=(1,))
    padded = B.apply1("Pad", head, pads=(0, k, 0, 0))
    inside = alpha.graph.constant(_along_labels(np.arange(size) >= k))
    return B.where(inside, padded, _LOG_ZERO)


def _logsumexp(terms: list[Tensor], axis: int | None = None) -> Tensor:
    """log(sum(exp(terms))) elementwise over the list (or over `axis` of one tensor); the
    shift by the maximum carries no gradient (its contributions cancel)."""
    if axis is None:
        top = terms[0]
        for t in terms[1:]:
            top = B.binary("Max", top, t)
        top = B.unary("StopGradient", top)
        total = B.unary("Exp", B.sub(terms[0], top))
        for t in terms[1:]:
            total = B.add(total, B.unary("Exp", B.sub(t, top)))
        return B.add(top, B.unary("Log", total))
    (x,) = terms
    top = B.unary("StopGradient", B.reduce("ReduceMax", x, [axis], keepdims=True))
    total = B.reduce("ReduceSum", B.unary("Exp", B.sub(x, top)), [axis], keepdims=True)
    return B.apply1("Squeeze", B.add(top, B.unary("Log", total)), axes=(axis,))


def ctc_batch_cost(y_true: Any, y_pred: Any, input_length: Any, label_length: Any) -> Tensor:
    """The CTC loss of each batch element.

    As Keras 2.0.5 on TensorFlow: `y_pred` holds probabilities; the loss is
    `tf.nn.ctc_loss` of `log(y_pred + 1e-8)` (renormalized over classes), with the last
    class as the blank and repeated labels kept distinct by a blank between them. A label
    sequence that no alignment of the input length can produce costs `inf` (TensorFlow
    raises instead when the labels alone outnumber the steps).

    Args:
        y_true: `(samples, max_string_length)` labels (padding after `label_length`).
        y_pred: `(samples, time_steps, num_categories)` softmax outputs; `time_steps` and
            `num_categories` must be static.
        input_length: `(samples, 1)` how many time steps of each `y_pred` row count.
        label_length: `(samples, 1)` how many labels of each `y_true` row count.

    Returns:
        A `(samples, 1)` tensor of losses.
    """
    y_true, y_pred = _t(y_true), _t(y_pred)
    if y_pred.ndim != 3 or y_true.ndim != 2:
        raise ValueError(
            f"ctc_batch_cost expects y_true (samples, max_string_length) and y_pred (samples, "
            f"time_steps, num_categories), got {y_true.shape} and {y_pred.shape}"
        )
    steps, classes, width = y_pred.shape[1], y_pred.shape[2], y_true.shape[1]
    if steps is None or classes is None or width is None:
        raise ValueError(
            f"ctc_batch_cost unrolls over time and needs static time_steps, num_categories "
            f"and max_string_length, got y_pred {y_pred.shape} and y_true {y_true.shape}"
        )
    g = y_pred.graph
    blank = classes - 1
    size = 2 * width + 1
    logp = B.apply1("LogSoftmax", B.unary("Log", B.add(y_pred, _FLOOR)), axis=2)

    # The extended label sequence: blank, l1, blank, l2, ..., blank.
    labels = B.cast(y_true, DType.int64)
    spread = B.apply1("Gather", labels, g.constant(np.maximum(np.arange(size) - 1, 0) // 2), axis=1)
    odd = g.constant(_along_labels(np.arange(size) % 2 == 1))
    ext = B.where(odd, spread, np.int64(blank))
    onehot = B.binary(
        "Equal", B.apply1("Unsqueeze", ext, axes=(1,)),
        g.constant(np.arange(classes, dtype=np.int64).reshape(1, -1, 1)),
    )  # fmt: skip
    # (samples, time, positions): each position's log probability at every step.
    emit = B.matmul(logp, B.cast(onehot, y_pred.dtype))
    before = B.apply1("Gather", ext, g.constant(np.maximum(np.arange(size) - 2, 0)), axis=1)
    skip = B.binary("And", odd, B.unary("Not", B.binary("Equal", ext, before)))
    skip = B.binary("And", skip, g.constant(_along_labels(np.arange(size) >= 2)))

    lengths = B.apply1("Unsqueeze", _lengths(input_length), axes=(1,))
    start = g.constant(_along_labels(np.arange(size) < 2))
    alpha = B.where(start, B.getitem(emit, (slice(None), 0)), _LOG_ZERO)
    for t in range(1, steps):
        hop = B.where(skip, _shift(alpha, 2, size), _LOG_ZERO)
        new = B.add(
            _logsumexp([alpha, _shift(alpha, 1, size), hop]), B.getitem(emit, (slice(None), t))
        )
        alpha = B.where(B.binary("Less", g.constant(np.int64(t)), lengths), new, alpha)

    ends = B.mul(B.apply1("Unsqueeze", _lengths(label_length), axes=(1,)), np.int64(2))
    position = g.constant(_along_labels(np.arange(size, dtype=np.int64)))
    last = B.binary("Or", B.binary("Equal", position, ends),
                    B.binary("Equal", position, B.sub(ends, np.int64(1))))  # fmt: skip
    loss = -_logsumexp([B.where(last, alpha, _LOG_ZERO)], axis=1)
    loss = B.where(B.binary("Greater", loss, _IMPOSSIBLE), np.inf, loss)
    return B.apply1("Unsqueeze", loss, axes=(1,))


def ctc_decode(y_pred: Any, input_length: Any, greedy: bool = True, beam_width: int = 100,
               top_paths: int = 1) -> tuple[list[Tensor], Tensor]:  # fmt: skip
    """Decodes the output of a softmax by best path (greedy) search.

    As Keras 2.0.5 on TensorFlow's greedy decoder: at each of a row's first
    `input_length` steps the most probable class is taken, repeats are merged, blanks (the
    last class) dropped.

    Args:
        y_pred: `(samples, time_steps, num_categories)` softmax outputs.
        input_length: `(samples,)` how many time steps of each row count.
        greedy: must be True; beam search is not available.
        beam_width, top_paths: beam search parameters (unused by the greedy search).

    Returns:
        `([decoded], log_prob)`: `decoded` is `(samples, max_decoded_length)` int64 padded
        with -1; `log_prob` is `(samples, 1)`, minus the sum of the best log probabilities.

    Raises:
        NotImplementedError: for `greedy=False`.
    """
    if not greedy:
        raise NotImplementedError(
            "ctc_decode(greedy=False): beam search decoding is not available in kgraph; "
            "use greedy=True"
        )
    y_pred = _t(y_pred)
    if y_pred.ndim != 3 or y_pred.shape[1] is None or y_pred.shape[2] is None:
        raise ValueError(
            f"ctc_decode expects y_pred (samples, time_steps, num_categories) with static time "
            f"steps and categories, got {y_pred.shape}"
        )
    g = y_pred.graph
    steps, blank = y_pred.shape[1], y_pred.shape[2] - 1
    logits = B.unary("Log", B.add(y_pred, _FLOOR))
    best = B.apply1("ArgMax", logits, axis=2, keepdims=0)
    time = g.constant(_along_labels(np.arange(steps, dtype=np.int64)))
    valid = B.binary("Less", time, B.apply1("Unsqueeze", _lengths(input_length), axes=(1,)))
    top = B.reduce("ReduceMax", logits, [2])
    log_prob = -B.reduce("ReduceSum", B.where(valid, top, 0.0), [1], keepdims=True)

    previous = B.apply1(
        "Pad", B.getitem(best, (slice(None), slice(0, steps - 1))), pads=(0, 1, 0, 0)
    )
    previous = B.where(g.constant(_along_labels(np.arange(steps) >= 1)), previous, np.int64(-1))
    keep = B.binary("And", valid, B.unary("Not", B.binary("Equal", best, np.int64(blank))))
    keep = B.binary("And", keep, B.unary("Not", B.binary("Equal", best, previous)))

    # Kept labels go to their rank in the row; the others to spare columns past the end,
    # one each (no two writes to one cell), which are then cut off.
    kept = B.cast(keep, DType.int64)
    column = B.where(
        keep, B.sub(B.apply1("CumSum", kept, axis=1), np.int64(1)), B.add(time, np.int64(steps))
    )
    batch = B.getitem(B.apply1("Shape", y_pred), slice(0, 1))
    rows = B.apply1("Unsqueeze", _int_range(g, B.reshape(batch, [])), axes=(1,))
    rows = B.apply1("Expand", rows, B.apply1("Shape", best))
    where = B.apply1("Concat", B.apply1("Unsqueeze", rows, axes=(2,)),
                     B.apply1("Unsqueeze", column, axes=(2,)), axis=2)  # fmt: skip
    canvas_shape = B.apply1("Concat", batch, g.constant(np.array([2 * steps], np.int64)), axis=0)
    canvas = B.apply1("ConstantOfShape", canvas_shape, value=np.array(-1, np.int64))
    filled = B.apply1("ScatterND", canvas, where, best)
    width = B.reduce("ReduceMax", B.reduce("ReduceSum", kept, [1]), None)
    decoded = B.apply1("Gather", filled, _int_range(g, width), axis=1)
    return [decoded], log_prob
