"""Reads an HDF5 file's structure in a child process before kgraph reads it.

The HDF5 C library can crash the process (segmentation fault) on a corrupted file: a
flipped byte in an object header is enough. Python cannot catch that, so every reader
first lets a child process open the file and read what the reader will: every object
header and attribute reachable from the root, and the data of chunked datasets (those go
through B-trees; contiguous data is one bounded read). A child killed by a signal, or one
that does not finish in time, means the file is damaged; kgraph then reports that instead
of crashing or hanging. Exceptions in the child do not matter: the reader meets them again
in the parent and turns them into clear errors.

On POSIX the child is a `fork` of the current process (a few milliseconds); elsewhere it
is a fresh interpreter. A forked child inherits the parent's state as it was at the fork:
a lock another thread held never opens, and an object of another library (a session whose
threads the child does not have) can crash when it is freed. So a forked child that stalls
or crashes is no verdict: the file is read again by a fresh interpreter, whose verdict
counts. A damaged file costs that interpreter's start-up; a sound one, only the fork.
"""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import subprocess
import sys
import threading
import warnings

__all__ = ["probe", "ProbeFailed"]

BASE_TIMEOUT_S = 30.0
BYTES_PER_S = 50e6
"""The child gets BASE_TIMEOUT_S plus the file size at this rate before it counts as hung."""
SPAWN_STARTUP_S = 10.0
"""What a fresh interpreter gets on top, to start."""


class ProbeFailed(Exception):
    """The HDF5 library crashed or hung on the file; the message says which."""


class _TimedOut(ProbeFailed):
    pass


def walk(path: str) -> None:
    """Opens `path` and reads every attribute and object header (chunked data too)."""
    import h5py

    def attrs(obj) -> None:
        for key in list(obj.attrs):
            obj.attrs[key]  # noqa: B018 - reading is the point

    with h5py.File(path, "r") as f:
        attrs(f)

        def visit(name, obj) -> None:
            attrs(obj)
            if isinstance(obj, h5py.Dataset) and obj.chunks is not None:
                obj[()]  # noqa: B018 - reading is the point

        f.visititems(visit)


def _child(path: str) -> None:
    import faulthandler

    faulthandler.disable()  # a crash here is expected and reported by the parent
    try:
        walk(path)
    except BaseException:  # the parent meets any exception again and explains it
        pass


def _timeout(path: str) -> float:
    try:
        size = os.path.getsize(path)
    except OSError:
        size = 0
    return BASE_TIMEOUT_S + size / BYTES_PER_S


def _wait(pid: int, timeout: float) -> int:
    """The child's exit status; a watchdog kills it once `timeout` seconds have passed."""
    killed = threading.Event()

    def kill() -> None:
        killed.set()
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)

    watchdog = threading.Timer(timeout, kill)
    watchdog.daemon = True
    watchdog.start()
    try:
        _, status = os.waitpid(pid, 0)
    finally:
        watchdog.cancel()
    if killed.is_set():
        raise _TimedOut(f"reading it did not finish within {timeout:.0f} s")
    return status


def _fork_probe(path: str, timeout: float) -> None:
    from h5py._objects import phil

    # Holding h5py's global lock across the fork means no other thread holds it, so the
    # child can take it; the child only reads the file with h5py and exits, and uses none
    # of the other libraries' threads that Python 3.12 warns about.
    with phil, warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child: never return into the caller's code
        code = 0
        try:
            # The parent's objects stay as they are: collecting them would run finalizers
            # of libraries whose threads and handles the child does not have.
            gc.disable()
            _child(path)
        finally:
            os._exit(code)
    status = _wait(pid, timeout)
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        raise ProbeFailed(f"reading it crashes the HDF5 library ({signal.Signals(sig).name})")


_SPAWN_CODE = "import sys; from kgraph.engine.h5_probe import _child; _child(sys.argv[1])"


def _spawn_probe(path: str, timeout: float) -> None:
    try:
        run = subprocess.run([sys.executable, "-c", _SPAWN_CODE, path], timeout=timeout + SPAWN_STARTUP_S,
                             capture_output=True)  # fmt: skip
    except subprocess.TimeoutExpired:
        raise ProbeFailed(f"reading it did not finish within {timeout:.0f} s") from None
    if run.returncode < 0:
        name = signal.Signals(-run.returncode).name
        raise ProbeFailed(f"reading it crashes the HDF5 library ({name})")
    if run.returncode != 0:
        raise ProbeFailed(f"reading it crashes the HDF5 library (exit status {run.returncode})")


def probe(path: str) -> None:
    """Raises ProbeFailed when reading `path` crashes or hangs the HDF5 library."""
    timeout = _timeout(path)
    if not hasattr(os, "fork"):  # pragma: no cover - Windows
        _spawn_probe(path, timeout)
        return
    try:
        _fork_probe(path, timeout)
    except ProbeFailed:
        # A forked child inherits every lock and object as it was at the fork; a fresh
        # interpreter inherits none, so only its verdict counts.
        _spawn_probe(path, timeout)
