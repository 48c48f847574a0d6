"""Whole-model HDF5 files: `model.save` / `load_model` in Keras's layout.

Golden files were written by tf-keras (tools/make_saving_fixtures.py); loading one and
taking a step must reproduce the step tf-keras took after saving it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

import kgraph
from kgraph import backend as K
from kgraph import callbacks as cbks
from kgraph import optimizers
from kgraph.engine.saving import KerasFileError, attr_text, load_attributes, save_attributes
from kgraph.layers import BatchNormalization, Dense, Input, Lambda
from kgraph.models import Model, Sequential, load_model

FIXTURES = Path(__file__).parent / "fixtures" / "saving"
GOLDEN = [
    ("tfk_mlp_adam", "tfk_mlp_adam"),
    ("tfk_mlp_new_adam", "tfk_mlp_new_adam"),
    ("keras205_mlp_adam", "tfk_mlp_adam"),
    ("tfk_functional_sgd", "tfk_functional_sgd"),
    ("tfk_conv_rmsprop", "tfk_conv_rmsprop"),
    ("tfk_bn_nadam", "tfk_bn_nadam"),
    ("tfk_gru_adam", "tfk_gru_adam"),  # GRU(reset_after=True): a (2, 3 * units) bias
]


def _arrays(npz, key):
    if key in npz:
        return npz[key]
    return [npz[f"{key}{i}"] for i in range(8) if f"{key}{i}" in npz]


def _as_list(x):
    return x if isinstance(x, list) else [x]


def _assert_next_step(model, expected, rtol=1e-5, atol=2e-7):
    """`train_on_batch` on the fixture batch gives tf-keras's results and weights."""
    outs = np.atleast_1d(model.train_on_batch(_arrays(expected, "x"), _arrays(expected, "y")))
    np.testing.assert_allclose(outs, expected["next_outs"], rtol=rtol, atol=1e-6)
    for i, w in enumerate(model.get_weights()):
        np.testing.assert_allclose(w, expected[f"next_w{i}"], rtol=rtol, atol=atol, err_msg=model.weights[i].name)


@pytest.mark.parametrize("case,expected", GOLDEN, ids=[c for c, _ in GOLDEN])
def test_golden_files_load_predict_and_continue_training_like_keras(case, expected):
    expected = np.load(FIXTURES / f"{expected}.npz")
    model = load_model(str(FIXTURES / f"{case}.h5"))
    for got, want in zip(_as_list(model.predict(_arrays(expected, "x"))), _as_list(_arrays(expected, "predict"))):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    _assert_next_step(model, expected)


def test_restored_optimizer_state_is_the_saved_one():
    model = load_model(str(FIXTURES / "tfk_mlp_adam.h5"))
    opt = model.optimizer
    assert isinstance(opt, optimizers.Adam) and model.metrics_names == ["loss", "acc"]
    assert int(K.get_value(opt.iterations)) == 3
    np.testing.assert_allclose(K.get_value(opt.lr), 0.01, rtol=1e-6)
    with h5py.File(FIXTURES / "tfk_mlp_adam.h5", "r") as f:
        saved_m = f["optimizer_weights/Adam/dense_1/kernel/m:0"][()]
    # kgraph's slots follow the name-sorted trainable weights: bias before kernel.
    names = [w.name for w in model._collected_trainable_weights]
    assert names == ["dense_1/bias:0", "dense_1/kernel:0", "dense_2/bias:0", "dense_2/kernel:0"]
    np.testing.assert_array_equal(K.get_value(opt.weights[2]), saved_m)
    fresh = load_model(str(FIXTURES / "tfk_mlp_adam.h5"), compile=False)
    assert not fresh._compiled and fresh.count_params() == model.count_params()
    nadam = load_model(str(FIXTURES / "tfk_bn_nadam.h5")).optimizer
    assert float(K.get_value(nadam.m_schedule)) != 1.0  # tf-keras's momentum_cache


