"""Python utilities of the Keras API: custom-object scopes, (de)serialization, Progbar.

The console output of `Progbar` is byte-for-byte the Keras 2.0.5 format, so logs and
scripts that parse them keep working.
"""

from __future__ import annotations

import codecs
import inspect
import marshal
import sys
import time
import types
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Self

import numpy as np

__all__ = [
    "CustomObjectScope",
    "Progbar",
    "custom_object_scope",
    "deserialize_keras_object",
    "func_dump",
    "func_load",
    "get_custom_objects",
    "has_arg",
    "serialize_keras_object",
]

_GLOBAL_CUSTOM_OBJECTS: dict[str, Any] = {}


class CustomObjectScope:
    """A scope whose changes to the global custom objects do not escape it.

    Inside the `with` block, objects of the given dicts resolve by name (in `get()`
    functions, `from_config`, model loading). On exit the global dict is restored to
    what it held on entry, including changes made inside the block.

    Args:
        *args: dicts mapping names to classes or functions.

    Example:
        ```python
        with CustomObjectScope({'MyInit': MyInit}):
            layer = Dense(4, kernel_initializer='MyInit')
        ```
    """

    def __init__(self, *args: Mapping[str, Any]) -> None:
        self.custom_objects = args
        self.backup: dict[str, Any] | None = None

    def __enter__(self) -> Self:
        self.backup = _GLOBAL_CUSTOM_OBJECTS.copy()
        for objects in self.custom_objects:
            _GLOBAL_CUSTOM_OBJECTS.update(objects)
        return self

    def __exit__(self, *args: object) -> None:
        _GLOBAL_CUSTOM_OBJECTS.clear()
        _GLOBAL_CUSTOM_OBJECTS.update(self.backup or {})


def custom_object_scope(*args: Mapping[str, Any]) -> CustomObjectScope:
    """Returns `CustomObjectScope(*args)`; see there.

    Example:
        ```python
        with custom_object_scope({'MyObject': MyObject}):
            model = load_model('m.h5')
        ```
    """
    return CustomObjectScope(*args)


def get_custom_objects() -> dict[str, Any]:
    """Returns the live global dict of custom objects (names to classes/functions).

    Example:
        ```python
        get_custom_objects()['MyObject'] = MyObject
        ```
    """
    return _GLOBAL_CUSTOM_OBJECTS


def serialize_keras_object(instance: Any) -> Any:
    """Serializes a Keras object.

    Args:
        instance: an object with `get_config()`, a named function/class, or None.

    Returns:
        `{'class_name': ..., 'config': ...}` for configurable objects, the `__name__` for
        functions, None for None.

    Raises:
        ValueError: the object has neither `get_config` nor `__name__`.
    """
    if instance is None:
        return None
    if hasattr(instance, "get_config"):
        return {"class_name": type(instance).__name__, "config": instance.get_config()}
    if hasattr(instance, "__name__"):
        return instance.__name__
    raise ValueError(f"Cannot serialize {instance!r}: it has neither get_config nor __name__")


def _lookup(
    name: str,
    module_objects: Mapping[str, Any] | None,
    custom_objects: Mapping[str, Any] | None,
    printable_module_name: str,
) -> Any:
    # Keras's precedence: the explicit dict, then the global scope, then the module.
    if custom_objects and name in custom_objects:
        return custom_objects[name]
    if name in _GLOBAL_CUSTOM_OBJECTS:
        return _GLOBAL_CUSTOM_OBJECTS[name]
    module_objects = module_objects or {}
    obj = module_objects.get(name)
    if obj is None:
        choices = sorted({*module_objects, *_GLOBAL_CUSTOM_OBJECTS, *(custom_objects or {})})
        raise ValueError(
            f"Unknown {printable_module_name}: {name}. Valid choices: {', '.join(choices)}. "
            "Pass custom objects with `custom_objects=` or a CustomObjectScope."
        )
    return obj


def deserialize_keras_object(
    identifier: Any,
    module_objects: Mapping[str, Any] | None = None,
    custom_objects: Mapping[str, Any] | None = None,
    printable_module_name: str = "object",
) -> Any:
    """Turns a serialized identifier back into an object.

    Args:
        identifier: a `{'class_name', 'config'}` dict (instantiated via `from_config`, or
            called with the config as kwargs when it has no `from_config`), or a name
            (returned as the object it names, not called).
        module_objects: the names the calling module offers.
        custom_objects: extra names; they take precedence over global custom objects,
            which take precedence over `module_objects`.
        printable_module_name: what the identifier is, for error messages ('initializer').

    Returns:
        The object.

    Raises:
        ValueError: a malformed config, or a name found nowhere (the message lists the
            valid choices).
    """
    if isinstance(identifier, dict):
        config = identifier
        if "class_name" not in config or "config" not in config:
            raise ValueError(f"Improper config format: {config}")
        cls = _lookup(config["class_name"], module_objects, custom_objects, printable_module_name)
        custom_objects = dict(custom_objects or {})
        if hasattr(cls, "from_config"):
            if has_arg(cls.from_config, "custom_objects"):
                merged = {**_GLOBAL_CUSTOM_OBJECTS, **custom_objects}
                return cls.from_config(config["config"], custom_objects=merged)
            with CustomObjectScope(custom_objects):
                return cls.from_config(config["config"])
        # A plain function (e.g. `glorot_uniform`): by convention the config is its kwargs.
        with CustomObjectScope(custom_objects):
            return cls(**config["config"])
    if isinstance(identifier, str):
        return _lookup(identifier, module_objects, custom_objects, printable_module_name)
    raise ValueError(f"Could not interpret serialized {printable_module_name}: {identifier!r}")


