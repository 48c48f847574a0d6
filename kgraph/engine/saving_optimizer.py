"""Optimizer state in HDF5 model files: the `optimizer_weights` group, written in Keras
2.0.5's order and read from files written by Keras 2.0.x, Keras 2.1+ and tf-keras 2.x.

kgraph writes `optimizer.weights` in 2.0.5's order (KERAS_API.md 4.3): the counter first
where 2.0.5 lists it, then one slot per trainable weight, per slot kind, following the
compile-time name-sorted trainable weights. Names say what each value is::

    iterations:0                Adam/dense_1/bias/m:0     Adam/dense_1/kernel/m:0   ...

State that 2.0.5 keeps but does not list (RMSprop's `iterations` when it decays, Nadam's
`m_schedule`) is stored beside them and named in the group's `kgraph_extra_state`
attribute, which Keras's readers ignore, so that training continues exactly.

Reading maps a file's values onto the optimizer by name where the names identify the
trainable weights (tf-keras's legacy `Adam/dense/kernel/m:0` and current
`Adam/m/dense/kernel:0` forms, and kgraph's), and otherwise by position (Keras 2.0.x's
`Variable:0`, `Variable_1:0` ... in name-sorted order; Keras 2.1+'s in model order), checking
every shape. Counters are recognised by name (`iter`, `iterations`, `iteration`) and
tf-keras Nadam's `momentum_cache` is 2.0.5's `m_schedule`.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from kgraph import backend as K
from kgraph.engine.saving import load_attributes, read_array, save_attributes
from kgraph.ir import Variable

__all__ = ["save_optimizer_weights", "restore_optimizer_weights"]

SLOT_NAMES = {
    "SGD": ("momentum",), "RMSprop": ("rms",), "Adagrad": ("accumulator",),
    "Adadelta": ("accum_grad", "accum_var"), "Adam": ("m", "v"), "Adamax": ("m", "v"),
    "Nadam": ("m", "v"),
}  # fmt: skip
"""Slot kinds per optimizer, in 2.0.5's list order, named as tf-keras's legacy optimizers
name them."""

STATE_ATTRS = ("iterations", "m_schedule")
"""Optimizer attributes holding state (not hyper-parameters, which the config keeps)."""

_COUNTER_NAMES = {"iter": "iterations", "iterations": "iterations", "iteration": "iterations",
                  "momentum_cache": "m_schedule"}  # fmt: skip
EXTRA_ATTR = "kgraph_extra_state"


def _state_vars(optimizer: Any) -> dict[str, Variable]:
    return {a: v for a in STATE_ATTRS if isinstance(v := getattr(optimizer, a, None), Variable)}


def _slot_kinds(optimizer: Any) -> tuple[str, ...] | None:
    for cls in type(optimizer).__mro__:
        if cls.__name__ in SLOT_NAMES and cls.__module__ == "kgraph.optimizers":
            return SLOT_NAMES[cls.__name__]
    return None


def _layout(optimizer: Any, params: Sequence[Variable]) -> tuple[list, list[list[Variable]]] | None:
    """`optimizer.weights` split into leading counters and per-parameter slot groups, or
    None when the slots do not follow the parameters (a custom optimizer)."""
    counters = [w for w in optimizer.weights if w.shape == () and w not in params]
    slots = [w for w in optimizer.weights if not any(w is c for c in counters)]
    n = len(params)
    if optimizer.weights[: len(counters)] != counters or not n or len(slots) % n:
        return None
    groups = [slots[k : k + n] for k in range(0, len(slots), n)]
    for group in groups:
        if any(tuple(s.shape) != tuple(p.shape) for s, p in zip(group, params)):
            return None
    return counters, groups


def weight_names(optimizer: Any, params: Sequence[Variable]) -> list[str]:
    """The names kgraph writes for `optimizer.weights` (see the module docstring)."""
    attrs = {id(v): a for a, v in _state_vars(optimizer).items()}
    layout = _layout(optimizer, params)
    kinds = _slot_kinds(optimizer)
    prefix = type(optimizer).__name__
    names: list[str] = []
    slot_index = 0
    for w in optimizer.weights:
        if id(w) in attrs:
            names.append(f"{attrs[id(w)]}:0")
            continue
        if layout is None:
            names.append(f"Variable{'' if slot_index == 0 else f'_{slot_index}'}:0")
        else:
            k, i = divmod(slot_index, len(params))
            kind = kinds[k] if kinds and len(kinds) == len(layout[1]) else f"slot{k}"
            names.append(f"{prefix}/{params[i].op_name}/{kind}:0")
        slot_index += 1
    if len(set(names)) != len(names):
        names = [f"param_{i}" for i in range(len(names))]
    return names


def save_optimizer_weights(f: Any, optimizer: Any, params: Sequence[Variable]) -> None:
    """Writes the `optimizer_weights` group (only when the optimizer has weights, as 2.0.5)."""
    if not optimizer.weights:
        return
    group = f.create_group("optimizer_weights")
    names = weight_names(optimizer, params)
    save_attributes(group, "weight_names", names)
    listed = {id(w) for w in optimizer.weights}
    extra = {f"{a}:0": v for a, v in _state_vars(optimizer).items() if id(v) not in listed}
    save_attributes(group, EXTRA_ATTR, list(extra))
    values = K.batch_get_value(list(optimizer.weights) + list(extra.values()))
    for name, value in zip(names + list(extra), values):
        ds = group.create_dataset(name, value.shape, dtype=value.dtype)
        ds[()] = value


def _base(name: str) -> list[str]:
    return re.sub(r":\d+$", "", name).split("/")


def _by_name(optimizer, params, names, values) -> list[tuple[Variable, np.ndarray]] | None:
    """Pairs each file value with an optimizer variable through the parameter names in the
    file's weight names; None when the names do not identify every slot."""
    layout = _layout(optimizer, params)
    if layout is None:
        return None
    _, groups = layout
    index = {p.op_name: i for i, p in enumerate(params)}
    if len(index) != len(params):  # two weights share a name (nested models): ambiguous
        return None
    state = _state_vars(optimizer)
    pairs: list[tuple[Variable, np.ndarray]] = []
    kinds: dict[tuple, dict[int, np.ndarray]] = {}
    for name, value in zip(names, values):
        segs = _base(name)
        counter = _COUNTER_NAMES.get(segs[-1])
        if counter is not None and value.shape == ():
            if counter in state:
                pairs.append((state[counter], value))
            continue
        match = None
        for start in range(len(segs)):
            for end in range(len(segs), start, -1):
                i = index.get("/".join(segs[start:end]))
                if i is not None and (match is None or end - start > match[1] - match[0]):
                    match = (start, end, i)
        if match is None:
            return None
        start, end, i = match
        kind = (tuple(segs[:start]), tuple(segs[end:]))
        if i in kinds.setdefault(kind, {}):
            return None
        kinds[kind][i] = value
    if len(kinds) != len(groups) or any(len(v) != len(params) for v in kinds.values()):
        return None
    for group, by_param in zip(groups, kinds.values()):
        pairs += [(group[i], by_param[i]) for i in range(len(params))]
    return pairs


