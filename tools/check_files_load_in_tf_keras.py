"""Files kgraph writes, loaded and trained on in tf-keras 2.21: fixtures for
tests/test_files_load_in_tf_keras.py.

What it makes (tests/fixtures/ours/)
------------------------------------
Step A (kgraph, no TensorFlow) builds each case below, trains it STEPS_BEFORE_SAVE steps
and writes

* ``<case>.h5``: ``model.save`` (config, training config, weights, optimizer state);
* ``<case>_weights.h5``: ``model.save_weights``;
* ``kgraph_results.npz``: per case (keys ``<case>/...``) the batch ``x``/``y`` (lists as
  ``x0``, ``x1``...), kgraph's predictions ``predict`` (``predict0``... for several
  outputs), and the step kgraph takes next from the saved file: ``next_outs`` (the loss,
  then per-output losses) and ``next_w<i>`` (``model.get_weights()`` after it).

Step B (tf-keras, run by step A as a subprocess in the tf-keras virtualenv) loads every
file with ``tf_keras.models.load_model`` (and ``save_weights`` files into a freshly
initialized model from the same config with ``load_weights``), then writes
``tf_keras_results.npz``: ``predict``, ``predict_weights`` (from the weights file),
``iterations`` (the restored step counter; 0 for the optimizers that, as in Keras 2.0.5,
count steps only when their learning rate decays), ``restored`` (1 when the optimizer's
variables equal the file's values, i.e. tf-keras did not start a fresh optimizer),
``next_outs`` and ``next_w<i>`` for its next ``train_on_batch`` on the same batch.
Step B also prints how far tf-keras's results are from kgraph's.

Cases: MLPs (Dense, Dropout, Dense) with Adam, RMSprop, SGD (momentum, lr decay), Adagrad
and Adamax; a CNN
(BatchNormalization, Conv2D, MaxPooling2D, Flatten, Dense) with Adadelta; Embedding+LSTM
(Adam), Embedding+GRU (Keras 2.0.5's GRU, RMSprop), GRU(reset_after=True) (SGD with
Nesterov momentum), Bidirectional(LSTM) + TimeDistributed(Dense) with Nadam; a functional
model with a float and an int input, a nested Sequential, an Embedding and two outputs
(per-output losses and loss weights, Adam).

Where the two libraries differ by design
----------------------------------------
* Dropout draws its masks from each library's own random generator, so the next step of
  the MLP cases is taken (by both, from the same file) with the dropout layer loaded at
  rate 0 (``custom_objects={'Dropout': ...}``); predictions use the file as it is.
* BatchNormalization: tf-keras updates the moving variance with the *unbiased* batch
  variance, Keras 2.0.5 (and kgraph) with the biased one (KERAS_API.md Appendix D). Step B
  checks that tf-keras's moving variance is the unbiased update of the batch statistics
  its own forward pass gives, then stores the biased update of the same statistics as
  ``next_w<i>`` (tf-keras's own value as ``next_w<i>_tf_keras``).

How to run
----------
::

    cd <repo root> && PYTHONPATH=. /work/venv-dev/bin/python tools/check_files_load_in_tf_keras.py

(``--tf-keras-python PATH`` names another tf-keras interpreter; step B alone is
``<tf-keras python> tools/check_files_load_in_tf_keras.py --step-b``.)
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "ours"
KGRAPH_RESULTS = "kgraph_results.npz"
TF_KERAS_RESULTS = "tf_keras_results.npz"
STEPS_BEFORE_SAVE = 3
TF_KERAS_PYTHON = "/work/venv-tf/bin/python"

CASES = ("mlp_adam", "mlp_rmsprop", "mlp_sgd", "mlp_adagrad", "mlp_adamax", "cnn_adadelta",
         "embedding_lstm", "embedding_gru", "gru_reset_after", "bilstm_nadam",
         "functional_two_inputs")  # fmt: skip
DROPOUT_CASES = ("mlp_adam", "mlp_rmsprop", "mlp_sgd", "mlp_adagrad", "mlp_adamax")
BATCHNORM = {"cnn_adadelta": "batch_normalization_1"}
"""The BatchNormalization layer of each case that has one (see the module docstring)."""


# -- step A: kgraph ---------------------------------------------------------------------------


def _data(case: str):
    r = np.random.RandomState(CASES.index(case))
    n = 12
    if case.startswith("mlp"):
        return r.rand(n, 6).astype("float32"), np.eye(3, dtype="float32")[r.randint(0, 3, n)]
    if case == "cnn_adadelta":
        return r.rand(n, 8, 8, 2).astype("float32"), np.eye(3, dtype="float32")[r.randint(0, 3, n)]
    if case == "embedding_lstm":
        return r.randint(0, 20, (n, 6)).astype("int32"), r.randint(0, 2, (n, 1)).astype("float32")
    if case == "embedding_gru":
        return r.randint(0, 20, (n, 6)).astype("int32"), r.rand(n, 2).astype("float32")
    if case == "gru_reset_after":
        return r.rand(n, 5, 3).astype("float32"), r.rand(n, 2).astype("float32")
    if case == "bilstm_nadam":
        return r.rand(n, 5, 3).astype("float32"), r.rand(n, 5, 2).astype("float32")
    x = [r.rand(n, 5).astype("float32"), r.randint(0, 10, (n, 4)).astype("int32")]
    y = [r.rand(n, 2).astype("float32"), r.randint(0, 2, (n, 1)).astype("float32")]
    return x, y


def _build(case: str):
    """The kgraph model of `case`, compiled (auto-generated layer names are kept: they are
    part of what the file records)."""
    from kgraph import optimizers
    from kgraph.layers import (
        GRU,
        LSTM,
        BatchNormalization,
        Bidirectional,
        Conv2D,
        Dense,
        Dropout,
        Embedding,
        Flatten,
        Input,
        MaxPooling2D,
        TimeDistributed,
        concatenate,
    )
    from kgraph.models import Model, Sequential

    if case.startswith("mlp"):
        model = Sequential([Dense(8, activation="relu", input_shape=(6,)), Dropout(0.25),
                            Dense(3, activation="softmax")])  # fmt: skip
        optimizer = {"mlp_adam": optimizers.Adam(lr=0.01), "mlp_rmsprop": optimizers.RMSprop(lr=0.01),
                     "mlp_sgd": optimizers.SGD(lr=0.1, momentum=0.9, decay=0.05),
                     "mlp_adagrad": optimizers.Adagrad(lr=0.05), "mlp_adamax": optimizers.Adamax(lr=0.02)}[case]  # fmt: skip
        model.compile(optimizer, "categorical_crossentropy", metrics=["accuracy"])
    elif case == "cnn_adadelta":
        # BatchNormalization first: after the convolution it would leave the convolution's
        # bias a gradient that is nearly all cancellation (float noise, which Adadelta's
        # normalized steps turn into differences of the order of the value itself).
        model = Sequential([BatchNormalization(input_shape=(8, 8, 2)), Conv2D(4, (3, 3), activation="relu"),
                            MaxPooling2D((2, 2)), Flatten(), Dense(3, activation="softmax")])  # fmt: skip
        model.compile(optimizers.Adadelta(), "categorical_crossentropy")
    elif case == "embedding_lstm":
        model = Sequential(
            [Embedding(20, 4, input_length=6), LSTM(5), Dense(1, activation="sigmoid")]
        )
        model.compile(optimizers.Adam(lr=0.02), "binary_crossentropy", metrics=["accuracy"])
    elif case == "embedding_gru":
        model = Sequential([Embedding(20, 4, input_length=6), GRU(5), Dense(2)])
        model.compile(optimizers.RMSprop(lr=0.01), "mse")
    elif case == "gru_reset_after":
        model = Sequential([GRU(4, reset_after=True, input_shape=(5, 3)), Dense(2)])
        model.compile(optimizers.SGD(lr=0.1, momentum=0.8, nesterov=True), "mse")
    elif case == "bilstm_nadam":
        model = Sequential([Bidirectional(LSTM(3, return_sequences=True), input_shape=(5, 3)),
                            TimeDistributed(Dense(2))])  # fmt: skip
        model.compile(optimizers.Nadam(lr=0.01), "mse")
    else:
        a = Input(shape=(5,), name="in_a")
        b = Input(shape=(4,), dtype="int32", name="in_b")
        inner = Sequential([Dense(4, activation="relu", input_shape=(5,))], name="inner")
        h = concatenate([inner(a), Flatten()(Embedding(10, 3)(b))])
        out_a = Dense(2, name="out_a")(h)
        out_b = Dense(1, activation="sigmoid", name="out_b")(h)
        model = Model([a, b], [out_a, out_b])
        model.compile(optimizers.Adam(lr=0.01), {"out_a": "mse", "out_b": "binary_crossentropy"},
                      loss_weights={"out_a": 1.0, "out_b": 0.5})  # fmt: skip
    return model


def kgraph_step_objects() -> dict:
    """`custom_objects` that load kgraph's Dropout at rate 0 (see the module docstring)."""
    from kgraph.layers import Dropout

    class StepDropout(Dropout):
        def __init__(self, rate, **kwargs):
            super().__init__(0.0, **kwargs)

    return {"Dropout": StepDropout}


