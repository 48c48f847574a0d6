"""Optimizer state restored from model files tf-keras wrote for recurrent models and with
its current (non-legacy) optimizers.

Golden files come from tools/make_rnn_optimizer_fixtures.py: each `<case>.h5` was saved
after a few training steps, and `<case>.npz` holds the batch and tf-keras's weights after
one more step. Loading the file and taking that step reproduces them only when every
slot and counter lands on the variable it belongs to.
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest

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