def _by_position(optimizer, params, model_order, values, sorted_first: bool):
    """Pairs values positionally: leading scalars are counters, then slot groups whose
    entries follow the name-sorted parameters (Keras 2.0.x) or the model's order (2.1+)."""
    layout = _layout(optimizer, params)
    if layout is None:
        return None
    _, groups = layout
    lead = len(values) - len(params) * len(groups)
    if lead < 0 or any(v.shape != () for v in values[:lead]):
        return None
    rest = values[lead:]
    pairs: list[tuple[Variable, np.ndarray]] = []
    state = _state_vars(optimizer)
    if lead and "iterations" in state:
        pairs.append((state["iterations"], values[0]))
    orders = [list(range(len(params))), [params.index(p) for p in model_order]]
    for order in orders if sorted_first else orders[::-1]:
        candidate = []
        for k, group in enumerate(groups):
            chunk = rest[k * len(params) : (k + 1) * len(params)]
            candidate += [(group[i], v) for i, v in zip(order, chunk)]
        if all(tuple(var.shape) == tuple(v.shape) for var, v in candidate):
            return pairs + candidate
    return None


def restore_optimizer_weights(model: Any, group: Any, keras_version: str | None) -> None:
    """Sets `model.optimizer`'s state from an `optimizer_weights` group (the train program
    must exist, so the slots do). A layout that does not fit warns and keeps the fresh
    state, as Keras does."""
    optimizer = model.optimizer
    params = list(model._collected_trainable_weights)
    names = load_attributes(group, "weight_names") or []
    values = [read_array(group, n, "Optimizer weights") for n in names]
    model_order = [w for w in model.trainable_weights if any(w is p for p in params)]
    legacy_sorted = keras_version is None or keras_version.startswith(("1.", "2.0."))
    pairs = _by_name(optimizer, params, names, values)
    if pairs is None:
        pairs = _by_position(optimizer, params, model_order, values, legacy_sorted)
    if pairs is None:
        shapes = [tuple(v.shape) for v in values]
        warnings.warn(
            f"Could not restore the optimizer state: the file holds {len(values)} optimizer "
            f"weights {shapes[:6]}{'...' if len(shapes) > 6 else ''} that do not fit "
            f"{type(optimizer).__name__} over this model's {len(params)} trainable weights. "
            "The model starts with a freshly initialized optimizer.",
            stacklevel=3,
        )
        return
    state = _state_vars(optimizer)
    for name in load_attributes(group, EXTRA_ATTR) or []:
        attr = _base(name)[-1]
        if attr in state:
            pairs.append((state[attr], read_array(group, name, "Optimizer state")))
    for var, value in pairs:
        if tuple(var.shape) != tuple(value.shape):
            raise ValueError(
                f"Optimizer weight {var.name} has shape {tuple(var.shape)}, but the file's "
                f"value has shape {tuple(value.shape)}."
            )
    K.batch_set_value(pairs)
