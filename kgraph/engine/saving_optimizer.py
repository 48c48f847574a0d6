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

Reading first tells the file's layout (`LAYOUTS`) from the file itself: kgraph marks its
own; tf-keras's training config says `is_legacy_optimizer: false` for its current
optimizers, which save `iteration:0` and then each weight's slots in turn
(`Adam/m/dense/kernel:0`, `Adam/v/dense/kernel:0`, `Adam/m/dense/bias:0`, ...); otherwise
the Keras version decides between Keras 2.0.x and later. Values then map onto the
optimizer by name where the names identify every trainable weight and slot kind
(kgraph's, tf-keras's legacy `Adam/dense/kernel/m:0` and current `Adam/m/dense/kernel:0`
forms; tf-keras's recurrent weights carry their cell, `Adam/lstm/lstm_cell/kernel/m:0`,
which 2.0.5's `lstm/kernel` lacks, so a name that names no weight is tried again without
its cell segments), and otherwise by position in that layout (Keras 2.0.x's `Variable:0`,
`Variable_1:0` ... in name-sorted order; Keras 2.1+'s, tf-keras's and kgraph's in model
order; a current optimizer's only where each name still says its slot kind), checking
every shape. Counters are recognised by name (`iter`, `iterations`, `iteration`);
tf-keras's legacy Nadam's `momentum_cache` is 2.0.5's `m_schedule`, which its current
Nadam does not save (it follows from the step count). State that matches in no way
with certainty is not loaded: a warning says what the file holds, and the optimizer
starts fresh. Files written by earlier kgraph versions (name-sorted, counters 2.0.5 does
not list kept beside them under the group's `kgraph_extra_state` attribute) still load.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping, Sequence
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

CURRENT_SLOT_NAMES = {
    "SGD": ("m",), "RMSprop": ("velocity",), "Adagrad": ("accumulator",),
    "Adadelta": ("accumulated_grad", "accumulated_delta_var"), "Adam": ("m", "v"),
    "Adamax": ("m", "u"), "Nadam": ("m", "v"),
}  # fmt: skip
"""The same kinds as tf-keras's current optimizers name them (`Adam/m/dense/kernel:0`).
They save `iteration:0`, then each trainable weight's slots in turn, in this order
(RMSprop's momentum and centered slots, which would follow as groups, have no 2.0.5
equivalent and are refused with the config)."""

LAYOUTS = {
    "kgraph": "kgraph's layout (counters, then one group per slot kind in the model's "
              "weight order)",
    "current": "tf-keras's current-optimizer layout (`iteration`, then each weight's "
               "slots in turn)",
    "legacy": "the layout of Keras 2.1+ and tf-keras's legacy optimizers (counters, then "
              "one group per slot kind in the model's weight order)",
    "keras2.0": "Keras 2.0.x's layout (counters, then one group per slot kind in "
                "name-sorted weight order)",
}  # fmt: skip
"""The layouts of an `optimizer_weights` group, told apart by the file (see `_file_layout`)."""
_ORDERS = {"kgraph": ["model"], "legacy": ["model", "sorted"], "keras2.0": ["sorted", "model"]}
"""The weight orders a positional reading of each layout but the current one tries."""

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


def _slot_class(optimizer: Any) -> str | None:
    """The name of the built-in optimizer `optimizer` is or derives from."""
    for cls in type(optimizer).__mro__:
        if cls.__name__ in SLOT_NAMES and cls.__module__ == "kgraph.optimizers":
            return cls.__name__
    return None


def _slot_kinds(optimizer: Any) -> tuple[str, ...] | None:
    name = _slot_class(optimizer)
    return None if name is None else SLOT_NAMES[name]


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


def _kind_groups(optimizer: Any, kinds: Sequence[tuple], trust_order: bool) -> list[int] | None:
    """The slot group each kind of file name holds. A kind is the segments around the
    weight's name (`('Adam', 'm'), ()` for `Adam/m/dense/kernel`); it holds the group whose
    slot name (kgraph's, tf-keras's legacy or current) it contains. Order of appearance
    decides only for a single kind or in kgraph's own files; else None."""
    name = _slot_class(optimizer)
    aliases = [set(a) for a in zip(SLOT_NAMES[name], CURRENT_SLOT_NAMES[name])] if name else []
    found = []
    for prefix, suffix in kinds:
        hits = [k for k, a in enumerate(aliases) if a & {*prefix, *suffix}]
        found.append(hits[0] if len(hits) == 1 else None)
    if sorted(k for k in found if k is not None) == list(range(len(kinds))):
        return found
    if len(kinds) == 1 or trust_order:
        return list(range(len(kinds)))
    return None


def _by_name(optimizer, params, names, values, trust_order: bool = False):
    """Pairs each file value with an optimizer variable through the parameter and slot
    names in the file's weight names; None when the names do not identify every slot
    (`trust_order`: see `_kind_groups`)."""
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
    which = _kind_groups(optimizer, list(kinds), trust_order)
    if which is None:
        return None
    for k, by_param in zip(which, kinds.values()):
        pairs += [(groups[k][i], by_param[i]) for i in range(len(params))]
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


def _by_position_current(optimizer, params, model_order, names, values):
    """Pairs values in tf-keras's current layout: `iteration`, then each weight's slots
    in turn (model order), every name saying its slot kind; None where a name or a shape
    does not fit."""
    layout, kinds = _layout(optimizer, params), CURRENT_SLOT_NAMES.get(_slot_class(optimizer))
    if layout is None or kinds is None or len(kinds) != len(layout[1]):
        return None
    groups = layout[1]
    if len(values) != 1 + len(model_order) * len(kinds) or len(model_order) != len(params):
        return None
    if _base(names[0])[-1] != "iteration" or values[0].shape != ():
        return None
    state = _state_vars(optimizer)
    pairs = [(state["iterations"], values[0])] if "iterations" in state else []
    slots = iter(zip(names[1:], values[1:]))
    for i in (params.index(p) for p in model_order):
        for group, kind in zip(groups, kinds):
            name, value = next(slots)
            said = next((s for s in _base(name) if s in kinds), None)
            if said != kind or tuple(value.shape) != tuple(group[i].shape):
                return None
            pairs.append((group[i], value))
    return pairs


def _momentum_schedule(optimizer: Any, pairs: list[tuple[Variable, np.ndarray]]) -> list:
    """Nadam's running product of momentum-schedule values (2.0.5's `m_schedule`) where
    the file lacks it: tf-keras's current Nadam keeps it outside its variables, so it
    is not saved; it follows from the step count (`prod_t beta_1 * (1 - 0.5 * 0.96 **
    (t * schedule_decay))`, one factor per step taken)."""
    state = _state_vars(optimizer)
    schedule, iterations = state.get("m_schedule"), state.get("iterations")
    if schedule is None or any(var is schedule for var, _ in pairs):
        return []
    steps = next((int(value) for var, value in pairs if var is iterations), 0)
    beta_1 = float(K.get_value(optimizer.beta_1))
    t = np.arange(1, min(steps, 100_000) + 1, dtype="float64")  # beyond, 0.96 ** t is 0
    with np.errstate(divide="ignore"):
        log = np.log(beta_1 * (1 - 0.5 * 0.96 ** (t * optimizer.schedule_decay))).sum()
        log += (steps - len(t)) * np.log(beta_1)
    return [(schedule, np.asarray(np.exp(log), dtype=K.get_value(schedule).dtype))]


def _file_layout(group: Any, names: Sequence[str], keras_version: str | None,
                 optimizer_config: Any) -> str:  # fmt: skip
    """Which of `LAYOUTS` a file's optimizer weights follow: kgraph marks its files;
    tf-keras's training config says `is_legacy_optimizer: false` for a current optimizer
    (whose counter is named `iteration`); otherwise the Keras version decides."""
    if attr_text(group, ORDER_ATTR) == "model":
        return "kgraph"
    config = optimizer_config.get("config") if isinstance(optimizer_config, Mapping) else None
    legacy = config.get("is_legacy_optimizer") if isinstance(config, Mapping) else None
    if legacy is False or (legacy is None and names and _base(names[0]) == ["iteration"]):
        return "current"
    if keras_version is None or keras_version.startswith(("1.", "2.0.")):
        return "keras2.0"
    return "legacy"


def _unmatched_warning(optimizer, params, names, values, layout: str) -> str:
    shown = ", ".join(repr(n) for n in names[:4]) + (", ..." if len(names) > 4 else "")
    shapes = [tuple(v.shape) for v in values]
    return (
        f"Could not restore the optimizer state: the file holds {len(values)} optimizer "
        f"weights ({shown}) with shapes {shapes[:6]}{'...' if len(shapes) > 6 else ''} in "
        f"{LAYOUTS[layout]}; neither their names nor their positions match "
        f"{type(optimizer).__name__} over this model's {len(params)} trainable weights "
        "with certainty. The model starts with a freshly initialized optimizer."
    )


def restore_optimizer_weights(model: Any, group: Any, keras_version: str | None,
                              optimizer_config: Any = None) -> None:  # fmt: skip
    """Sets `model.optimizer`'s state from an `optimizer_weights` group (the train program
    must exist, so the slots do), given the file's Keras version and the training config's
    `optimizer_config`. State that cannot be matched with certainty warns and keeps the
    fresh state, as Keras does."""
    optimizer = model.optimizer
    params = list(model._collected_trainable_weights)
    names = load_attributes(group, "weight_names") or []
    values = [read_array(group, n, "Optimizer weights") for n in names]
    model_order = [w for w in model.trainable_weights if any(w is p for p in params)]
    layout = _file_layout(group, names, keras_version, optimizer_config)
    pairs = _by_name(optimizer, params, names, values, trust_order=layout == "kgraph")
    if pairs is None and layout == "current":
        pairs = _by_position_current(optimizer, params, model_order, names, values)
    elif pairs is None:
        pairs = _by_position(optimizer, params, model_order, values, _ORDERS[layout])
    if pairs is None:
        warnings.warn(_unmatched_warning(optimizer, params, names, values, layout), stacklevel=3)
        return
    if layout == "current":
        pairs += _momentum_schedule(optimizer, pairs)
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