def _store(arrays: dict, key: str, value) -> None:
    if isinstance(value, list):
        for i, v in enumerate(value):
            arrays[f"{key}{i}"] = np.asarray(v)
    else:
        arrays[key] = np.asarray(value)


def n_losses(model) -> int:
    """How many leading `train_on_batch` results are losses (the total, then one per
    output of a multi-output model); the rest are metrics."""
    outputs = len(model.outputs)
    return 1 if outputs == 1 else 1 + outputs


def step_a() -> None:
    from kgraph import backend as K
    from kgraph.models import load_model

    OUT.mkdir(parents=True, exist_ok=True)
    arrays: dict = {}
    for case in CASES:
        K.clear_session()
        np.random.seed(CASES.index(case))
        model = _build(case)
        x, y = _data(case)
        for _ in range(STEPS_BEFORE_SAVE):
            model.train_on_batch(x, y)
        model.save(str(OUT / f"{case}.h5"))
        model.save_weights(str(OUT / f"{case}_weights.h5"))
        case_arrays: dict = {}
        _store(case_arrays, "x", x)
        _store(case_arrays, "y", y)
        _store(case_arrays, "predict", model.predict(x))
        objects = kgraph_step_objects() if case in DROPOUT_CASES else None
        loaded = load_model(str(OUT / f"{case}.h5"), custom_objects=objects)
        outs = np.atleast_1d(loaded.train_on_batch(x, y))[: n_losses(loaded)]
        case_arrays["next_outs"] = outs.astype("float64")
        for i, w in enumerate(loaded.get_weights()):
            case_arrays[f"next_w{i}"] = w
        if case not in DROPOUT_CASES:  # kgraph's own round trip continues the same way
            mine = np.atleast_1d(model.train_on_batch(x, y))[: n_losses(model)]
            np.testing.assert_allclose(mine, outs, rtol=1e-6, err_msg=case)
        arrays.update({f"{case}/{k}": v for k, v in case_arrays.items()})
    np.savez(OUT / KGRAPH_RESULTS, **arrays)
    for case in CASES:
        size = (OUT / f"{case}.h5").stat().st_size
        print(f"step A: {case}.h5 {size // 1024} KB, {case}_weights.h5 "
              f"{(OUT / f'{case}_weights.h5').stat().st_size // 1024} KB")  # fmt: skip


