"""Golden model files written by real Keras (tf-keras 2.21) for kgraph's loader tests.

What it makes (tests/fixtures/saving/)
--------------------------------------
For each case, ``<case>.h5`` is a file written by tf-keras and ``<case>.npz`` holds what
tf-keras computed with it:

* ``x``, ``y`` (lists are stored as ``x0``, ``x1``, ...): the training batch;
* ``predict``: the model's predictions for ``x`` when the file was written;
* ``next_outs``: what ``train_on_batch(x, y)`` returned on the step *after* the save (loss,
  then metrics, in Keras 2.0.5's ``metrics_names`` order);
* ``next_w<i>``: ``model.get_weights()`` after that step.

Cases (``model.save`` files carry the config, the training config and optimizer state):

* ``tfk_mlp_adam``: Sequential MLP, legacy Adam (slot names ``Adam/<param>/m:0``).
* ``tfk_mlp_new_adam``: the same with tf-keras's current Adam (``iteration:0``,
  interleaved ``Adam/m/<param>:0`` and ``Adam/v/<param>:0``, class ``Custom>Adam``).
* ``tfk_functional_sgd``: two inputs, two outputs, a nested Sequential, per-output losses,
  loss weights and metrics; legacy SGD with momentum.
* ``tfk_conv_rmsprop``: Conv2D, MaxPooling2D, Flatten, Dense; legacy RMSprop.
* ``tfk_bn_nadam``: Dense (no bias: a bias before BatchNormalization has a zero gradient,
  whose float noise Nadam would amplify), BatchNormalization, Dense; legacy Nadam
  (``momentum_cache``).
* ``tfk_gru_adam``: GRU (tf-keras's default ``reset_after=True``: a (2, 3 * units) bias and
  a sigmoid recurrent activation, both recorded in the config), Dense; legacy Adam.
* ``tfk_functional_weights``: ``save_weights`` of the functional model (weights only).
* ``keras205_mlp_adam``: the ``tfk_mlp_adam`` state rewritten with h5py in Keras 2.0.5's
  own layout: byte-string attributes, a 2.0.5 config dialect, ``Variable:<i>`` optimizer
  weight names, a float32 ``iterations`` and slots ordered by the name-sorted trainable
  weights. tf-keras cannot write this layout any more; its values come from
  ``tfk_mlp_adam`` and its expected next step is tf-keras's.

How to run
----------
TensorFlow is needed only here, never by the test suite::

    cd <repo root> && /work/venv-tf/bin/python tools/make_saving_fixtures.py

The other direction, files kgraph writes loading in tf-keras, is checked with::

    /work/venv-tf/bin/python tools/make_saving_fixtures.py --check model.h5 data.npz

where ``model.h5`` comes from kgraph's ``model.save`` and ``data.npz`` holds ``x`` (or
``x0``, ``x1``, ...) and kgraph's ``predict`` for it (``predict0``, ... for several
outputs). It loads the file with ``tf_keras.models.load_model``, compiles it from the
saved training config, and prints the largest prediction difference. The full check of
that direction (predictions, restored optimizer state and the next training step, for
every kind of model) is tools/check_files_load_in_tf_keras.py.

Keras 2.0.5 -> tf-keras mappings applied (KERAS_API.md Appendix D)
------------------------------------------------------------------
* Optimizers are ``tf_keras.optimizers.legacy`` classes (except ``tfk_mlp_new_adam``);
  epsilon stays at tf-keras's 1e-7, which the saved config records, so kgraph uses it.
* RMSprop runs with ``momentum=0`` (tf-keras then adds epsilon outside the root, as 2.0.5).
* BatchNormalization: tf-keras updates the moving variance with the *unbiased* batch
  variance, 2.0.5 with the biased one. ``next_w`` for ``tfk_bn_nadam`` replaces tf-keras's
  moving variance by 2.0.5's update, computed from the same batch statistics
  (``mv * momentum + biased_var * (1 - momentum)``); every other value is tf-keras's.
* Losses are computed by tf-keras from the softmax/sigmoid logits without 2.0.5's clipping;
  no probability here comes near the clip bounds.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_DETERMINISTIC_OPS", "1")

import h5py  # noqa: E402
import numpy as np  # noqa: E402
import tf_keras as keras  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "saving"
STEPS_BEFORE_SAVE = 3


def _rng(seed: int) -> np.random.RandomState:
    return np.random.RandomState(seed)


def _mlp():
    return keras.Sequential([
        keras.layers.Dense(8, activation="tanh", input_shape=(6,), name="dense_1"),
        keras.layers.Dense(3, activation="softmax", name="dense_2"),
    ])  # fmt: skip


def _mlp_data():
    r = _rng(0)
    x = r.rand(16, 6).astype("float32")
    y = np.eye(3, dtype="float32")[r.randint(0, 3, 16)]
    return x, y


def _functional():
    a = keras.Input(shape=(5,), name="in_a")
    b = keras.Input(shape=(3,), name="in_b")
    inner = keras.Sequential([keras.layers.Dense(4, activation="relu", input_shape=(5,), name="inner_dense")],
                             name="inner")  # fmt: skip
    h = keras.layers.concatenate([inner(a), b], name="merge")
    out_a = keras.layers.Dense(2, name="out_a")(h)
    out_b = keras.layers.Dense(1, activation="sigmoid", name="out_b")(h)
    return keras.Model([a, b], [out_a, out_b], name="two_io")


def _functional_data():
    r = _rng(1)
    x = [r.rand(12, 5).astype("float32"), r.rand(12, 3).astype("float32")]
    y = [r.rand(12, 2).astype("float32"), r.randint(0, 2, (12, 1)).astype("float32")]
    return x, y


def _conv():
    return keras.Sequential([
        keras.layers.Conv2D(4, (3, 3), activation="relu", input_shape=(8, 8, 2), name="conv"),
        keras.layers.MaxPooling2D((2, 2), name="pool"),
        keras.layers.Flatten(name="flat"),
        keras.layers.Dense(3, activation="softmax", name="head"),
    ])  # fmt: skip


def _conv_data():
    r = _rng(2)
    x = r.rand(10, 8, 8, 2).astype("float32")
    y = np.eye(3, dtype="float32")[r.randint(0, 3, 10)]
    return x, y


def _bn():
    return keras.Sequential([
        keras.layers.Dense(6, input_shape=(4,), use_bias=False, name="pre"),
        keras.layers.BatchNormalization(name="bn"),
        keras.layers.Activation("relu", name="act"),
        keras.layers.Dense(2, name="post"),
    ])  # fmt: skip


def _gru():
    return keras.Sequential([
        keras.layers.GRU(4, input_shape=(5, 3), name="gru"),  # tf-keras: reset_after=True
        keras.layers.Dense(2, name="out"),
    ])  # fmt: skip


def _gru_data():
    r = _rng(4)
    return r.rand(8, 5, 3).astype("float32"), r.rand(8, 2).astype("float32")


def _bn_data():
    r = _rng(3)
    return r.rand(16, 4).astype("float32"), r.rand(16, 2).astype("float32")


def _store(arrays: dict, key: str, value) -> None:
    if isinstance(value, list):
        for i, v in enumerate(value):
            arrays[f"{key}{i}"] = np.asarray(v)
    else:
        arrays[key] = np.asarray(value)


def _case(name: str, build, data, optimizer, loss, metrics=None, loss_weights=None,
          bn_layer: str | None = None, after_save=None) -> keras.Model:  # fmt: skip
    keras.utils.set_random_seed(11)
    model = build()
    model.compile(optimizer, loss, metrics=metrics, loss_weights=loss_weights)
    x, y = data()
    for _ in range(STEPS_BEFORE_SAVE):
        model.train_on_batch(x, y)
    model.save(str(OUT / f"{name}.h5"))
    if after_save is not None:
        after_save(model)
    arrays: dict = {}
    _store(arrays, "x", x)
    _store(arrays, "y", y)
    _store(arrays, "predict", model.predict(x, verbose=0))
    moving_var = None
    if bn_layer is not None:
        moving_var = _biased_moving_variance(model, bn_layer, x)
    outs = model.train_on_batch(x, y)
    arrays["next_outs"] = np.asarray(outs if isinstance(outs, list) else [outs], dtype="float64")
    weights = model.get_weights()
    if moving_var is not None:
        index = _weight_index(model, f"{bn_layer}/moving_variance:0")
        weights[index] = moving_var
    for i, w in enumerate(weights):
        arrays[f"next_w{i}"] = w
    np.savez(OUT / f"{name}.npz", **arrays)
    return model


def _weight_index(model, name: str) -> int:
    return [w.name for w in model.weights].index(name)


def _biased_moving_variance(model, layer_name: str, x) -> np.ndarray:
    """2.0.5's moving-variance update for the next step on `x` (biased batch variance)."""
    layer = model.get_layer(layer_name)
    feed = keras.Model(model.inputs, layer.input)
    h = feed.predict(x, verbose=0).astype("float64")
    var = h.var(axis=0)
    mv = keras.backend.get_value(layer.moving_variance).astype("float64")
    momentum = layer.momentum
    return (mv * momentum + var * (1.0 - momentum)).astype("float32")


