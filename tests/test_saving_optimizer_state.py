"""Optimizer state restored from model files tf-keras wrote for recurrent models and with
its current (non-legacy) optimizers.

Golden files come from tools/make_rnn_optimizer_fixtures.py: each `<case>.h5` was saved
after a few training steps, and `<case>.npz` holds the batch and tf-keras's weights after
one more step. Loading the file and taking that step reproduces them only when every
slot and counter lands on the variable it belongs to.
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest

from kgraph import backend as K
from kgraph.models import load_model
from tests.test_saving_model import _assert_next_step

FIXTURES = Path(__file__).parent / "fixtures" / "optstate"
RECURRENT = [f"{kind}_{api}_adam" for kind in ("lstm", "gru", "bigru", "simplernn")
             for api in ("legacy", "current")]  # fmt: skip


def _load_quietly(path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return load_model(str(path))


def _rewrite_optimizer_group(src, dst, edit):
    """Copies `src` to `dst`, replacing its (name, value) optimizer weights by `edit(list)`."""
    shutil.copy(src, dst)
    with h5py.File(dst, "r+") as f:
        group = f["optimizer_weights"]
        names = [n.decode() if isinstance(n, bytes) else n for n in group.attrs["weight_names"]]
        items = edit([(n, group[n][()]) for n in names])
        del f["optimizer_weights"]
        group = f.create_group("optimizer_weights")
        group.attrs["weight_names"] = [n.encode() for n, _ in items]
        for n, v in items:
            group.create_dataset(n, data=v)


@pytest.mark.parametrize("case", RECURRENT)
def test_recurrent_models_continue_training_like_tf_keras(case):
    """tf-keras names the slots after the cell (`Adam/lstm/lstm_cell/kernel/m:0`,
    `Adam/m/bidirectional/forward_gru/gru_cell/bias:0`); they map onto kgraph's
    `lstm/kernel`, `bidirectional/forward_gru/bias`."""
    expected = np.load(FIXTURES / f"{case}.npz")
    model = _load_quietly(FIXTURES / f"{case}.h5")
    np.testing.assert_allclose(
        model.predict(expected["x"]), expected["predict"], rtol=1e-5, atol=1e-6
    )
    _assert_next_step(model, expected)


@pytest.mark.parametrize("case", ["bigru_legacy_adam", "bigru_current_adam"])
def test_recurrent_slots_are_matched_by_name_not_position(case, tmp_path):
    """Reordered (every m, then every v, each in reverse), the slots no longer follow the
    model's order; their names still place them."""

    def reorder(items):
        def is_v(item):
            return item[0].endswith("/v:0") or "/v/" in item[0]

        ms = [it for it in items[1:] if not is_v(it)]
        vs = [it for it in items[1:] if is_v(it)]
        return items[:1] + ms[::-1] + vs[::-1]

    path = tmp_path / f"{case}.h5"
    _rewrite_optimizer_group(FIXTURES / f"{case}.h5", path, reorder)
    _assert_next_step(_load_quietly(path), np.load(FIXTURES / f"{case}.npz"))


CURRENT = [
    "lstm_current_sgd",
    "lstm_current_adamax",
    "lstm_current_adadelta",
    "lstm_square_current_adam",
]


@pytest.mark.parametrize("case", CURRENT)
def test_current_optimizers_continue_training_like_tf_keras(case):
    """tf-keras's current optimizers save `iteration:0`, then each weight's slots in turn
    (`Adamax/m/...`, `Adamax/u/...`); Adadelta's `accumulated_grad` and
    `accumulated_delta_var` are 2.0.5's accumulators and delta accumulators."""
    _assert_next_step(_load_quietly(FIXTURES / f"{case}.h5"), np.load(FIXTURES / f"{case}.npz"))


@pytest.mark.parametrize(
    "case",
    ["lstm_current_adam", "lstm_current_adamax", "lstm_current_adadelta", "bigru_legacy_adam"],
)
def test_slot_kinds_are_told_by_their_names(case, tmp_path):
    """Reversed, the second slot kind comes first; its name (`v`, `u`,
    `accumulated_delta_var`), not its place, says which one it is."""
    path = tmp_path / f"{case}.h5"
    _rewrite_optimizer_group(FIXTURES / f"{case}.h5", path, lambda items: items[::-1])
    _assert_next_step(_load_quietly(path), np.load(FIXTURES / f"{case}.npz"))