# -- step B: tf-keras -------------------------------------------------------------------------


def _case_arrays(npz, case: str) -> dict:
    prefix = f"{case}/"
    return {k[len(prefix) :]: npz[k] for k in npz.files if k.startswith(prefix)}


def _listed(arrays: dict, key: str):
    if key in arrays:
        return arrays[key]
    return [arrays[f"{key}{i}"] for i in range(8) if f"{key}{i}" in arrays]


def _as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def _tf_step_objects(keras) -> dict:
    class StepDropout(keras.layers.Dropout):
        def __init__(self, rate, **kwargs):
            super().__init__(0.0, **kwargs)

    return {"Dropout": StepDropout}


def _restored(model, path: Path) -> bool:
    """Whether the optimizer holds the file's `optimizer_weights`, in the file's order."""
    import h5py

    with h5py.File(path, "r") as f:
        group = f["optimizer_weights"]
        names = [n.decode() if isinstance(n, bytes) else n for n in group.attrs["weight_names"]]
        saved = [group[n][()] for n in names]
    mine = model.optimizer.get_weights()
    return len(mine) == len(saved) and all(
        np.asarray(a).shape == np.asarray(b).shape and np.allclose(a, b, rtol=0, atol=0)
        for a, b in zip(mine, saved, strict=True)
    )