def has_arg(fn: Callable[..., Any], name: str, accept_all: bool = False) -> bool:
    """Whether `fn` can be called with the keyword argument `name`.

    Args:
        fn: the callable to inspect.
        name: the keyword.
        accept_all: what to answer when there is no such parameter but `fn` takes `**kwargs`.
    """
    try:
        parameters = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    parameter = parameters.get(name)
    if parameter is None:
        return accept_all and any(p.kind is p.VAR_KEYWORD for p in parameters.values())
    return parameter.kind in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY)


def func_dump(func: types.FunctionType) -> tuple[str, Any, Any]:
    """Serializes a Python function as `(base64 bytecode, defaults, closure)`.

    The bytecode only loads on the same Python version.
    """
    code = codecs.encode(marshal.dumps(func.__code__), "base64").decode("ascii")
    closure = tuple(c.cell_contents for c in func.__closure__) if func.__closure__ else None
    return code, func.__defaults__, closure


def func_load(
    code: Any, defaults: Any = None, closure: Any = None, globs: dict[str, Any] | None = None
) -> types.FunctionType:
    """Rebuilds a function serialized by `func_dump` (also accepts its tuple as `code`)."""
    if isinstance(code, (tuple, list)):
        code, defaults, closure = code
    if isinstance(defaults, list):
        defaults = tuple(defaults)
    raw = codecs.decode(code.encode("ascii"), "base64")
    code_obj = marshal.loads(raw)
    cells = tuple(types.CellType(c) for c in closure) if closure is not None else None
    return types.FunctionType(
        code_obj, globs if globs is not None else globals(), code_obj.co_name, defaults, cells
    )


class Progbar:
    """Displays a progress bar on stdout, in the Keras 2.0.5 format.

    Args:
        target: the total number of steps (samples or batches) expected.
        width: the bar's width in characters.
        verbose: 1 redraws one line with a bar; 2 prints one summary line when done;
            anything else prints nothing.
        interval: the minimum time between redraws, in seconds (forced updates ignore it).

    Example:
        ```python
        bar = Progbar(40)
        for i in range(4):
            bar.add(10, values=[('loss', 0.5)])
        # 40/40 [==============================] - 0s - loss: 0.5000
        ```
    """

    def __init__(
        self, target: int, width: int = 30, verbose: int = 1, interval: float = 0.05
    ) -> None:
        self.width = width
        self.target = target
        self.sum_values: dict[str, list[Any]] = {}
        self.unique_values: list[str] = []
        self.start = time.time()
        self.last_update = 0.0
        self.interval = interval
        self.total_width = 0
        self.seen_so_far = 0
        self.verbose = verbose

    def update(
        self, current: int, values: Iterable[tuple[str, Any]] | None = None, force: bool = False
    ) -> None:
        """Moves the bar to `current`.

        Args:
            current: the index of the current step.
            values: `(name, value)` pairs for the steps since the last update; the bar shows
                their running averages, each value weighted by the steps it covers.
            force: redraw even within `interval` of the last redraw.
        """
        for k, v in values or []:
            # Every pair weighs by the same step count: when a name appears twice in one
            # update (ProgbarLogger's final forced update), the display ends on the
            # epoch average exactly.
            step = current - self.seen_so_far
            if k not in self.sum_values:
                self.sum_values[k] = [v * step, step]
                self.unique_values.append(k)
            else:
                self.sum_values[k][0] += v * step
                self.sum_values[k][1] += step
        self.seen_so_far = current

        now = time.time()
        if self.verbose == 1:
            if not force and (now - self.last_update) < self.interval:
                return
            self._draw(current, now)
        elif self.verbose == 2 and current >= self.target:
            info = f"{int(now - self.start)}s"
            for k in self.unique_values:
                avg = self._average(k)
                # 2.0.5 compares the signed value here (abs() only in verbose 1).
                info += f" - {k}: {avg:.4f}" if avg > 1e-3 else f" - {k}: {avg:.4e}"
            sys.stdout.write(info + "\n")
            sys.stdout.flush()
        self.last_update = now

    def add(self, n: int, values: Iterable[tuple[str, Any]] | None = None) -> None:
        """Advances the bar by `n` steps; `values` as in `update`."""
        self.update(self.seen_so_far + n, values)

    def _average(self, k: str) -> Any:
        total, count = self.sum_values[k]
        return np.mean(total / max(1, count))

    def _draw(self, current: int, now: float) -> None:
        prev_total_width = self.total_width
        out = sys.stdout
        out.write("\b" * prev_total_width)
        out.write("\r")

        numdigits = len(str(int(self.target))) if self.target >= 1 else 1
        bar = f"{int(current):{numdigits}d}/{int(self.target):{numdigits}d} ["
        prog = float(current) / self.target if self.target else 1.0
        prog_width = int(self.width * prog)
        if prog_width > 0:
            bar += "=" * (prog_width - 1)
            bar += ">" if current < self.target else "="
        bar += "." * (self.width - prog_width)
        bar += "]"
        out.write(bar)
        self.total_width = len(bar)

        time_per_unit = (now - self.start) / current if current else 0
        if current < self.target:
            info = f" - ETA: {int(time_per_unit * (self.target - current))}s"
        else:
            info = f" - {int(now - self.start)}s"
        for k in self.unique_values:
            avg = self._average(k)
            info += f" - {k}: {avg:.4f}" if abs(avg) > 1e-3 else f" - {k}: {avg:.4e}"

        self.total_width += len(info)
        if prev_total_width > self.total_width:
            info += " " * (prev_total_width - self.total_width)
        if current >= self.target:
            info += "\n"
        out.write(info)
        out.flush()