def test_current_layout_maps_by_position_where_names_still_say_the_slot_kind(tmp_path):
    """Weight names that match no weight of the model (here renamed) leave the positions
    of the current layout: `iteration`, then each weight's m and v in the model's order."""
    path = tmp_path / "renamed.h5"

    def rename(items):
        return [(n.replace("lstm", "renamed"), v) for n, v in items]

    _rewrite_optimizer_group(FIXTURES / "lstm_square_current_adam.h5", path, rename)
    _assert_next_step(_load_quietly(path), np.load(FIXTURES / "lstm_square_current_adam.npz"))


@pytest.mark.parametrize(
    "says_current", [True, False], ids=["config_says_current", "counter_says_current"]
)
def test_current_layout_that_cannot_be_matched_warns_and_starts_fresh(says_current, tmp_path):
    """Every slot of this LSTM has one shape, so read as the legacy layout (every m, then
    every v) the interleaved values would fit and be wrong. Without names that say the slot
    kinds nothing places them with certainty: a warning, and a fresh optimizer."""
    path = tmp_path / "anonymous.h5"

    def anonymize(items):
        return items[:1] + [(f"Variable_{i}:0", v) for i, (_, v) in enumerate(items[1:])]

    _rewrite_optimizer_group(FIXTURES / "lstm_square_current_adam.h5", path, anonymize)
    if not says_current:  # the counter's name `iteration` alone tells the layout
        with h5py.File(path, "r+") as f:
            config = json.loads(f.attrs["training_config"])
            del config["optimizer_config"]["config"]["is_legacy_optimizer"]
            f.attrs["training_config"] = json.dumps(config).encode()
    pattern = (r"Could not restore the optimizer state: the file holds 5 optimizer weights "
               r"\('iteration:0', 'Variable_0:0', .*tf-keras's current-optimizer layout.*"
               r"freshly initialized optimizer")  # fmt: skip
    with pytest.warns(UserWarning, match=pattern):
        model = load_model(str(path))
    assert int(K.get_value(model.optimizer.iterations)) == 0
    assert all(not K.get_value(w).any() for w in model.optimizer.weights[1:])


def test_current_nadam_continues_with_its_momentum_schedule():
    """tf-keras's current Nadam uses `beta_1 * (1 - 0.5 * 0.96 ** t)`, 2.0.5's schedule with
    `schedule_decay=1`, and does not save the running product of it, which follows from
    the step count. (The golden step ran eagerly: see the fixture script.)"""
    with pytest.warns(
        UserWarning,
        match="current Nadam: kgraph continues with Keras 2.0.5's Nadam with schedule_decay=1",
    ):
        model = load_model(str(FIXTURES / "lstm_current_nadam.h5"))
    opt = model.optimizer
    assert opt.schedule_decay == 1.0 and int(K.get_value(opt.iterations)) == 3
    expected = np.prod([0.9 * (1 - 0.5 * 0.96**t) for t in (1, 2, 3)])
    np.testing.assert_allclose(K.get_value(opt.m_schedule), expected, rtol=1e-6)
    _assert_next_step(model, np.load(FIXTURES / "lstm_current_nadam.npz"))


@pytest.mark.parametrize(
    "case,slot", [("lstm_current_rmsprop", "velocity"), ("lstm_current_adagrad", "accumulator")]
)
def test_current_rmsprop_and_adagrad_differ_only_where_epsilon_goes(case, slot):
    """tf-keras's current RMSprop and Adagrad step by `lr * g / sqrt(s + eps)`, 2.0.5's by
    `lr * g / (sqrt(s) + eps)`, with `s` the slot after the step. Loading warns that
    kgraph continues with 2.0.5's; tf-keras's step is kgraph's scaled by
    `(sqrt(s) + eps) / sqrt(s + eps)`, so the restored slots are tf-keras's."""
    with pytest.warns(
        UserWarning, match=rf"sqrt\({slot} \+ epsilon\); kgraph continues with Keras 2\.0\.5's"
    ):
        model = load_model(str(FIXTURES / f"{case}.h5"))
    expected = np.load(FIXTURES / f"{case}.npz")
    eps = model.optimizer.epsilon
    before = {w.name: K.get_value(w) for w in model.weights}
    outs = model.train_on_batch(expected["x"], expected["y"])
    np.testing.assert_allclose(outs, expected["next_outs"][0], rtol=1e-5)
    names = [p.name for p in model._collected_trainable_weights]
    slots = dict(zip(names, model.optimizer.weights, strict=True))
    for i, w in enumerate(model.weights):
        s = K.get_value(slots[w.name]).astype("float64")
        step = (K.get_value(w) - before[w.name]) * (np.sqrt(s) + eps) / np.sqrt(s + eps)
        np.testing.assert_allclose(
            before[w.name] + step, expected[f"next_w{i}"], rtol=1e-5, atol=2e-7, err_msg=w.name
        )