def _batch_variances(keras, model, layer_name: str, x) -> tuple[np.ndarray, np.ndarray, float, int]:
    """The moving variance before the step, the biased batch variance of the layer's
    input, the momentum and the batch size (reduction count)."""
    layer = model.get_layer(layer_name)
    feed = keras.Model(model.inputs, layer.input)
    h = feed.predict(x, verbose=0).astype("float64")
    h = h.reshape(-1, h.shape[-1])
    moving = keras.backend.get_value(layer.moving_variance).astype("float64")
    return moving, h.var(axis=0), float(layer.momentum), h.shape[0]


def step_b() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_DETERMINISTIC_OPS", "1")
    import tf_keras as keras

    ours = np.load(OUT / KGRAPH_RESULTS)
    results: dict = {}
    failed: list[str] = []
    for case in CASES:
        mine = _case_arrays(ours, case)
        x, y = _listed(mine, "x"), _listed(mine, "y")
        path = OUT / f"{case}.h5"
        model = keras.models.load_model(str(path))
        got: dict = {}
        _store(got, "predict", model.predict(x, verbose=0))
        got["iterations"] = np.asarray(int(keras.backend.get_value(model.optimizer.iterations)))
        got["restored"] = np.asarray(int(_restored(model, path)))
        fresh = keras.models.model_from_json(model.to_json())
        fresh.load_weights(str(OUT / f"{case}_weights.h5"))
        _store(got, "predict_weights", fresh.predict(x, verbose=0))
        if case in DROPOUT_CASES:
            model = keras.models.load_model(str(path), custom_objects=_tf_step_objects(keras))
        bn = BATCHNORM.get(case)
        if bn is not None:
            moving, var, momentum, count = _batch_variances(keras, model, bn, x)
        outs = np.atleast_1d(model.train_on_batch(x, y))
        got["next_outs"] = outs[: n_losses(model)].astype("float64")
        weights = model.get_weights()
        if bn is not None:
            index = [w.name for w in model.weights].index(f"{bn}/moving_variance:0")
            unbiased = moving * momentum + var * count / (count - 1) * (1 - momentum)
            np.testing.assert_allclose(
                weights[index], unbiased, rtol=1e-5, err_msg=f"{case}: tf-keras's moving variance"
            )
            got[f"next_w{index}_tf_keras"] = weights[index]
            weights[index] = (moving * momentum + var * (1 - momentum)).astype("float32")
        for i, w in enumerate(weights):
            got[f"next_w{i}"] = w
        failed += [] if _report(case, mine, got) else [case]
        results.update({f"{case}/{k}": v for k, v in got.items()})
    np.savez(OUT / TF_KERAS_RESULTS, **results)
    if failed:
        raise SystemExit(f"tf-keras and kgraph differ on: {', '.join(failed)}")


def _report(case: str, mine: dict, got: dict) -> bool:
    """Prints how far tf-keras's results are from kgraph's; whether they agree (the
    tolerances of tests/test_files_load_in_tf_keras.py) and the state was restored."""
    checks = [("predict", _listed(got, "predict"), _listed(mine, "predict"), 1e-6),
              ("weights file", _listed(got, "predict_weights"), _listed(mine, "predict"), 1e-6),
              ("next loss", got["next_outs"], mine["next_outs"], 0.0)]  # fmt: skip
    checks += [("next weights", got[k], mine[k], 1e-7) for k in mine if k.startswith("next_w")]
    worst: dict[str, float] = {}
    ok = bool(got["restored"])
    for what, theirs, ours, atol in checks:
        for a, b in zip(_as_list(theirs), _as_list(ours), strict=True):
            a, b = np.asarray(a, "float64"), np.asarray(b, "float64")
            worst[what] = max(worst.get(what, 0.0), float(np.max(np.abs(a - b))))
            ok = ok and bool(np.allclose(a, b, rtol=1e-5, atol=atol))
    print(f"step B: {case}: {'agrees' if ok else 'DIFFERS'}; optimizer restored="
          f"{bool(got['restored'])} at step {int(got['iterations'])}; largest differences: "
          + ", ".join(f"{k} {v:.2g}" for k, v in worst.items()))  # fmt: skip
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--step-b", action="store_true", help="only step B (in the tf-keras interpreter)"
    )
    parser.add_argument(
        "--tf-keras-python", default=TF_KERAS_PYTHON, help="the interpreter with tf_keras"
    )
    args = parser.parse_args()
    if args.step_b:
        step_b()
        return
    step_a()
    subprocess.run([args.tf_keras_python, os.path.abspath(__file__), "--step-b"], check=True,
                   env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
