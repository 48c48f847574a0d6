"""Optimizer state in HDF5 model files: the `optimizer_weights` group, written in the
order tf-keras restores it and read from files written by Keras 2.0.x, Keras 2.1+ and
tf-keras 2.x.

tf-keras (like Keras 2.1+) restores the state positionally, with `optimizer.set_weights`
on the weights its legacy optimizer creates for `model.trainable_weights`: the step
counter, Nadam's momentum cache, then one group per slot kind with one slot per trainable
weight in the model's order. kgraph writes exactly that list, so training continues in
tf-keras where it stopped here; names say what each value is::

    iterations:0   Adam/dense_1/kernel/m:0   Adam/dense_1/bias/m:0   ...   Adam/dense_1/kernel/v:0

kgraph's own `optimizer.weights` follow Keras 2.0.5 (KERAS_API.md 4.3: slots in the
compile-time name-sorted order, counters only where 2.0.5 lists them); the file order is
a permutation of them plus the counters 2.0.5 does not list (RMSprop's `iterations`,
Nadam's `m_schedule`). SGD without momentum has no slots in tf-keras (its moments do not
change the update), so only its counter is written. Keras 2.0.x itself, which restores
by name-sorted position, cannot restore this state; its model and weights still load.

Reading maps a file's values onto the optimizer by name where the names identify the
trainable weights (kgraph's, tf-keras's legacy `Adam/dense/kernel/m:0` and current
`Adam/m/dense/kernel:0` forms; tf-keras's recurrent weights carry their cell,
`Adam/lstm/lstm_cell/kernel/m:0`, which 2.0.5's `lstm/kernel` lacks, so a name that names
no weight is tried again without its cell segments), and otherwise by position (Keras 2.0.x's `Variable:0`,
`Variable_1:0` ... in name-sorted order; Keras 2.1+'s, tf-keras's and kgraph's in model
order), checking every shape. Counters are recognised by name (`iter`, `iterations`,
`iteration`); tf-keras Nadam's `momentum_cache` is 2.0.5's `m_schedule`. Files written
by earlier kgraph versions (name-sorted, counters 2.0.5 does not list kept beside them
under the group's `kgraph_extra_state` attribute) still load.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from kgraph import backend as K
from kgraph.engine.saving import attr_text, load_attributes, read_array, save_attributes
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
                  "momentum_cache": "m_schedule", "m_schedule": "m_schedule"}  # fmt: skip
EXTRA_ATTR = "kgraph_extra_state"
ORDER_ATTR = "kgraph_slot_order"
"""Group attribute saying the slots follow the model's weight order (`model`); files
without it were written name-sorted (Keras 2.0.x, earlier kgraph) or by Keras 2.1+."""


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


def _unused_slots(optimizer: Any) -> bool:
    """Whether the slots do not affect the updates and tf-keras creates none (SGD without
    momentum: its moments only hold the last step)."""
    momentum = getattr(optimizer, "momentum", None)
    return (
        _slot_kinds(optimizer) == SLOT_NAMES["SGD"]
        and isinstance(momentum, Variable)
        and float(K.get_value(momentum)) == 0.0
    )


def _file_order(
    optimizer: Any, params: Sequence[Variable], model_order: Sequence[Variable]
) -> list[Variable] | None:
    """The optimizer variables in tf-keras's restore order (see the module docstring), or
    None for an optimizer whose slots do not follow the parameters (a custom one)."""
    layout = _layout(optimizer, params)
    if layout is None:
        return None
    counters, groups = layout
    state = list(_state_vars(optimizer).values())
    lead = state + [c for c in counters if not any(c is v for v in state)]
    if _unused_slots(optimizer):
        return lead
    position = {id(p): i for i, p in enumerate(params)}
    order = list(dict.fromkeys(position[id(p)] for p in model_order if id(p) in position))
    order += [i for i in range(len(params)) if i not in order]  # weights frozen since compile
    return lead + [group[i] for group in groups for i in order]


def save_optimizer_weights(f: Any, optimizer: Any, params: Sequence[Variable],
                           model_order: Sequence[Variable] = ()) -> None:  # fmt: skip
    """Writes the `optimizer_weights` group (only when the optimizer has weights, as Keras
    does): in tf-keras's order over `model_order` (the model's trainable weights) where the
    optimizer is a built-in one, else `optimizer.weights` as they are."""
    if not optimizer.weights:
        return
    group = f.create_group("optimizer_weights")
    names = dict(zip(map(id, optimizer.weights), weight_names(optimizer, params)))
    names.update({id(v): f"{a}:0" for a, v in _state_vars(optimizer).items()})
    variables = _file_order(optimizer, params, model_order or params)
    if variables is None:
        variables = list(optimizer.weights)
    else:
        group.attrs[ORDER_ATTR] = b"model"
    save_attributes(group, "weight_names", [names[id(v)] for v in variables])
    for v, value in zip(variables, K.batch_get_value(variables)):
        ds = group.create_dataset(names[id(v)], value.shape, dtype=value.dtype)
        ds[()] = value


def _base(name: str) -> list[str]:
    return re.sub(r":\d+$", "", name).split("/")


_CELL = re.compile(r"\w*_cells?(_\d+)?")
"""A path segment naming a recurrent cell (`lstm_cell`, `gru_cell_2`, `stacked_rnn_cells`):
tf-keras's recurrent layers keep their weights in a cell sublayer, Keras 2.0.5's in the
layer itself (`lstm/lstm_cell/kernel` is 2.0.5's `lstm/kernel`)."""


def _param_match(segs: list[str], index: dict[str, int]) -> tuple[int, int, int] | None:
    """`(start, end, i)`: the longest run `segs[start:end]` that names parameter `i`."""
    match = None
    for start in range(len(segs)):
        for end in range(len(segs), start, -1):
            i = index.get("/".join(segs[start:end]))
            if i is not None and (match is None or end - start > match[1] - match[0]):
                match = (start, end, i)
    return match


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
        match = _param_match(segs, index)
        if match is None:  # a tf-keras recurrent weight: try again without its cell
            segs = [s for s in segs if not _CELL.fullmatch(s)]
            match = _param_match(segs, index)
        if match is None:
            return None
        start, end, i = match
        kind = (tuple(segs[:start]), tuple(segs[end:]))
        if i in kinds.setdefault(kind, {}):
            return None
        kinds[kind][i] = value
    if not kinds and _unused_slots(optimizer):
        return pairs
    if len(kinds) != len(groups) or any(len(v) != len(params) for v in kinds.values()):
        return None
    for group, by_param in zip(groups, kinds.values()):
        pairs += [(group[i], by_param[i]) for i in range(len(params))]
    return pairs


def _by_position(optimizer, params, model_order, values, orders: Sequence[str]):
    """Pairs values positionally: leading scalars are counters (the step, then Nadam's
    momentum cache), then slot groups whose entries follow the name-sorted parameters
    (`sorted`: Keras 2.0.x) or the model's order (`model`: Keras 2.1+, tf-keras, kgraph),
    tried in the order `orders` gives."""
    layout = _layout(optimizer, params)
    if layout is None:
        return None
    _, groups = layout
    if _unused_slots(optimizer) and all(v.shape == () for v in values):
        groups = []
    lead = len(values) - len(params) * len(groups)
    if lead < 0 or any(v.shape != () for v in values[:lead]):
        return None
    rest = values[lead:]
    pairs: list[tuple[Variable, np.ndarray]] = []
    state = _state_vars(optimizer)
    for attr, value in zip(("iterations", "m_schedule"), values[:lead]):
        if attr in state:
            pairs.append((state[attr], value))
    by_kind = {"sorted": list(range(len(params))), "model": [params.index(p) for p in model_order]}
    for order in (by_kind[o] for o in orders):
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
    if attr_text(group, ORDER_ATTR) == "model":
        orders = ["model"]
    elif keras_version is None or keras_version.startswith(("1.", "2.0.")):
        orders = ["sorted", "model"]
    else:
        orders = ["model", "sorted"]
    pairs = _by_name(optimizer, params, names, values)
    if pairs is None:
        pairs = _by_position(optimizer, params, model_order, values, orders)
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
