"""The fit, test and predict loops over numpy arrays (Keras 2.0.5's `_fit_loop` semantics)."""

from __future__ import annotations

import warnings
import weakref
from collections.abc import Sequence
from typing import Any

import numpy as np

from kgraph import callbacks as cbks
from kgraph.engine.data import batch_ranges, slice_arrays
from kgraph.engine.functions import CompiledFunction
from kgraph.utils.generic_utils import Progbar
from lowering.loop import loop_steps

__all__ = ["fit", "test_loop", "predict_loop", "standardize_weights", "NanLossWatch"]


def standardize_weights(targets, sample_weight, class_weight, names, modes) -> list[np.ndarray]:
    """Per-sample weights for each output: `sample_weight` wins over `class_weight`."""
    if isinstance(sample_weight, dict):
        sample_weight = [sample_weight.get(n) for n in names]
    elif sample_weight is not None and not isinstance(sample_weight, (list, tuple)):
        sample_weight = [sample_weight] * len(targets)
    if isinstance(class_weight, dict) and class_weight and set(class_weight) <= set(names):
        class_weight = [class_weight.get(n) for n in names]
    elif not isinstance(class_weight, (list, tuple)):
        class_weight = [class_weight] * len(targets)
    out = []
    for i, y in enumerate(targets):
        sw = sample_weight[i] if sample_weight is not None else None
        cw = class_weight[i]
        temporal = modes[i] == "temporal"
        if sw is not None:
            sw = np.asarray(sw, dtype=np.float32)
            want = 2 if temporal else 1
            if sw.ndim != want:
                raise ValueError(
                    f"Found a sample_weight array with shape {sw.shape} for output {names[i]}; "
                    f"expected {want} dimension(s)" + (" (sample_weight_mode='temporal')" if temporal else "")
                )
            if sw.shape[0] != y.shape[0]:
                raise ValueError(
                    f"Found a sample_weight array with shape {sw.shape} for an input with shape "
                    f"{y.shape}. sample_weight cannot be broadcast."
                )
            out.append(sw)
        elif cw:
            if y.ndim > 2:
                raise ValueError("class_weight not supported for 3+ dimensional targets.")
            y = np.asarray(y[:])  # targets read lazily (HDF5Matrix) are read here
            classes = y.argmax(axis=1) if y.shape[1] > 1 else y[:, 0].astype(np.int64)
            missing = sorted({int(c) for c in np.unique(classes)} - set(cw))
            if missing:
                raise KeyError(
                    f"class_weight has no entry for class {missing[0]} (classes present: "
                    f"{sorted(int(c) for c in np.unique(classes))}; class_weight keys: {sorted(cw)})"
                )
            out.append(np.asarray([cw[int(c)] for c in classes], dtype=np.float32))
        else:
            shape = y.shape[:2] if temporal else y.shape[:1]
            out.append(np.ones(shape, dtype=np.float32))
    return out


def _ensure_float32(arrays: Sequence[np.ndarray]) -> list[np.ndarray]:
    # Data read lazily (HDF5Matrix) is cast batch by batch when it is fed.
    return [a.astype(np.float32) if isinstance(a, np.ndarray) and a.dtype == np.float64 else a for a in arrays]


