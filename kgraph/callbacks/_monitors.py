"""Callbacks that watch a logged quantity or the epoch index and act on the model:
EarlyStopping, ReduceLROnPlateau, LearningRateScheduler and ModelCheckpoint.

Keras 2.0.5 semantics throughout: epoch indices are 0-based, an unknown `mode` warns and
falls back to 'auto', and 'auto' maximizes quantities whose name contains 'acc'.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from kgraph import backend as K
from kgraph.callbacks import Callback, Logs

__all__ = ["EarlyStopping", "LearningRateScheduler", "ModelCheckpoint", "ReduceLROnPlateau"]


def _resolve_mode(who: str, mode: str, monitor: str, maximize: bool | None = None) -> bool:
    """True when `monitor` should increase. `maximize` overrides the 'auto' guess."""
    if mode not in ("auto", "min", "max"):
        warnings.warn(
            f"{who} mode {mode} is unknown, fallback to auto mode.", RuntimeWarning, stacklevel=3
        )
        mode = "auto"
    if mode == "auto":
        return "acc" in monitor if maximize is None else maximize
    return mode == "max"


def _optimizer_lr(model: Any, who: str) -> Any:
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None or not hasattr(optimizer, "lr"):
        raise ValueError(f'{who}: the optimizer must have a "lr" attribute (got {optimizer!r}).')
    return optimizer.lr


class EarlyStopping(Callback):
    """Stops training when a monitored quantity has stopped improving.

    An epoch improves when `current - min_delta` beats the best value so far (`min_delta`
    counts against the direction of improvement). Training stops at the end of the
    `patience + 1`-th consecutive epoch without improvement.

    Args:
        monitor: the quantity to watch, a key of the epoch logs (e.g. 'val_loss').
        min_delta: the smallest change that counts as an improvement.
        patience: how many epochs without improvement to tolerate.
        verbose: 1 prints `Epoch %05d: early stopping` when training ends early.
        mode: 'min', 'max', or 'auto' (max when the name contains 'acc').

    Example:
        ```python
        model.fit(x, y, validation_split=0.2, callbacks=[EarlyStopping(patience=2)])
        ```
    """

    def __init__(self, monitor: str = "val_loss", min_delta: float = 0, patience: int = 0,
                 verbose: int = 0, mode: str = "auto") -> None:  # fmt: skip
        super().__init__()
        self.monitor = monitor
        self.patience = patience
        self.verbose = verbose
        self.wait = 0
        self.stopped_epoch = 0
        greater = _resolve_mode("EarlyStopping", mode, monitor)
        self.monitor_op: Callable[[Any, Any], Any] = np.greater if greater else np.less
        self.min_delta = min_delta if greater else -min_delta

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self.wait = 0
        self.stopped_epoch = 0
        self.best = -np.inf if self.monitor_op is np.greater else np.inf

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        current = (logs or {}).get(self.monitor)
        if current is None:
            warnings.warn(
                f"Early stopping requires {self.monitor} available! Available: {sorted(logs or {})}",
                RuntimeWarning,
                stacklevel=2,
            )
            return
        if self.monitor_op(current - self.min_delta, self.best):
            self.best = current
            self.wait = 0
        else:
            if self.wait >= self.patience:
                self.stopped_epoch = epoch
                self.model.stop_training = True
            self.wait += 1

    def on_train_end(self, logs: Logs | None = None) -> None:
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch:05d}: early stopping")


class ReduceLROnPlateau(Callback):
    """Multiplies the learning rate by `factor` when a monitored quantity stops improving.

    The optimizer's `lr` is a variable, so the new rate applies from the next training
    step without recompiling. Every epoch writes the rate it trained with to
    `logs['lr']` (before any reduction at that epoch's end). The first reduction comes
    after `patience + 1` epochs without improvement, later ones every `patience` epochs.

    Args:
        monitor: the quantity to watch.
        factor: the multiplier, below 1.
        patience: epochs without improvement before a reduction.
        verbose: 1 prints each reduction.
        mode: 'min', 'max', or 'auto' (max when the name contains 'acc').
        epsilon: the margin a new value must beat the best by to count as an improvement.
        cooldown: epochs to wait after a reduction before counting again.
        min_lr: the lower bound of the learning rate.

    Raises:
        ValueError: `factor >= 1`.

    Example:
        ```python
        reduce_lr = ReduceLROnPlateau(monitor='val_loss', factor=0.2, patience=5, min_lr=0.001)
        model.fit(x, y, validation_split=0.2, callbacks=[reduce_lr])
        ```
    """

    def __init__(self, monitor: str = "val_loss", factor: float = 0.1, patience: int = 10,
                 verbose: int = 0, mode: str = "auto", epsilon: float = 1e-4, cooldown: int = 0,
                 min_lr: float = 0) -> None:  # fmt: skip
        super().__init__()
        if factor >= 1.0:
            raise ValueError(f"ReduceLROnPlateau does not support a factor >= 1.0 (got {factor}).")
        self.monitor = monitor
        self.factor = factor
        self.min_lr = min_lr
        self.epsilon = epsilon
        self.patience = patience
        self.verbose = verbose
        self.cooldown = cooldown
        self.mode = mode
        self._reset()

    def _reset(self) -> None:
        greater = _resolve_mode("Learning Rate Plateau Reducing", self.mode, self.monitor)
        self.mode = "max" if greater else "min"
        if greater:
            self.monitor_op = lambda a, b: np.greater(a, b + self.epsilon)
            self.best = -np.inf
        else:
            self.monitor_op = lambda a, b: np.less(a, b - self.epsilon)
            self.best = np.inf
        self.cooldown_counter = 0
        self.wait = 0
        self.lr_epsilon = self.min_lr * 1e-4

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self._reset()

    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        logs = {} if logs is None else logs
        lr = _optimizer_lr(self.model, "ReduceLROnPlateau")
        logs["lr"] = np.float32(K.get_value(lr))
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(
                f"Learning Rate Plateau Reducing requires {self.monitor} available! "
                f"Available: {sorted(logs)}",
                RuntimeWarning,
                stacklevel=2,
            )
            return
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self.monitor_op(current, self.best):
            self.best = current
            self.wait = 0
        elif not self.in_cooldown():
            if self.wait >= self.patience:
                old_lr = float(K.get_value(lr))
                if old_lr > self.min_lr + self.lr_epsilon:
                    new_lr = max(old_lr * self.factor, self.min_lr)
                    K.set_value(lr, new_lr)
                    if self.verbose > 0:
                        print(f"\nEpoch {epoch:05d}: reducing learning rate to {new_lr}.")
                    self.cooldown_counter = self.cooldown
                    self.wait = 0
            self.wait += 1


class LearningRateScheduler(Callback):
    """Sets the learning rate at the start of every epoch from `schedule(epoch)`.

    Args:
        schedule: a function of the 0-based epoch index returning the learning rate as a
            Python float or a numpy float32/float64.

    Raises:
        ValueError: (at the start of an epoch) the optimizer has no `lr`, or the schedule
            returned something other than a float (an int included).

    Example:
        ```python
        model.fit(x, y, epochs=10, callbacks=[LearningRateScheduler(lambda e: 0.1 * 0.5**e)])
        ```
    """

    def __init__(self, schedule: Callable[[int], float]) -> None:
        super().__init__()
        self.schedule = schedule

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        lr_var = _optimizer_lr(self.model, "LearningRateScheduler")
        lr = self.schedule(epoch)
        if not isinstance(lr, (float, np.float32, np.float64)):
            raise ValueError(
                'The output of the "schedule" function should be float; got '
                f"{lr!r} ({type(lr).__name__}) for epoch {epoch}."
            )
        K.set_value(lr_var, lr)


class ModelCheckpoint(Callback):
    """Saves the model (or only its weights) after every `period` epochs.

    `filepath` may hold named format fields filled from the epoch (0-based) and the epoch
    logs, e.g. `weights.{epoch:02d}-{val_loss:.2f}.hdf5`.

    Args:
        filepath: where to save.
        monitor: the quantity `save_best_only` compares.
        verbose: 1 prints a line per save decision.
        save_best_only: save only when `monitor` improves on the best value so far.
        save_weights_only: `model.save_weights(...)` instead of `model.save(...)`.
        mode: 'min', 'max', or 'auto' (max for names containing 'acc' or starting with
            'fmeasure').
        period: epochs between checkpoints.
    """

    def __init__(self, filepath: str, monitor: str = "val_loss", verbose: int = 0,
                 save_best_only: bool = False, save_weights_only: bool = False,
                 mode: str = "auto", period: int = 1) -> None:  # fmt: skip
        super().__init__()
        self.monitor = monitor
        self.verbose = verbose
        self.filepath = filepath
        self.save_best_only = save_best_only
        self.save_weights_only = save_weights_only
        self.period = period
        self.epochs_since_last_save = 0
        maximize = "acc" in monitor or monitor.startswith("fmeasure")
        greater = _resolve_mode("ModelCheckpoint", mode, monitor, maximize)
        self.monitor_op: Callable[[Any, Any], Any] = np.greater if greater else np.less
        self.best = -np.inf if greater else np.inf

    def on_train_begin(self, logs: Logs | None = None) -> None:
        method = "save_weights" if self.save_weights_only else "save"
        if not callable(getattr(self.model, method, None)):
            raise AttributeError(
                f"ModelCheckpoint(save_weights_only={self.save_weights_only}) needs "
                f"`model.{method}(filepath, overwrite=True)`, which {type(self.model).__name__} "
                "does not have" + ("; pass save_weights_only=True." if method == "save" else ".")
            )

    def _save(self, filepath: str) -> None:
        if self.save_weights_only:
            self.model.save_weights(filepath, overwrite=True)
        else:
            self.model.save(filepath, overwrite=True)

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        logs = logs or {}
        self.epochs_since_last_save += 1
        if self.epochs_since_last_save < self.period:
            return
        self.epochs_since_last_save = 0
        filepath = self.filepath.format(epoch=epoch, **logs)
        if not self.save_best_only:
            if self.verbose > 0:
                print(f"Epoch {epoch:05d}: saving model to {filepath}")
            self._save(filepath)
            return
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(
                f"Can save best model only with {self.monitor} available, skipping.",
                RuntimeWarning,
                stacklevel=2,
            )
        elif self.monitor_op(current, self.best):
            if self.verbose > 0:
                print(
                    f"Epoch {epoch:05d}: {self.monitor} improved from {self.best:0.5f} to "
                    f"{current:0.5f}, saving model to {filepath}"
                )
            self.best = current
            self._save(filepath)
        elif self.verbose > 0:
            print(f"Epoch {epoch:05d}: {self.monitor} did not improve")