def test_optimizer_state_written_by_keras_2_1_and_later_maps_by_model_order(tmp_path):
    """Keras 2.1+ (graph mode) names slots `training/Adam/Variable:<i>` and orders them by
    the model's trainable weights, not by name."""
    path = tmp_path / "keras22.h5"
    shutil.copy(FIXTURES / "tfk_mlp_adam.h5", path)
    with h5py.File(path, "r+") as f:
        f.attrs["keras_version"] = "2.2.4"
        group = f["optimizer_weights"]
        names = [n.decode() if isinstance(n, bytes) else n for n in group.attrs["weight_names"]]
        values = [group[n][()] for n in names]
        del f["optimizer_weights"]
        group = f.create_group("optimizer_weights")
        new_names = ["training/Adam/iterations:0"] + [f"training/Adam/Variable_{i}:0" for i in range(len(names) - 1)]
        group.attrs["weight_names"] = [n.encode() for n in new_names]
        for n, v in zip(new_names, values):
            group.create_dataset(n, data=v)
    _assert_next_step(load_model(str(path)), np.load(FIXTURES / "tfk_mlp_adam.npz"))


def test_weights_only_files_written_by_tf_keras_load_into_the_model_from_its_config():
    architecture = load_model(str(FIXTURES / "tfk_functional_sgd.h5"), compile=False)
    fresh = kgraph.models.model_from_json(architecture.to_json())
    fresh.load_weights(str(FIXTURES / "tfk_functional_weights.h5"))
    expected = np.load(FIXTURES / "tfk_functional_weights.npz")
    for i, w in enumerate(fresh.get_weights()):
        np.testing.assert_array_equal(w, expected[f"w{i}"])
    with pytest.raises(KerasFileError, match="no model config.*holds only weights.*load_weights"):
        load_model(str(FIXTURES / "tfk_functional_weights.h5"))


def _mlp(optimizer, bn=False):
    layers = [Dense(8, activation="tanh", input_dim=6)]
    layers += [BatchNormalization()] if bn else []
    model = Sequential(layers + [Dense(3, activation="softmax")])
    model.compile(optimizer, "categorical_crossentropy", metrics=["accuracy"])
    return model


def _data(seed=0):
    r = np.random.RandomState(seed)
    return r.rand(16, 6).astype("float32"), np.eye(3, dtype="float32")[r.randint(0, 3, 16)]


OPTIMIZERS = [
    lambda: optimizers.SGD(lr=0.05, momentum=0.9, decay=0.01, nesterov=True),
    lambda: optimizers.RMSprop(decay=0.1),  # iterations is state 2.0.5 does not list
    lambda: optimizers.Adagrad(),
    lambda: optimizers.Adadelta(),
    lambda: optimizers.Adam(decay=0.01),
    lambda: optimizers.Adamax(),
    lambda: optimizers.Nadam(),  # m_schedule, likewise
]