def fit(model, x, y, batch_size, epochs, verbose, callbacks, validation_split, validation_data,
        shuffle, class_weight, sample_weight, initial_epoch):  # fmt: skip
    x, y, w = model._standardize_user_data(x, y, sample_weight=sample_weight, class_weight=class_weight,
                                           check_batch_axis=False)
    val_ins = None
    if validation_data is not None:
        if len(validation_data) == 2:
            vx, vy = validation_data
            vw = None
        elif len(validation_data) == 3:
            vx, vy, vw = validation_data
        else:
            raise ValueError(
                "When passing validation_data, it must contain 2 (x_val, y_val) or 3 (x_val, "
                f"y_val, val_sample_weights) items, however it contains {len(validation_data)} items"
            )
        vx, vy, vw = model._standardize_user_data(vx, vy, sample_weight=vw, check_batch_axis=False)
        val_ins = vx + vy + vw
    elif validation_split and 0.0 < validation_split < 1.0:
        split_at = int(len(x[0]) * (1.0 - validation_split))
        x, vx = slice_arrays(x, slice(0, split_at)), slice_arrays(x, slice(split_at, None))
        y, vy = slice_arrays(y, slice(0, split_at)), slice_arrays(y, slice(split_at, None))
        w, vw = slice_arrays(w, slice(0, split_at)), slice_arrays(w, slice(split_at, None))
        val_ins = vx + vy + vw
    model._check_stateful_batches(len(x[0]), batch_size, "fit")
    ins = _ensure_float32(x + y + w)
    if val_ins is not None:
        model._check_stateful_batches(len(val_ins[0]), batch_size, "fit (validation data)")
        val_ins = _ensure_float32(val_ins)
    train_fn = model._make_train_function()
    val_fn = model._make_test_function() if val_ins is not None else None
    names = list(model.metrics_names)
    out_labels = _deduped(names)
    callback_metrics = out_labels + (["val_" + n for n in out_labels] if val_ins is not None else [])
    model.history = cbks.History()
    callback_list = [cbks.BaseLogger()] + list(callbacks or []) + [model.history]
    if verbose:
        callback_list.append(cbks.ProgbarLogger())
    callbacks = cbks.CallbackList(callback_list)
    callback_model = getattr(model, "_callback_model", model)
    callbacks.set_model(callback_model)
    n = ins[0].shape[0]
    callbacks.set_params({
        "batch_size": batch_size, "epochs": epochs, "samples": n, "verbose": verbose,
        "do_validation": val_ins is not None, "metrics": callback_metrics,
    })  # fmt: skip
    callbacks.on_train_begin()
    callback_model.stop_training = False
    for cbk in callbacks:
        cbk.validation_data = val_ins
    if verbose and val_ins is not None:
        print(f"Train on {n} samples, validate on {val_ins[0].shape[0]} samples")
    index_array = np.arange(n)
    steps = getattr(model, "steps_per_execution", 1)
    run_group = _group_runner(train_fn, model._feed_names)
    nan_watch = NanLossWatch(callback_list)
    for epoch in range(initial_epoch, epochs):
        callbacks.on_epoch_begin(epoch)
        if shuffle == "batch":
            index_array = _batch_shuffle(index_array, batch_size)
        elif shuffle:
            np.random.shuffle(index_array)
        epoch_logs: dict[str, Any] = {}
        ranges = batch_ranges(n, batch_size)
        for group in _groups(ranges, batch_size, steps):
            ids = [index_array[start:end] for start, end in (ranges[i] for i in group)]
            logs = [{"batch": i, "size": len(b)} for i, b in zip(group, ids, strict=True)]
            # With steps_per_execution > 1 the group's steps run in one call: every batch
            # gets on_batch_begin before it and on_batch_end, with its own values, after;
            # a stop_training set within a group takes effect after the group (it has run).
            for batch_logs in logs:
                callbacks.on_batch_begin(batch_logs["batch"], batch_logs)
            for batch_logs, outs in zip(logs, run_group(ins, ids), strict=True):
                for label, value in zip(out_labels, outs, strict=True):
                    batch_logs[label] = float(value)
                nan_watch.check(batch_logs, epoch)
                callbacks.on_batch_end(batch_logs["batch"], batch_logs)
            if callback_model.stop_training:
                break
            if group[-1] == len(ranges) - 1 and val_fn is not None:
                val_outs = test_loop(val_fn, val_ins, batch_size, verbose=0)
                for label, value in zip(out_labels, val_outs, strict=True):
                    epoch_logs["val_" + label] = value
        callbacks.on_epoch_end(epoch, epoch_logs)
        if callback_model.stop_training:
            break
    callbacks.on_train_end()
    return model.history


class NanLossWatch:
    """Warns once per training run when a batch loss is NaN or infinite: the update of that
    step has most likely written NaN into the weights. Silent when a `TerminateOnNaN`
    callback is there to stop training."""

    def __init__(self, callbacks: Sequence[Any]) -> None:
        self.active = not any(isinstance(c, cbks.TerminateOnNaN) for c in callbacks)

    def check(self, batch_logs: dict[str, Any], epoch: int) -> None:
        loss = batch_logs.get("loss")
        if self.active and loss is not None and not np.isfinite(loss):
            self.active = False
            warnings.warn(
                f"The loss of batch {batch_logs.get('batch')} in epoch {epoch} is {loss}: the "
                "weights may now contain NaN or inf, and training goes on. Lower the learning "
                "rate or check the data; pass callbacks.TerminateOnNaN() to stop at the first "
                "invalid loss.",
                RuntimeWarning,
                stacklevel=4,
            )