def _keras205_file(source: keras.Model) -> None:
    """`tfk_mlp_adam`'s state written in Keras 2.0.5's own layout (see the docstring)."""
    config = [
        {"class_name": "Dense", "config": {
            "name": layer.name, "trainable": True, "units": layer.units,
            "activation": layer.get_config()["activation"], "use_bias": True,
            "kernel_initializer": {"class_name": "VarianceScaling", "config": {
                "scale": 1.0, "mode": "fan_avg", "distribution": "uniform", "seed": None}},
            "bias_initializer": {"class_name": "Zeros", "config": {}},
            "kernel_regularizer": None, "bias_regularizer": None, "activity_regularizer": None,
            "kernel_constraint": None, "bias_constraint": None,
            **({"batch_input_shape": [None, 6], "dtype": "float32"} if i == 0 else {}),
        }}
        for i, layer in enumerate(source.layers)
    ]  # fmt: skip
    opt = source.optimizer
    training = {
        "optimizer_config": {"class_name": "Adam", "config": {
            "lr": float(np.float32(opt.learning_rate.numpy())), "beta_1": float(np.float32(0.9)),
            "beta_2": float(np.float32(0.999)), "epsilon": 1e-07, "decay": 0.0}},
        "loss": "categorical_crossentropy", "metrics": ["accuracy"],
        "sample_weight_mode": None, "loss_weights": None,
    }  # fmt: skip
    path = OUT / "keras205_mlp_adam.h5"
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = b"2.0.5"
        f.attrs["backend"] = b"tensorflow"
        f.attrs["model_config"] = json.dumps({"class_name": "Sequential", "config": config}).encode()
        f.attrs["training_config"] = json.dumps(training).encode()
        g = f.create_group("model_weights")
        g.attrs["layer_names"] = [la.name.encode() for la in source.layers]
        g.attrs["backend"] = b"tensorflow"
        g.attrs["keras_version"] = b"2.0.5"
        for layer in source.layers:
            lg = g.create_group(layer.name)
            names = [w.name for w in layer.weights]
            lg.attrs["weight_names"] = [n.encode() for n in names]
            for n, v in zip(names, layer.get_weights()):
                lg.create_dataset(n, data=v)
        # 2.0.5's slots follow the name-sorted trainable weights; tf-keras's follow the
        # model's order: [iter] + m(params) + v(params).
        params = [w.name for w in source.trainable_weights]
        values = opt.get_weights()
        n = len(params)
        order = sorted(range(n), key=lambda i: params[i])
        ms = [values[1 + i] for i in order]
        vs = [values[1 + n + i] for i in order]
        og = f.create_group("optimizer_weights")
        names = ["iterations:0"] + [f"Variable{'' if k == 0 else f'_{k}'}:0" for k in range(2 * n)]
        og.attrs["weight_names"] = [s.encode() for s in names]
        for s, v in zip(names, [np.float32(values[0])] + ms + vs):
            og.create_dataset(s, data=v)


