"""Feeding batches to the generator loops: `Sequence` (an indexable dataset) and the
enqueuers that prefetch batches on worker threads while the runtime computes.

Workers are threads. onnxruntime releases the GIL while it runs a step, so threads that
read, decode or augment data overlap with training. Both enqueuers deliver batches in
order: a Python generator is advanced under a lock by one worker at a time, and a
`Sequence`'s items are fetched in parallel but queued in index order.

`get_file` and `validate_file` (downloads into the Keras cache) live in
`kgraph.utils.downloads` and are exported here, where Keras 2.0.5 has them.
"""

from __future__ import annotations

import abc
import queue
import random
import threading
import warnings
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from kgraph.utils.downloads import _hash_file, get_file, validate_file  # noqa: F401

__all__ = ["GeneratorEnqueuer", "OrderedEnqueuer", "Sequence", "get_file", "validate_file"]


class Sequence(abc.ABC):
    """Base class of indexable datasets for `fit_generator`, `evaluate_generator` and
    `predict_generator`.

    Implement `__getitem__` (the batch at an index, e.g. `(x, y)`) and `__len__` (the
    number of batches). `on_epoch_end` runs after each full pass over the indices, e.g. to
    reshuffle. Unlike a generator, a Sequence lets several workers fetch batches at once
    while keeping their order, and `steps_per_epoch` defaults to `len(sequence)`.

    Example:
        ```python
        class Batches(Sequence):
            def __init__(self, x, y, batch_size):
                self.x, self.y, self.batch_size = x, y, batch_size

            def __len__(self):
                return -(-len(self.x) // self.batch_size)

            def __getitem__(self, idx):
                s = slice(idx * self.batch_size, (idx + 1) * self.batch_size)
                return self.x[s], self.y[s]

        model.fit_generator(Batches(x, y, 32), epochs=10, workers=4)
        ```
    """

    @abc.abstractmethod
    def __getitem__(self, index: int) -> Any:
        """The batch at `index`."""

    @abc.abstractmethod
    def __len__(self) -> int:
        """The number of batches in one pass."""

    def on_epoch_end(self) -> None:  # noqa: B027 (optional hook, a no-op by default)
        """Called after each full pass over the sequence."""

    def __iter__(self) -> Iterator[Any]:
        for i in range(len(self)):
            yield self[i]


class _End:
    """Queued by a worker when a generator is exhausted."""