@pytest.mark.parametrize("make", OPTIMIZERS, ids=["sgd", "rmsprop", "adagrad", "adadelta", "adam", "adamax", "nadam"])
def test_save_then_load_continues_training_exactly(make, tmp_path):
    x, y = _data()
    model = _mlp(make(), bn=True)
    for _ in range(3):
        model.train_on_batch(x, y)
    model.save(str(tmp_path / "m.h5"))
    loaded = load_model(str(tmp_path / "m.h5"))
    for step in range(2):
        assert loaded.train_on_batch(x, y) == model.train_on_batch(x, y), step
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(loaded.optimizer.get_weights(), model.optimizer.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_file_layout_is_keras_2s(tmp_path):
    x, y = _data()
    model = _mlp(optimizers.Adam())
    model.train_on_batch(x, y)
    model.save(str(tmp_path / "m.h5"))
    with h5py.File(tmp_path / "m.h5", "r") as f:
        assert attr_text(f, "keras_version") == "2.0.5" and attr_text(f, "backend") == "tensorflow"
        config = json.loads(f.attrs["model_config"])
        assert config["class_name"] == "Sequential" and isinstance(config["config"], list)
        training = json.loads(f.attrs["training_config"])
        assert training["loss"] == "categorical_crossentropy" and training["metrics"] == ["accuracy"]
        assert training["optimizer_config"]["class_name"] == "Adam"
        assert {"lr", "beta_1", "beta_2", "epsilon", "decay"} <= set(training["optimizer_config"]["config"])
        assert training["sample_weight_mode"] is None and training["loss_weights"] is None
        weights = f["model_weights"]
        assert load_attributes(weights, "layer_names") == ["dense_1", "dense_2"]
        assert weights["dense_1/dense_1/kernel:0"].shape == (6, 8)
        names = load_attributes(f["optimizer_weights"], "weight_names")
        # tf-keras's restore order: the counter, then each slot kind over the model's weights.
        assert names == ["iterations:0"] + [
            f"Adam/{p}/{slot}:0" for slot in ("m", "v")
            for p in ("dense_1/kernel", "dense_1/bias", "dense_2/kernel", "dense_2/bias")
        ]  # fmt: skip
        assert attr_text(f["optimizer_weights"], "kgraph_slot_order") == "model"
        assert f["optimizer_weights/iterations:0"][()] == 1
    model.save(str(tmp_path / "bare.h5"), include_optimizer=False)
    with h5py.File(tmp_path / "bare.h5", "r") as f:
        assert "training_config" not in f.attrs and "optimizer_weights" not in f
    with pytest.warns(UserWarning, match="No training configuration found"):
        bare = load_model(str(tmp_path / "bare.h5"))
    assert not bare._compiled
    np.testing.assert_array_equal(bare.predict(x), model.predict(x))


def test_saves_are_atomic_and_respect_overwrite(tmp_path, monkeypatch):
    from kgraph.engine import saving_model

    model = _mlp("sgd")
    path = tmp_path / "m.h5"
    model.save(str(path))
    good = path.read_bytes()

    def explode(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(saving_model, "save_optimizer_weights", explode)
    with pytest.raises(RuntimeError, match="disk full"):
        model.save(str(path))
    assert path.read_bytes() == good
    assert [p.name for p in tmp_path.iterdir()] == ["m.h5"]
    monkeypatch.undo()
    with pytest.raises(FileExistsError):
        model.save(str(path), overwrite=False)


def test_lambda_bytecode_is_refused_unless_safe_mode_is_off(tmp_path):
    x = Input(shape=(3,))
    model = Model(x, Lambda(lambda t: t * 2.0 + 1.0, name="affine")(Dense(2)(x)))
    model.compile("sgd", "mse")
    model.save(str(tmp_path / "lambda.h5"))
    with pytest.raises(ValueError, match="Refusing to load"):
        load_model(str(tmp_path / "lambda.h5"))
    loaded = load_model(str(tmp_path / "lambda.h5"), safe_mode=False)
    data = np.ones((2, 3), "float32")
    np.testing.assert_array_equal(loaded.predict(data), model.predict(data))


def test_custom_losses_and_layers_resolve_through_custom_objects(tmp_path):
    def scaled_mse(y_true, y_pred):
        return K.mean(K.square(y_pred - y_true), axis=-1) * 2.0

    model = Sequential([Dense(2, input_dim=3)])
    model.compile("sgd", scaled_mse, metrics=[scaled_mse])
    model.save(str(tmp_path / "c.h5"))
    with pytest.raises(ValueError, match="Unknown loss function: scaled_mse.*custom_objects"):
        load_model(str(tmp_path / "c.h5"))
    loaded = load_model(str(tmp_path / "c.h5"), custom_objects={"scaled_mse": scaled_mse})
    assert loaded.metrics_names == ["loss", "scaled_mse"]
    x, y = np.ones((4, 3), "float32"), np.zeros((4, 2), "float32")
    assert loaded.train_on_batch(x, y) == model.train_on_batch(x, y)


def test_model_checkpoint_writes_full_models_that_load(tmp_path):
    x, y = _data()
    model = _mlp("adam")
    model.fit(x, y, epochs=2, batch_size=8, verbose=0,
              callbacks=[cbks.ModelCheckpoint(str(tmp_path / "ckpt.{epoch}.h5"))])  # fmt: skip
    loaded = load_model(str(tmp_path / "ckpt.1.h5"))
    assert int(K.get_value(loaded.optimizer.iterations)) == 4
    assert loaded.train_on_batch(x, y) == model.train_on_batch(x, y)


def test_long_name_lists_are_split_across_attributes(tmp_path):
    names = [f"layer_with_a_rather_long_name_{i:05d}" for i in range(3000)]
    with h5py.File(tmp_path / "a.h5", "w") as f:
        save_attributes(f, "layer_names", names)
        assert "layer_names" not in f.attrs and "layer_names0" in f.attrs and "layer_names1" in f.attrs
        assert load_attributes(f, "layer_names") == names
        save_attributes(f, "weight_names", [])
        assert load_attributes(f, "weight_names") == []


def test_unmappable_optimizer_state_warns_and_starts_fresh(tmp_path):
    x, y = _data()
    model = _mlp(optimizers.Adam())
    model.train_on_batch(x, y)
    model.save(str(tmp_path / "m.h5"))
    with h5py.File(tmp_path / "m.h5", "r+") as f:
        del f["optimizer_weights"]
        group = f.create_group("optimizer_weights")
        group.attrs["weight_names"] = [b"Variable:0"]
        group.create_dataset("Variable:0", data=np.zeros((7, 7), "float32"))
    with pytest.warns(UserWarning, match="Could not restore the optimizer state.*freshly initialized"):
        loaded = load_model(str(tmp_path / "m.h5"))
    assert int(K.get_value(loaded.optimizer.iterations)) == 0


def test_training_configs_tf_keras_writes_map_onto_keras_2_0_5(tmp_path):
    from kgraph.engine.saving_model import compile_args

    args = compile_args({
        "optimizer_config": {"class_name": "Custom>Adam", "config": {"learning_rate": 0.5, "is_legacy_optimizer": False}},
        "loss": {"out": {"class_name": "CategoricalCrossentropy", "config": {"from_logits": False, "reduction": "auto", "name": "cce"}}},
        "metrics": [[{"class_name": "MeanMetricWrapper", "config": {"name": "accuracy", "fn": "categorical_accuracy"}},
                     {"class_name": "MeanMetricWrapper", "config": {"name": "mae", "fn": "mean_absolute_error"}}]],
        "loss_weights": None, "weighted_metrics": None,
    }, ["out"])  # fmt: skip
    assert isinstance(args["optimizer"], optimizers.Adam)
    assert args["loss"] == {"out": "categorical_crossentropy"}
    assert args["metrics"] == ["acc", "mean_absolute_error"]
    with pytest.raises(ValueError, match="CategoricalCrossentropy with \\{'from_logits': True\\}.*compile=False"):
        compile_args({"optimizer_config": {"class_name": "SGD", "config": {}},
                      "loss": {"class_name": "CategoricalCrossentropy", "config": {"from_logits": True}},
                      "loss_weights": None}, ["out"])  # fmt: skip


def test_keras_3_weight_files_are_named_as_such(tmp_path):
    with h5py.File(tmp_path / "m.weights.h5", "w") as f:  # what tf-keras writes for *.weights.h5
        f.create_dataset("layers/dense/vars/0", data=np.zeros((3, 2), "float32"))
        f.create_group("vars")
    with pytest.raises(KerasFileError, match="Keras 3 weight file"):
        Sequential([Dense(2, input_dim=3)]).load_weights(str(tmp_path / "m.weights.h5"))