def _weights_file(model: keras.Model) -> None:
    model.save_weights(str(OUT / "tfk_functional_weights.h5"))
    np.savez(OUT / "tfk_functional_weights.npz",
             **{f"w{i}": w for i, w in enumerate(model.get_weights())})  # fmt: skip


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    legacy = keras.optimizers.legacy
    _case("tfk_mlp_adam", _mlp, _mlp_data, legacy.Adam(learning_rate=0.01),
          "categorical_crossentropy", metrics=["accuracy"], after_save=_keras205_file)  # fmt: skip
    _case("tfk_mlp_new_adam", _mlp, _mlp_data, keras.optimizers.Adam(learning_rate=0.01),
          "categorical_crossentropy", metrics=["accuracy"])  # fmt: skip
    _case(
        "tfk_functional_sgd", _functional, _functional_data,
        legacy.SGD(learning_rate=0.05, momentum=0.9),
        {"out_a": "mse", "out_b": "binary_crossentropy"},
        metrics={"out_b": ["accuracy"]}, loss_weights={"out_a": 1.0, "out_b": 0.5},
        after_save=_weights_file,
    )  # fmt: skip
    _case("tfk_conv_rmsprop", _conv, _conv_data, legacy.RMSprop(learning_rate=0.01),
          "categorical_crossentropy")  # fmt: skip
    _case("tfk_bn_nadam", _bn, _bn_data, legacy.Nadam(learning_rate=0.01), "mse",
          metrics=["mae"], bn_layer="bn")  # fmt: skip
    _case("tfk_gru_adam", _gru, _gru_data, legacy.Adam(learning_rate=0.01), "mse")


def check(path: str, data_path: str) -> None:
    """Loads a kgraph-written file in tf-keras and compares its predictions with kgraph's."""
    data = np.load(data_path)
    x = data["x"] if "x" in data else [data[f"x{i}"] for i in range(8) if f"x{i}" in data]
    expected = data["predict"] if "predict" in data else [data[f"predict{i}"] for i in range(8) if f"predict{i}" in data]
    model = keras.models.load_model(path)
    got = model.predict(x, verbose=0)
    pairs = zip(got, expected) if isinstance(got, list) else [(got, expected)]
    worst = max(float(np.abs(np.asarray(a) - np.asarray(b)).max()) for a, b in pairs)
    print(f"{path}: {type(model).__name__} with {len(model.layers)} layers, compiled with "
          f"{type(model.optimizer).__name__}; largest prediction difference {worst:.3g}")  # fmt: skip


if __name__ == "__main__":
    import sys

    if len(sys.argv) == 4 and sys.argv[1] == "--check":
        check(sys.argv[2], sys.argv[3])
    else:
        main()
