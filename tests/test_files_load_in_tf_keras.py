"""Files kgraph writes load in tf-keras, and training continues there exactly.

The fixtures under tests/fixtures/ours/ are files kgraph wrote (`model.save` and
`save_weights`) and what tf-keras 2.21 computed from them: its predictions, the optimizer
state it restored, and its next `train_on_batch` on the same batch
(tools/check_files_load_in_tf_keras.py, which documents the cases and the two places where
the libraries differ by design: dropout masks and BatchNormalization's moving variance).
Here kgraph, loading the same files, must compute what tf-keras computed; and the files
kgraph writes today for these models must be the committed ones, so a change in the
writer that tf-keras would not read fails here rather than in a user's hands.
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from kgraph import backend as K
from kgraph import optimizers
from kgraph.engine.saving import attr_text, load_attributes
from kgraph.layers import Dense, Dropout, Input, concatenate
from kgraph.models import Model, Sequential, load_model, model_from_json

FIXTURES = Path(__file__).parent / "fixtures" / "ours"
CASES = ["mlp_adam", "mlp_rmsprop", "mlp_sgd", "mlp_adagrad", "mlp_adamax", "cnn_adadelta", "embedding_lstm",
         "embedding_gru", "gru_reset_after", "bilstm_nadam", "functional_two_inputs"]  # fmt: skip
DROPOUT_CASES = {"mlp_adam", "mlp_rmsprop", "mlp_sgd", "mlp_adagrad", "mlp_adamax"}
OURS = np.load(FIXTURES / "kgraph_results.npz")
THEIRS = np.load(FIXTURES / "tf_keras_results.npz")


class StepDropout(Dropout):
    """Dropout at rate 0: the masks come from each library's own generator, so the next
    step is compared without them (tf-keras's step was taken the same way)."""

    def __init__(self, rate, **kwargs):
        super().__init__(0.0, **kwargs)


def _arrays(npz, case: str) -> dict:
    prefix = f"{case}/"
    return {k[len(prefix) :]: npz[k] for k in npz.files if k.startswith(prefix)}


def _listed(arrays: dict, key: str):
    if key in arrays:
        return arrays[key]
    return [arrays[f"{key}{i}"] for i in range(8) if f"{key}{i}" in arrays]


def _as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def _assert_predictions(got, want, what: str) -> None:
    for g, w in zip(_as_list(got), _as_list(want), strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6, err_msg=what)


@pytest.mark.parametrize("case", CASES)
def test_kgraph_and_tf_keras_compute_the_same_from_our_files(case):
    ours, theirs = _arrays(OURS, case), _arrays(THEIRS, case)
    x, y = _listed(ours, "x"), _listed(ours, "y")
    # tf-keras restored the optimizer state from the file rather than starting afresh.
    assert int(theirs["restored"]) == 1, f"{case}: tf-keras did not restore the optimizer state"
    model = load_model(str(FIXTURES / f"{case}.h5"))
    assert int(K.get_value(model.optimizer.iterations)) == int(theirs["iterations"])
    _assert_predictions(model.predict(x), _listed(theirs, "predict"), f"{case}: predict")
    _assert_predictions(
        model.predict(x), _listed(ours, "predict"), f"{case}: kgraph's own round trip"
    )

    fresh = model_from_json(model.to_json())
    fresh.load_weights(str(FIXTURES / f"{case}_weights.h5"))
    _assert_predictions(
        fresh.predict(x), _listed(theirs, "predict_weights"), f"{case}: save_weights file"
    )

    if case in DROPOUT_CASES:
        model = load_model(str(FIXTURES / f"{case}.h5"), custom_objects={"Dropout": StepDropout})
    outs = np.atleast_1d(model.train_on_batch(x, y))[: len(theirs["next_outs"])]
    np.testing.assert_allclose(outs, theirs["next_outs"], rtol=1e-5, err_msg=f"{case}: next loss")
    for i, w in enumerate(model.get_weights()):
        np.testing.assert_allclose(w, theirs[f"next_w{i}"], rtol=1e-5, atol=1e-7,
                                   err_msg=f"{case}: {model.weights[i].name} after the next step")  # fmt: skip


def _file_summary(path: Path) -> dict:
    """What a tf-keras reader depends on: the configs, the weight layout, the optimizer
    weights' names and order."""
    with h5py.File(path, "r") as f:
        weights = f["model_weights"]
        layers = load_attributes(weights, "layer_names")
        summary = {
            "model_config": json.loads(attr_text(f, "model_config")),
            "training_config": json.loads(attr_text(f, "training_config")),
            "layers": {name: load_attributes(weights[name], "weight_names") for name in layers},
            "shapes": {
                f"{n}/{w}": weights[n][w].shape
                for n in layers
                for w in load_attributes(weights[n], "weight_names")
            },
        }
        group = f["optimizer_weights"]
        names = load_attributes(group, "weight_names")
        summary["optimizer_weights"] = [(n, group[n].shape) for n in names]
        summary["slot_order"] = attr_text(group, "kgraph_slot_order")
    return summary


@pytest.mark.parametrize("case", CASES)
def test_what_kgraph_writes_today_is_the_committed_file(case, tmp_path):
    """Saving the model again (loaded from the committed file, so the same architecture,
    names and optimizer) writes the same configs, weight layout and optimizer layout."""
    committed = _file_summary(FIXTURES / f"{case}.h5")
    model = load_model(str(FIXTURES / f"{case}.h5"))
    model.save(str(tmp_path / "again.h5"))
    assert _file_summary(tmp_path / "again.h5") == committed
    model.save_weights(str(tmp_path / "weights.h5"))
    with (
        h5py.File(tmp_path / "weights.h5", "r") as f,
        h5py.File(FIXTURES / f"{case}_weights.h5", "r") as g,
    ):
        names = load_attributes(f, "layer_names")
        assert names == load_attributes(g, "layer_names")
        for name in names:
            assert load_attributes(f[name], "weight_names") == load_attributes(
                g[name], "weight_names"
            )


def _layer_configs(config):
    """Every layer config in a model config, nested models and wrapped layers included."""
    if isinstance(config, list):
        for entry in config:
            yield from _layer_configs(entry)
    elif isinstance(config, dict):
        if "class_name" in config and isinstance(config.get("config"), (dict, list)):
            yield config["class_name"], config["config"]
        for value in config.values():
            yield from _layer_configs(value)


def test_the_layer_configs_say_what_tf_keras_needs():
    """The keys whose absence or Keras 2.0.5 value tf-keras reads differently."""
    seen = set()
    for case in CASES:
        with h5py.File(FIXTURES / f"{case}.h5", "r") as f:
            config = json.loads(attr_text(f, "model_config"))
        for class_name, layer in _layer_configs(config):
            seen.add(class_name)
            if not isinstance(layer, dict):  # a nested Sequential: its layers follow
                continue
            if class_name == "Embedding":  # tf-keras would create integer embeddings
                assert layer["dtype"] == "float32", case
            if class_name == "GRU":  # tf-keras's default is reset_after=True
                assert isinstance(layer["reset_after"], bool), case
            if class_name == "InputLayer" and layer["name"] == "in_b":
                assert layer["dtype"] == "int32"  # the integer dtype belongs to the input
    assert {"Embedding", "GRU", "LSTM", "Bidirectional", "TimeDistributed", "BatchNormalization",
            "Conv2D", "Sequential"} <= seen  # fmt: skip


def _xy(seed=0):
    r = np.random.RandomState(seed)
    return r.rand(8, 5).astype("float32"), r.rand(8, 2).astype("float32")


def test_sgd_without_momentum_writes_only_its_counter_and_restores_it(tmp_path):
    """tf-keras's SGD without momentum has no slots (the moments do not change the update)."""
    x, y = _xy()
    model = Sequential([Dense(3, input_shape=(5,)), Dense(2)])
    model.compile(optimizers.SGD(lr=0.1, decay=0.1), "mse")
    for _ in range(3):
        model.train_on_batch(x, y)
    model.save(str(tmp_path / "m.h5"))
    with h5py.File(tmp_path / "m.h5", "r") as f:
        assert load_attributes(f["optimizer_weights"], "weight_names") == ["iterations:0"]
    loaded = load_model(str(tmp_path / "m.h5"))
    assert int(K.get_value(loaded.optimizer.iterations)) == 3  # the decayed lr continues
    assert loaded.train_on_batch(x, y) == model.train_on_batch(x, y)
    for a, b in zip(loaded.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_state_of_nested_layers_with_the_same_names_restores_in_model_order(tmp_path):
    """Two nested models each holding a `d` layer: the slot names cannot tell the weights
    apart, so the state is restored by position, in the model order it was written in."""
    x, y = _xy(1)
    a = Input(shape=(5,))
    first = Sequential([Dense(4, input_shape=(5,), name="d")], name="first")
    second = Sequential([Dense(4, input_shape=(5,), name="d")], name="second")
    out = Dense(2, name="out")(concatenate([first(a), second(a)]))
    model = Model(a, out)
    model.compile(optimizers.Adam(lr=0.01), "mse")
    for _ in range(3):
        model.train_on_batch(x, y)
    model.save(str(tmp_path / "m.h5"))
    loaded = load_model(str(tmp_path / "m.h5"))
    for step in range(2):
        assert loaded.train_on_batch(x, y) == model.train_on_batch(x, y), step
    for a, b in zip(loaded.optimizer.get_weights(), model.optimizer.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
