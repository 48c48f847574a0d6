"""Callbacks: hooks that `fit` calls at the start and end of training, epochs and batches.

Semantics follow Keras 2.0.5: epoch indices are 0-based; `fit` builds
`[BaseLogger()] + callbacks + [History()] (+ [ProgbarLogger()] when verbose)`, and every
callback of one event sees the same `logs` dict, so values that BaseLogger writes at the
end of an epoch reach the callbacks after it.

The model is duck-typed: callbacks only read attributes of it and set
`model.stop_training = True` to end training.

This module holds the callbacks that every `fit` uses; the monitors (EarlyStopping,
ReduceLROnPlateau, LearningRateScheduler, ModelCheckpoint), the loggers (CSVLogger,
RemoteMonitor) and TensorBoard live in private modules and are re-exported here.
"""

from __future__ import annotations

import statistics
import time
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

from kgraph.utils.generic_utils import Progbar

__all__ = [
    "BaseLogger",
    "CSVLogger",
    "Callback",
    "CallbackList",
    "EarlyStopping",
    "History",
    "LambdaCallback",
    "LearningRateScheduler",
    "ModelCheckpoint",
    "ProgbarLogger",
    "ReduceLROnPlateau",
    "RemoteMonitor",
    "TensorBoard",
    "TerminateOnNaN",
]

Logs = dict[str, Any]


class Callback:
    """Base class of callbacks; every hook does nothing.

    Attributes:
        params: the training parameters, set by `fit` (`batch_size`, `epochs`, `samples`
            or `steps`, `verbose`, `do_validation`, `metrics`).
        model: the model being trained.
        validation_data: the validation arrays, or None.

    Example:
        ```python
        class PrintLoss(Callback):
            def on_epoch_end(self, epoch, logs=None):
                print(epoch, logs['loss'])
        ```
    """

    def __init__(self) -> None:
        self.validation_data: Any = None
        self.model: Any = None
        self.params: dict[str, Any] = {}

    def set_params(self, params: dict[str, Any]) -> None:
        self.params = params

    def set_model(self, model: Any) -> None:
        self.model = model

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        pass

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        pass

    def on_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        pass

    def on_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        pass

    def on_train_begin(self, logs: Logs | None = None) -> None:
        pass

    def on_train_end(self, logs: Logs | None = None) -> None:
        pass


class CallbackList:
    """Calls a list of callbacks in order, and warns when batch hooks are slow.

    The warning fires when the median time of the last `queue_length` calls of a batch
    hook exceeds both 0.95 times the last batch's duration and 0.1 s.

    Args:
        callbacks: the callbacks, called in list order.
        queue_length: how many recent hook timings the median covers.
    """

    def __init__(self, callbacks: Iterable[Callback] | None = None, queue_length: int = 10) -> None:
        self.callbacks = list(callbacks or [])
        self.queue_length = queue_length
        self._reset_timing()

    def _reset_timing(self) -> None:
        self._delta_t_batch = 0.0
        self._delta_ts_batch_begin: deque[float] = deque([], maxlen=self.queue_length)
        self._delta_ts_batch_end: deque[float] = deque([], maxlen=self.queue_length)
        self._t_enter_batch: float | None = None

    def append(self, callback: Callback) -> None:
        self.callbacks.append(callback)

    def set_params(self, params: dict[str, Any]) -> None:
        for callback in self.callbacks:
            callback.set_params(params)

    def set_model(self, model: Any) -> None:
        for callback in self.callbacks:
            callback.set_model(model)

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        logs = {} if logs is None else logs
        for callback in self.callbacks:
            callback.on_epoch_begin(epoch, logs)
        self._reset_timing()

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        logs = {} if logs is None else logs
        for callback in self.callbacks:
            callback.on_epoch_end(epoch, logs)

    def on_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        logs = {} if logs is None else logs
        t_before = time.time()
        for callback in self.callbacks:
            callback.on_batch_begin(batch, logs)
        self._delta_ts_batch_begin.append(time.time() - t_before)
        self._warn_if_slow("on_batch_begin", self._delta_ts_batch_begin)
        self._t_enter_batch = time.time()

    def on_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        logs = {} if logs is None else logs
        if self._t_enter_batch is None:
            self._t_enter_batch = time.time()
        self._delta_t_batch = time.time() - self._t_enter_batch
        t_before = time.time()
        for callback in self.callbacks:
            callback.on_batch_end(batch, logs)
        self._delta_ts_batch_end.append(time.time() - t_before)
        self._warn_if_slow("on_batch_end", self._delta_ts_batch_end)

    def _warn_if_slow(self, hook: str, deltas: deque[float]) -> None:
        # Runs twice per batch: the median (of at most queue_length values) is only needed
        # when some hook took over 0.1 s, and statistics.median of a few floats costs a
        # microsecond where numpy's costs tens.
        if not deltas or max(deltas) <= 0.1:
            return
        median = statistics.median(deltas)
        if self._delta_t_batch > 0.0 and median > 0.95 * self._delta_t_batch and median > 0.1:
            warnings.warn(
                f"Method {hook}() is slow compared to the batch update ({median:f}). "
                "Check your callbacks.",
                stacklevel=3,
            )

    def on_train_begin(self, logs: Logs | None = None) -> None:
        logs = {} if logs is None else logs
        for callback in self.callbacks:
            callback.on_train_begin(logs)

    def on_train_end(self, logs: Logs | None = None) -> None:
        logs = {} if logs is None else logs
        for callback in self.callbacks:
            callback.on_train_end(logs)

    def __iter__(self) -> Iterator[Callback]:
        return iter(self.callbacks)


