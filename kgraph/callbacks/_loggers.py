"""Callbacks that write the epoch logs somewhere: CSVLogger (a CSV file) and RemoteMonitor
(an HTTP server)."""

from __future__ import annotations

import csv
import json
import os
import urllib.error
import urllib.parse
import urllib.request
import warnings
from collections.abc import Iterable
from typing import Any, TextIO

import numpy as np

from kgraph.callbacks import Callback, Logs

__all__ = ["CSVLogger", "RemoteMonitor"]


class CSVLogger(Callback):
    """Streams the epoch logs to a CSV file, one row per epoch.

    The header is `epoch` followed by the sorted keys of the first epoch's logs; the
    `csv` module's Excel dialect writes `\\r\\n` line endings. An iterable value is written
    as the string `"[a, b]"` (quoted again by the CSV writer), as Keras does.

    Args:
        filename: the CSV file.
        separator: the field separator.
        append: add to an existing file (no second header when it is non-empty; epoch
            numbers restart at 0) instead of overwriting it.

    Example:
        ```python
        model.fit(x, y, callbacks=[CSVLogger('training.log')])
        ```
    """

    def __init__(self, filename: str, separator: str = ",", append: bool = False) -> None:
        super().__init__()
        self.sep = separator
        self.filename = filename
        self.append = append
        self.writer: csv.DictWriter | None = None
        self.keys: list[str] | None = None
        self.append_header = True
        self.csv_file: TextIO | None = None

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self.writer = None
        self.append_header = True
        if self.append:
            if os.path.exists(self.filename):
                with open(self.filename, newline="") as f:
                    self.append_header = not bool(len(f.readline()))
            self.csv_file = open(self.filename, "a", newline="")  # noqa: SIM115 (closed at train end)
        else:
            self.csv_file = open(self.filename, "w", newline="")  # noqa: SIM115

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        logs = logs or {}
        if self.csv_file is None:
            raise RuntimeError("CSVLogger.on_epoch_end called before on_train_begin")
        if self.writer is None:
            self.keys = sorted(logs)

            class CustomDialect(csv.excel):
                delimiter = self.sep

            self.writer = csv.DictWriter(
                self.csv_file, fieldnames=["epoch", *self.keys], dialect=CustomDialect
            )
            if self.append_header:
                self.writer.writeheader()
        # A stopped epoch may lack keys (e.g. validation was skipped): write NA for them.
        row = {"epoch": epoch}
        row.update((k, _csv_value(logs[k]) if k in logs else "NA") for k in self.keys or [])
        self.writer.writerow(row)
        self.csv_file.flush()

    def on_train_end(self, logs: Logs | None = None) -> None:
        if self.csv_file is not None:
            self.csv_file.close()
            self.csv_file = None
        self.writer = None


def _csv_value(value: Any) -> Any:
    is_zero_dim = isinstance(value, np.ndarray) and value.ndim == 0
    if isinstance(value, Iterable) and not is_zero_dim and not isinstance(value, str):
        return '"[{}]"'.format(", ".join(map(str, value)))
    return value


class RemoteMonitor(Callback):
    """POSTs the epoch logs to a server at the end of every epoch.

    The body is form-encoded: one field, `field`, holding the JSON of
    `{'epoch': epoch, **logs}`. A server that cannot be reached gives a warning, not an
    error, so monitoring never stops training.

    Args:
        root: the server's root URL.
        path: the path the events are sent to.
        field: the form field that carries the JSON.
        headers: HTTP headers (default: JSON `Accept` and `Content-Type`, as Keras sends).
        timeout: seconds to wait for the server before giving up on one event.

    Example:
        ```python
        model.fit(x, y, callbacks=[RemoteMonitor(root='http://localhost:9000')])
        ```
    """

    def __init__(self, root: str = "http://localhost:9000", path: str = "/publish/epoch/end/",
                 field: str = "data", headers: dict[str, str] | None = None,
                 timeout: float = 10.0) -> None:  # fmt: skip
        super().__init__()
        if headers is None:
            headers = {"Accept": "application/json", "Content-Type": "application/json"}
        self.root = root
        self.path = path
        self.field = field
        self.headers = headers
        self.timeout = timeout

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        send = {"epoch": epoch}
        send.update((k, _jsonable(v)) for k, v in (logs or {}).items())
        body = urllib.parse.urlencode({self.field: json.dumps(send)}).encode("utf-8")
        request = urllib.request.Request(
            self.root + self.path, data=body, headers=self.headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                response.read()
        except urllib.error.HTTPError as e:
            warnings.warn(
                f"RemoteMonitor server at {self.root} answered HTTP {e.code} ({e.reason})",
                stacklevel=2,
            )
        except (urllib.error.URLError, OSError, ValueError) as e:
            warnings.warn(
                f"Warning: could not reach RemoteMonitor root server at {self.root} ({e})",
                stacklevel=2,
            )


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value