class _Failure:
    """Queued by a worker when producing a batch raised; the consumer re-raises it."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


def _warn_processes(use_multiprocessing: bool) -> None:
    if use_multiprocessing:
        warnings.warn(
            "use_multiprocessing=True (pickle_safe=True): kgraph feeds batches from worker "
            "threads, not processes.",
            stacklevel=3,
        )


class _Enqueuer:
    """A bounded queue filled by worker threads; `get()` yields what they produce."""

    wait_time = 0.05

    def __init__(self) -> None:
        self.queue: queue.Queue[Any] = queue.Queue()
        self._stop_event = threading.Event()
        self._threads: list[threading.Thread] = []
        self.workers = 0

    def is_running(self) -> bool:
        return not self._stop_event.is_set() and any(t.is_alive() for t in self._threads)

    def _put(self, item: Any) -> bool:
        """Blocks until there is room; False when the enqueuer was stopped meanwhile."""
        while not self._stop_event.is_set():
            try:
                self.queue.put(item, timeout=self.wait_time)
                return True
            except queue.Full:
                continue
        return False

    def _start_threads(self, target: Any, count: int, max_queue_size: int) -> None:
        self.queue = queue.Queue(maxsize=max(1, max_queue_size))
        self._stop_event.clear()
        self._threads = [threading.Thread(target=target, daemon=True) for _ in range(count)]
        for t in self._threads:
            t.start()

    def stop(self, timeout: float | None = None) -> None:
        """Stops the workers and drops queued batches. Workers blocked inside user code
        finish that call first; they are daemon threads, so they never block exit."""
        self._stop_event.set()
        for t in self._threads:
            t.join(timeout)
        self._threads = []


class GeneratorEnqueuer(_Enqueuer):
    """Prefetches the outputs of a Python generator (or any iterator) on worker threads.

    Workers take turns advancing the generator under a lock, so it need not be
    thread-safe and its outputs arrive in order. When the generator raises, `get()`
    re-raises that exception; when it is exhausted, `get()` ends.

    Args:
        generator: the iterator to draw from.
        use_multiprocessing: accepted for Keras compatibility; workers are threads.
        wait_time: seconds between checks for a stop request while waiting.
    """

    def __init__(self, generator: Iterator[Any], use_multiprocessing: bool = False,
                 wait_time: float = 0.05) -> None:  # fmt: skip
        super().__init__()
        _warn_processes(use_multiprocessing)
        self._generator = generator
        self._lock = threading.Lock()
        self._finished = False
        self.wait_time = wait_time

    def start(self, workers: int = 1, max_queue_size: int = 10) -> None:
        """Starts `workers` threads (0: batches are drawn on the caller's thread by `get`)."""
        self.workers = workers
        if workers > 0:
            self._start_threads(self._run, workers, max_queue_size)

    def _next_item(self) -> Any:
        try:
            return next(self._generator)
        except StopIteration:
            return _End()
        except Exception as e:  # re-raised on the consumer's thread
            return _Failure(e)

    def _run(self) -> None:
        while not self._stop_event.is_set():
            # The put happens under the lock too, so batches are queued in drawing order.
            with self._lock:
                if self._finished or self._stop_event.is_set():
                    return
                item = self._next_item()
                self._finished = isinstance(item, (_End, _Failure))
                if not self._put(item):
                    return

    def get(self) -> Iterator[Any]:
        """Yields the generator's outputs in order."""
        while True:
            if self.workers <= 0:
                item = self._next_item()
            else:
                try:
                    item = self.queue.get(timeout=self.wait_time)
                except queue.Empty:
                    if self._stop_event.is_set():
                        return
                    continue
            if isinstance(item, _Failure):
                raise item.error
            if isinstance(item, _End):
                return
            yield item


class OrderedEnqueuer(_Enqueuer):
    """Prefetches the items of a `Sequence` on a pool of worker threads, in index order,
    looping over it forever and calling `sequence.on_epoch_end()` after each pass (once the
    pass's batches have been taken).

    Args:
        sequence: the `Sequence`.
        use_multiprocessing: accepted for Keras compatibility; workers are threads.
        shuffle: visit the indices of each pass in a random order.

    Raises:
        ValueError: an empty sequence (on `start`).
    """

    def __init__(
        self, sequence: Sequence, use_multiprocessing: bool = False, shuffle: bool = False
    ) -> None:
        super().__init__()
        _warn_processes(use_multiprocessing)
        self.sequence = sequence
        self.shuffle = shuffle
        self._executor: ThreadPoolExecutor | None = None

    def _indices(self) -> list[int]:
        n = len(self.sequence)
        if n <= 0:
            raise ValueError(
                f"The Sequence {type(self.sequence).__name__} is empty (len() == {n})."
            )
        indices = list(range(n))
        if self.shuffle:
            random.shuffle(indices)
        return indices

    def start(self, workers: int = 1, max_queue_size: int = 10) -> None:
        """Starts a pool of `workers` threads (0: items are fetched by `get` itself)."""
        self.workers = workers
        self._indices()  # fail early on an empty sequence
        if workers > 0:
            self._executor = ThreadPoolExecutor(
                max_workers=workers, thread_name_prefix="kgraph-sequence"
            )
            self._start_threads(self._run, 1, max_queue_size)

    def _run(self) -> None:
        assert self._executor is not None
        while not self._stop_event.is_set():
            try:
                indices = self._indices()
            except Exception as e:
                self._put(_Failure(e))
                return
            for i in indices:
                if not self._put(self._executor.submit(self.sequence.__getitem__, i)):
                    return
            # on_epoch_end may reshuffle what __getitem__ reads: wait until this pass's
            # batches have all been taken and computed.
            with self.queue.all_tasks_done:
                while self.queue.unfinished_tasks and not self._stop_event.is_set():
                    self.queue.all_tasks_done.wait(self.wait_time)
            if self._stop_event.is_set():
                return
            try:
                self.sequence.on_epoch_end()
            except Exception as e:
                self._put(_Failure(e))
                return

    def get(self) -> Iterator[Any]:
        """Yields the sequence's items, pass after pass."""
        if self.workers <= 0:
            while True:
                for i in self._indices():
                    yield self.sequence[i]
                self.sequence.on_epoch_end()
        while True:
            try:
                item = self.queue.get(timeout=self.wait_time)
            except queue.Empty:
                if not self.is_running():
                    return
                continue
            try:
                if isinstance(item, _Failure):
                    raise item.error
                assert isinstance(item, Future)
                result = item.result()
            finally:
                self.queue.task_done()
            yield result

    def stop(self, timeout: float | None = None) -> None:
        super().stop(timeout)
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
