"""The generator loops: `fit_generator`, `evaluate_generator` and `predict_generator`.

Keras 2.0.5 semantics with 2.0.6's additions (`Sequence`, `max_queue_size`,
`use_multiprocessing`): a source is a Python generator (or any iterator) that yields
`(x, y)` or `(x, y, sample_weight)` forever, or a `Sequence`. Worker threads prefetch
batches into a bounded queue while the runtime trains on the previous one; batches are
consumed in the order the source produces them, so results do not depend on `workers`.
Each batch goes through `train_on_batch` / `test_on_batch` / `predict_on_batch`, with
the same input checks as `fit`. As in `fit`, `stop_training` is checked after every batch
(2.0.5's fit_generator checked it only between epochs), so `TerminateOnNaN` stops at once.
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np

from kgraph import callbacks as cbks
from kgraph.engine import loops
from kgraph.utils.data_utils import GeneratorEnqueuer, OrderedEnqueuer, Sequence
from kgraph.utils.generic_utils import Progbar

__all__ = ["evaluate_generator", "fit_generator", "predict_generator"]

# Keras 1 names (converted with a warning) and 2.0.5 names that 2.0.6 renamed (silently).
_KERAS1 = {
    "fit_generator": {"samples_per_epoch": "steps_per_epoch", "nb_epoch": "epochs",
                      "nb_val_samples": "validation_steps", "nb_worker": "workers"},
    "evaluate_generator": {"val_samples": "steps", "nb_worker": "workers"},
    "predict_generator": {"val_samples": "steps", "nb_worker": "workers"},
}  # fmt: skip
_RENAMED = {"max_q_size": "max_queue_size", "pickle_safe": "use_multiprocessing"}


def convert_legacy_kwargs(method: str, kwargs: dict[str, Any], generator: Any) -> dict[str, Any]:
    """Maps Keras 1 and Keras 2.0.5 argument names of a generator method to current ones.

    Keras 1's `samples_per_epoch` counted samples: it is divided by the generator's
    `batch_size` when the generator has one, as Keras 2.0.5 does.

    Raises:
        TypeError: an argument the method does not know.
    """
    out, converted = {}, []
    for name, value in kwargs.items():
        if name in _KERAS1[method]:
            new = _KERAS1[method][name]
            if name == "samples_per_epoch" and hasattr(generator, "batch_size"):
                value = value // generator.batch_size
            converted.append(f"{new}={value!r}")
            out[new] = value
        elif name in _RENAMED:
            out[_RENAMED[name]] = value
        else:
            valid = sorted(set(_KERAS1[method]) | set(_RENAMED))
            raise TypeError(
                f"{method}() got an unexpected keyword argument {name!r} (legacy names accepted: {valid})"
            )
    if converted:
        warnings.warn(
            f"Update your `{method}` call to the Keras 2 API: `{method}(<generator>, {', '.join(converted)})`",
            stacklevel=3,
        )
    return out


def _check_source(data: Any, method: str, what: str = "generator") -> None:
    if not isinstance(data, Sequence) and not hasattr(data, "__next__"):
        raise TypeError(
            f"{method}: `{what}` must be a generator (or iterator) yielding (x, y) or "
            f"(x, y, sample_weight) tuples, or a kgraph.utils.Sequence; got {type(data).__name__}."
        )


def _check_steps(steps: Any, data: Any, method: str, name: str) -> int:
    if steps is None:
        if isinstance(data, Sequence):
            return len(data)
        raise ValueError(
            f"{method}: `{name}=None` is only valid for a kgraph.utils.Sequence, which knows its "
            f"length; pass `{name}` (the number of batches to draw) for a {type(data).__name__}."
        )
    if isinstance(steps, bool) or not isinstance(steps, numbers.Integral):
        raise TypeError(
            f"{method}: `{name}` must be an int, got {steps!r} ({type(steps).__name__})."
        )
    if steps < 1:
        raise ValueError(f"{method}: `{name}` must be at least 1, got {steps}.")
    return int(steps)


def _check_workers(workers: Any, max_queue_size: Any, method: str) -> None:
    for name, value, low in (("workers", workers, 0), ("max_queue_size", max_queue_size, 1)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
            raise ValueError(f"{method}: `{name}` must be an int >= {low}, got {value!r}.")


def _start(data: Any, workers: int, max_queue_size: int, use_multiprocessing: bool):
    if isinstance(data, Sequence):
        enqueuer: Any = OrderedEnqueuer(data, use_multiprocessing=use_multiprocessing)
    else:
        enqueuer = GeneratorEnqueuer(data, use_multiprocessing=use_multiprocessing)
    enqueuer.start(workers=workers, max_queue_size=max_queue_size)
    return enqueuer, enqueuer.get()


def _describe(value: Any) -> str:
    if isinstance(value, (tuple, list)):
        return f"a {type(value).__name__} of {len(value)} items"
    shape = getattr(value, "shape", None)
    return f"{type(value).__name__}" + (f" of shape {shape}" if shape is not None else "")


def _draw(batches: Iterator[Any], method: str, step: int, steps: int, where: str = "") -> Any:
    try:
        return next(batches)
    except StopIteration:
        raise ValueError(
            f"{method}: the generator ran out of data after {step} of {steps} batches{where}. "
            "A generator must loop forever (e.g. `while True:` around its yields); a "
            "kgraph.utils.Sequence restarts by itself."
        ) from None


def _unpack(output: Any, method: str, step: int) -> tuple[Any, Any, Any]:
    if not isinstance(output, (tuple, list)) or len(output) not in (2, 3):
        raise ValueError(
            f"{method}: the output of the generator should be a tuple `(x, y)` or "
            f"`(x, y, sample_weight)`; at batch {step} it was {_describe(output)}."
        )
    x, y = output[0], output[1]
    return x, y, output[2] if len(output) == 3 else None


def _batch_size(x: Any) -> int:
    if isinstance(x, dict):
        x = next(iter(x.values()))
    elif isinstance(x, (list, tuple)) and x and hasattr(x[0], "shape"):
        x = x[0]
    return int(np.shape(x)[0])


def _as_list(outs: Any) -> list[Any]:
    return outs if isinstance(outs, list) else [outs]


def fit_generator(model, generator, steps_per_epoch=None, epochs=1, verbose=1, callbacks=None,
                  validation_data=None, validation_steps=None, class_weight=None,
                  max_queue_size=10, workers=1, use_multiprocessing=False, initial_epoch=0,
                  **kwargs):  # fmt: skip
    """Trains `model` on batches drawn from `generator`; see `Model.fit_generator`."""
    method = "fit_generator"
    legacy = convert_legacy_kwargs(method, kwargs, generator)
    steps_per_epoch = legacy.get("steps_per_epoch", steps_per_epoch)
    epochs = legacy.get("epochs", epochs)
    validation_steps = legacy.get("validation_steps", validation_steps)
    workers = legacy.get("workers", workers)
    max_queue_size = legacy.get("max_queue_size", max_queue_size)
    use_multiprocessing = legacy.get("use_multiprocessing", use_multiprocessing)
    _check_source(generator, method)
    steps_per_epoch = _check_steps(steps_per_epoch, generator, method, "steps_per_epoch")
    _check_workers(workers, max_queue_size, method)
    model._make_train_function()
    do_validation = validation_data is not None
    val_gen = do_validation and (
        isinstance(validation_data, Sequence) or hasattr(validation_data, "__next__")
    )
    val_ins = None
    if val_gen:
        validation_steps = _check_steps(
            validation_steps, validation_data, method, "validation_steps"
        )
    elif do_validation:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
            raise ValueError(
                f"{method}: `validation_data` should be a tuple `(val_x, val_y)` or `(val_x, val_y, "
                f"val_sample_weight)`, a generator or a Sequence; got {_describe(validation_data)}."
            )
        vx, vy = validation_data[0], validation_data[1]
        vw = validation_data[2] if len(validation_data) == 3 else None
        vx, vy, vw = model._standardize_user_data(vx, vy, sample_weight=vw, check_batch_axis=False)
        val_ins = vx + vy + vw
    if do_validation:
        model._make_test_function()

    out_labels = loops._deduped(list(model.metrics_names))
    callback_metrics = out_labels + (["val_" + n for n in out_labels] if do_validation else [])
    model.history = cbks.History()
    callback_list = [cbks.BaseLogger()] + list(callbacks or []) + [model.history]
    if verbose:
        callback_list.append(cbks.ProgbarLogger(count_mode="steps"))
    callback_list = cbks.CallbackList(callback_list)
    callback_model = getattr(model, "_callback_model", model)
    callback_list.set_model(callback_model)
    callback_list.set_params({
        "epochs": epochs, "steps": steps_per_epoch, "verbose": verbose,
        "do_validation": do_validation, "metrics": callback_metrics,
    })  # fmt: skip
    callback_list.on_train_begin()
    for cbk in callback_list:
        cbk.validation_data = val_ins

    enqueuer = val_enqueuer = None
    try:
        enqueuer, batches = _start(generator, workers, max_queue_size, use_multiprocessing)
        if val_gen:
            val_enqueuer, val_batches = _start(
                validation_data, workers, max_queue_size, use_multiprocessing
            )
        callback_model.stop_training = False
        nan_watch = loops.NanLossWatch(callback_list)
        for epoch in range(initial_epoch, epochs):
            callback_list.on_epoch_begin(epoch)
            epoch_logs: dict[str, Any] = {}
            for step in range(steps_per_epoch):
                where = f" in epoch {epoch} (steps_per_epoch={steps_per_epoch})"
                x, y, sample_weight = _unpack(
                    _draw(batches, method, step, steps_per_epoch, where), method, step
                )
                batch_size = _batch_size(x)
                batch_logs = {"batch": step, "size": batch_size}
                callback_list.on_batch_begin(step, batch_logs)
                outs = model.train_on_batch(
                    x, y, sample_weight=sample_weight, class_weight=class_weight
                )
                for label, value in zip(out_labels, _as_list(outs), strict=True):
                    batch_logs[label] = value
                nan_watch.check(batch_logs, epoch)
                callback_list.on_batch_end(step, batch_logs)
                if callback_model.stop_training:
                    break
                if step == steps_per_epoch - 1 and do_validation:
                    if val_gen:
                        val_outs = _evaluate_batches(
                            model, val_batches, validation_steps, "fit_generator (validation)"
                        )
                    else:
                        val_outs = loops.test_loop(model._make_test_function(), val_ins, batch_size)
                    for label, value in zip(out_labels, _as_list(val_outs), strict=True):
                        epoch_logs["val_" + label] = value
            callback_list.on_epoch_end(epoch, epoch_logs)
            if callback_model.stop_training:
                break
    finally:
        for e in (enqueuer, val_enqueuer):
            if e is not None:
                e.stop()
    callback_list.on_train_end()
    return model.history


def _evaluate_batches(model, batches: Iterator[Any], steps: int, method: str) -> Any:
    outs_per_batch, sizes = [], []
    for step in range(steps):
        x, y, sample_weight = _unpack(_draw(batches, method, step, steps), method, step)
        outs_per_batch.append(_as_list(model.test_on_batch(x, y, sample_weight=sample_weight)))
        sizes.append(_batch_size(x))
    averages = [
        float(np.average([o[i] for o in outs_per_batch], weights=sizes))
        for i in range(len(outs_per_batch[0]))
    ]
    return averages[0] if len(averages) == 1 else averages


def evaluate_generator(model, generator, steps=None, max_queue_size=10, workers=1,
                       use_multiprocessing=False, **kwargs):  # fmt: skip
    """Loss and metrics over `steps` batches, averaged weighted by batch size; see
    `Model.evaluate_generator`."""
    method = "evaluate_generator"
    legacy = convert_legacy_kwargs(method, kwargs, generator)
    steps = legacy.get("steps", steps)
    workers = legacy.get("workers", workers)
    max_queue_size = legacy.get("max_queue_size", max_queue_size)
    use_multiprocessing = legacy.get("use_multiprocessing", use_multiprocessing)
    _check_source(generator, method)
    steps = _check_steps(steps, generator, method, "steps")
    _check_workers(workers, max_queue_size, method)
    model._make_test_function()
    enqueuer = None
    try:
        enqueuer, batches = _start(generator, workers, max_queue_size, use_multiprocessing)
        return _evaluate_batches(model, batches, steps, method)
    finally:
        if enqueuer is not None:
            enqueuer.stop()


def predict_generator(model, generator, steps=None, max_queue_size=10, workers=1,
                      use_multiprocessing=False, verbose=0, **kwargs):  # fmt: skip
    """Predictions for `steps` batches, concatenated; see `Model.predict_generator`."""
    method = "predict_generator"
    legacy = convert_legacy_kwargs(method, kwargs, generator)
    steps = legacy.get("steps", steps)
    workers = legacy.get("workers", workers)
    max_queue_size = legacy.get("max_queue_size", max_queue_size)
    use_multiprocessing = legacy.get("use_multiprocessing", use_multiprocessing)
    _check_source(generator, method)
    steps = _check_steps(steps, generator, method, "steps")
    _check_workers(workers, max_queue_size, method)
    model._make_predict_function()
    progbar = Progbar(target=steps) if verbose == 1 else None
    all_outs: list[list[np.ndarray]] = []
    enqueuer = None
    try:
        enqueuer, batches = _start(generator, workers, max_queue_size, use_multiprocessing)
        for step in range(steps):
            output = _draw(batches, method, step, steps)
            if isinstance(output, tuple):  # training-style (x, y[, w]): predict on x
                if len(output) not in (2, 3):
                    raise ValueError(
                        f"{method}: a tuple from the generator should be `(x, y)` or `(x, y, "
                        f"sample_weight)`; at batch {step} it was {_describe(output)}."
                    )
                output = output[0]
            outs = _as_list(model.predict_on_batch(output))
            if not all_outs:
                all_outs = [[] for _ in outs]
            for acc, out in zip(all_outs, outs, strict=True):
                acc.append(np.asarray(out))
            if progbar is not None:
                progbar.update(step + 1, force=step + 1 == steps)
    finally:
        if enqueuer is not None:
            enqueuer.stop()
    results = [np.concatenate(o) for o in all_outs]
    return results[0] if len(results) == 1 else results