def _groups(ranges: Sequence[tuple[int, int]], batch_size: int, steps: int) -> list[list[int]]:
    """Batch indices per runtime call: runs of `steps` full-size batches, then the rest
    (fewer than `steps` batches, or a smaller last batch) one by one."""
    full = sum(1 for start, end in ranges if end - start == batch_size)
    cut = full - full % steps if steps > 1 else 0
    groups = [list(range(i, i + steps)) for i in range(0, cut, steps)]
    return groups + [[i] for i in range(cut, len(ranges))]


_LOOPED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _group_runner(train_fn: CompiledFunction, feed_names: Sequence[str]):
    """`run(ins, ids)` -> one list of fetched values per batch in `ids` (index arrays into
    the arrays `ins`); a group of several batches runs as one ONNX Loop call."""

    def run(ins: Sequence[np.ndarray], ids: list[np.ndarray]) -> list[list[np.ndarray]]:
        if len(ids) == 1:
            return [train_fn([a[ids[0]] for a in ins])]
        looped = _LOOPED.get(train_fn)
        if looped is None:
            looped = _LOOPED[train_fn] = CompiledFunction(loop_steps(train_fn.program), feed_names)
        stacked = np.stack(ids)  # (steps, batch): one gather per array gives the stack
        outs = looped([a[stacked] for a in ins])
        return [[o[j] for o in outs] for j in range(len(ids))]

    return run


def _deduped(names: list[str]) -> list[str]:
    out = []
    for i, name in enumerate(names):
        if names.count(name) > 1:
            name = f"{name}_{names[: i + 1].count(name)}"
        out.append(name)
    return out


def _batch_shuffle(index_array: np.ndarray, batch_size: int) -> np.ndarray:
    """Shuffles whole batches, keeping the trailing partial batch last (for HDF5 data)."""
    n_full = len(index_array) // batch_size
    head = index_array[: n_full * batch_size].reshape(n_full, batch_size)
    np.random.shuffle(head)
    return np.append(head.flatten(), index_array[n_full * batch_size :])


def test_loop(fn, ins: Sequence[np.ndarray], batch_size: int, verbose: int = 0) -> list[float]:
    """Averages each fetched scalar over batches, weighted by batch size."""
    n = ins[0].shape[0]
    progbar = Progbar(target=n) if verbose == 1 else None
    totals = None
    for start, end in batch_ranges(n, batch_size):
        outs = fn([a[start:end] for a in ins])
        size = end - start
        values = [float(o) * size for o in outs]
        totals = values if totals is None else [t + v for t, v in zip(totals, values)]
        if progbar is not None:
            progbar.update(end)
    return [t / n for t in totals] if totals else []


def predict_loop(fn, ins: Sequence[np.ndarray], batch_size: int, verbose: int = 0) -> list[np.ndarray]:
    """Runs the predict program batch by batch. When the output shapes are static, each
    batch's results are written by onnxruntime straight into the preallocated arrays."""
    n = ins[0].shape[0]
    progbar = Progbar(target=n) if verbose == 1 else None
    specs = fn.output_specs() if hasattr(fn, "output_specs") else None
    if specs is not None:
        results = [np.empty((n,) + shape, dtype=dtype) for shape, dtype in specs]
        ranges = batch_ranges(n, batch_size)
        for start, end in ranges:
            fn.call_into([a[start:end] for a in ins], [r[start:end] for r in results], len(ranges))
            if progbar is not None:
                progbar.update(end)
        return results
    if n <= batch_size:
        outs = [np.asarray(o) for o in fn([a[:n] for a in ins])]
        if progbar is not None:
            progbar.update(n)
        return outs
    results: list[np.ndarray] | None = None
    for start, end in batch_ranges(n, batch_size):
        outs = fn([a[start:end] for a in ins])
        if results is None:
            results = [np.empty((n,) + o.shape[1:], dtype=o.dtype) for o in outs]
        for r, o in zip(results, outs):
            r[start:end] = o
        if progbar is not None:
            progbar.update(end)
    return results or []