class BaseLogger(Callback):
    """Averages batch metrics over each epoch, weighting each batch by its size.

    At the end of an epoch it writes `sum(value_b * size_b) / sum(size_b)` into the epoch
    logs for every name in `params['metrics']` that the batch logs carried. `fit` always
    adds it first.
    """

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        self.seen = 0
        self.totals: dict[str, Any] = {}

    def on_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        logs = logs or {}
        batch_size = logs.get("size", 0)
        self.seen += batch_size
        for k, v in logs.items():
            self.totals[k] = self.totals.get(k, 0) + v * batch_size

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        if logs is None:
            return
        for k in self.params.get("metrics", []):
            if k in self.totals:
                logs[k] = self.totals[k] / self.seen


class TerminateOnNaN(Callback):
    """Stops training as soon as a batch loss is NaN or infinite."""

    def on_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and (np.isnan(loss) or np.isinf(loss)):
            print(f"Batch {batch}: Invalid loss, terminating training")
            self.model.stop_training = True


class ProgbarLogger(Callback):
    """Prints epoch headers and a progress bar (see `Progbar`) with the metrics.

    Args:
        count_mode: 'samples' (the bar counts samples; `fit`) or 'steps' (it counts
            batches; `fit_generator`).

    Raises:
        ValueError: an unknown `count_mode`.
    """

    def __init__(self, count_mode: str = "samples") -> None:
        super().__init__()
        if count_mode not in ("samples", "steps"):
            raise ValueError(
                f"Unknown `count_mode`: {count_mode!r}; valid choices: 'samples', 'steps'"
            )
        self.use_steps = count_mode == "steps"
        self.seen = 0
        self.target = 0
        self.log_values: list[tuple[str, Any]] = []

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self.verbose = self.params["verbose"]
        self.epochs = self.params["epochs"]

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        if self.verbose:
            self.target = self.params["steps"] if self.use_steps else self.params["samples"]
            print(f"Epoch {epoch + 1}/{self.epochs}")
            self.progbar = Progbar(target=self.target, verbose=self.verbose)
        self.seen = 0

    def on_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        if self.seen < self.target:
            self.log_values = []

    def on_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        logs = logs or {}
        self.seen += 1 if self.use_steps else logs.get("size", 0)
        for k in self.params["metrics"]:
            if k in logs:
                self.log_values.append((k, logs[k]))
        # The last batch is drawn by on_epoch_end, once the epoch averages are known.
        if self.verbose and self.seen < self.target:
            self.progbar.update(self.seen, self.log_values)

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        logs = logs or {}
        for k in self.params["metrics"]:
            if k in logs:
                self.log_values.append((k, logs[k]))
        if self.verbose:
            self.progbar.update(self.seen, self.log_values, force=True)


class History(Callback):
    """Records the epoch logs; `fit` always adds it and returns it.

    Attributes:
        epoch: the epoch indices seen (0-based, from `initial_epoch`).
        history: `{name: [value per epoch]}`, e.g. `loss`, `acc`, `val_loss`.
    """

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self.epoch: list[int] = []
        self.history: dict[str, list[Any]] = {}

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(v)


def _ignore_epoch(epoch: int, logs: Logs | None) -> None:
    return None


def _ignore_train(logs: Logs | None) -> None:
    return None


class LambdaCallback(Callback):
    """A callback made of plain functions.

    Epoch and batch hooks are called as `fn(index, logs)`, train hooks as `fn(logs)`;
    missing hooks do nothing. Extra keyword arguments become attributes.

    Example:
        ```python
        print_batch = LambdaCallback(on_batch_begin=lambda batch, logs: print(batch))
        ```
    """

    def __init__(
        self,
        on_epoch_begin: Callable[[int, Logs], Any] | None = None,
        on_epoch_end: Callable[[int, Logs], Any] | None = None,
        on_batch_begin: Callable[[int, Logs], Any] | None = None,
        on_batch_end: Callable[[int, Logs], Any] | None = None,
        on_train_begin: Callable[[Logs], Any] | None = None,
        on_train_end: Callable[[Logs], Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__()
        self.__dict__.update(kwargs)
        self.on_epoch_begin = on_epoch_begin or _ignore_epoch  # type: ignore[method-assign]
        self.on_epoch_end = on_epoch_end or _ignore_epoch  # type: ignore[method-assign]
        self.on_batch_begin = on_batch_begin or _ignore_epoch  # type: ignore[method-assign]
        self.on_batch_end = on_batch_end or _ignore_epoch  # type: ignore[method-assign]
        self.on_train_begin = on_train_begin or _ignore_train  # type: ignore[method-assign]
        self.on_train_end = on_train_end or _ignore_train  # type: ignore[method-assign]


# Imported last: these modules subclass `Callback` from this package.
from kgraph.callbacks._loggers import CSVLogger, RemoteMonitor  # noqa: E402
from kgraph.callbacks._monitors import (  # noqa: E402
    EarlyStopping,
    LearningRateScheduler,
    ModelCheckpoint,
    ReduceLROnPlateau,
)
from kgraph.callbacks._tensorboard import TensorBoard  # noqa: E402
