"""ONNX export of every model kind: plain onnxruntime (and numpy, nothing else) predicts
what kgraph predicts at a batch size not used before, and the exported train step
continues training with the losses kgraph gets."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import onnx
import pytest

import kgraph
from kgraph import backend as K
from kgraph.engine import export as export_module
from kgraph.layers import (
    Activation,
    Add,
    Average,
    AveragePooling2D,
    BatchNormalization,
    Concatenate,
    Conv2D,
    Dense,
    Dot,
    Dropout,
    Embedding,
    Flatten,
    Input,
    Maximum,
    MaxPooling2D,
    Multiply,
)  # fmt: skip
from kgraph.models import Model, Sequential, model_from_json

ROOT = Path(__file__).resolve().parents[1]
TRAIN_BATCH, PREDICT_BATCH, STEPS = 8, 5, 3


def _mlp():
    model = Sequential([Dense(16, activation="relu", input_dim=10), Dropout(0.25, seed=5),
                        Dense(4, activation="softmax")])  # fmt: skip
    model.compile("adam", "categorical_crossentropy", metrics=["accuracy"])
    return model, [((10,), "float32")], [("onehot", 4)]


def _functional_two_io():
    a, b = Input(shape=(5,), name="a"), Input(shape=(3,), name="b")
    shared = Dense(4, activation="tanh", name="shared")
    h = Concatenate(name="cat")([shared(Dense(3, name="proj")(a)), shared(b)])
    out_a = Dense(2, name="out_a")(h)
    out_b = Dense(1, activation="sigmoid", name="out_b")(h)
    model = Model([a, b], [out_a, out_b])
    model.compile("rmsprop", {"out_a": "mse", "out_b": "binary_crossentropy"},
                  loss_weights={"out_a": 1.0, "out_b": 0.5}, metrics={"out_b": ["acc"]})  # fmt: skip
    return model, [((5,), "float32"), ((3,), "float32")], [("real", 2), ("binary", 1)]


def _nested():
    inner = Sequential([Dense(6, activation="relu", input_dim=4), Dense(3)], name="inner")
    x = Input(shape=(4,), name="x")
    block_in = Input(shape=(3,))
    block = Model(block_in, Dense(3, activation="tanh")(block_in), name="block")
    merged = Add()([block(inner(x)), block(Dense(3, name="side")(x))])  # a model shared by two calls
    out = Dense(2, activation="softmax", name="head")(merged)
    model = Model(x, out)
    model.compile("sgd", "categorical_crossentropy")
    return model, [((4,), "float32")], [("onehot", 2)]


def _merge():
    a, b = Input(shape=(4,), name="left"), Input(shape=(4,), name="right")
    da, db = Dense(4, name="da")(a), Dense(4, name="db")(b)
    merged = [Add()([da, db]), Multiply()([da, db]), Maximum()([da, db]), Average()([da, db]),
              Dot(axes=1)([da, db])]  # fmt: skip
    out = Dense(1, name="score")(Concatenate()(merged))
    model = Model([a, b], out)
    model.compile("adagrad", "mse")
    return model, [((4,), "float32"), ((4,), "float32")], [("real", 1)]


def _embedding():
    model = Sequential([Embedding(20, 4, input_length=5), Flatten(), Dense(3, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["acc"])
    return model, [((5,), "int32")], [("sparse", 3)]


def _batchnorm():
    model = Sequential([Dense(6, input_dim=4, use_bias=False), BatchNormalization(), Activation("relu"),
                        Dense(2)])  # fmt: skip
    model.compile("nadam", "mse", metrics=["mae"])
    return model, [((4,), "float32")], [("real", 2)]


def _conv():
    model = Sequential([
        Conv2D(4, (3, 3), activation="relu", input_shape=(8, 8, 2)),
        MaxPooling2D((2, 2)),
        Conv2D(3, (2, 2), strides=(2, 2), padding="same"),
        AveragePooling2D((1, 1)),
        Flatten(),
        Dense(3, activation="softmax"),
    ])  # fmt: skip
    model.compile("adadelta", "categorical_crossentropy")
    return model, [((8, 8, 2), "float32")], [("onehot", 3)]


def _recurrent():
    from kgraph.layers import GRU, LSTM

    model = Sequential([LSTM(5, return_sequences=True, input_shape=(6, 3)), GRU(4, reset_after=True),
                        Dense(2)])  # fmt: skip
    model.compile("rmsprop", "mse")
    return model, [((6, 3), "float32")], [("real", 2)]


BUILDERS = {"mlp": _mlp, "functional_two_io": _functional_two_io, "nested": _nested,
            "merge": _merge, "embedding": _embedding, "batchnorm": _batchnorm, "conv": _conv,
            "recurrent": _recurrent}  # fmt: skip


def _inputs(specs, n, rng):
    return [rng.randint(0, 20, (n, *s)).astype(d) if d.startswith("int") else rng.rand(n, *s).astype(d)
            for s, d in specs]  # fmt: skip


def _targets(specs, n, rng):
    out = []
    for kind, units in specs:
        if kind == "onehot":
            out.append(np.eye(units, dtype="float32")[rng.randint(0, units, n)])
        elif kind == "sparse":
            out.append(rng.randint(0, units, (n, 1)).astype("float32"))
        elif kind == "binary":
            out.append(rng.randint(0, 2, (n, units)).astype("float32"))
        else:
            out.append(rng.rand(n, units).astype("float32"))
    return out


RUNNER = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import onnxruntime as ort

    def session(path):
        opts = ort.SessionOptions()
        opts.log_severity_level = 3  # state initializers that are also inputs are intended
        return ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])

    cases = json.load(open(sys.argv[1]))
    for name, case in cases.items():
        data = np.load(case["data"])
        s = session(case["inference"])
        outs = s.run(None, {n: data[f"x_{n}"] for n in case["input_names"]})
        result = {f"predict_{i}": o for i, o in enumerate(outs)}
        s = session(case["training"])
        out_names = [o.name for o in s.get_outputs()]
        state = {}
        for step in range(case["steps"]):
            feeds = {n: data[f"step{step}_{n}"] for n in case["batch_inputs"]}
            res = dict(zip(out_names, s.run(None, {**feeds, **state})))
            result[f"step{step}"] = np.array([res[n] for n in case["results"]], dtype="float64")
            state = {n[: -len("__new")]: v for n, v in res.items() if n.endswith("__new")}
        for n in case["weights"]:
            result[f"w_{n}"] = state[n]
        np.savez(case["out"], **result)
    loaded = {m.split(".")[0] for m in sys.modules}
    assert not loaded & {"kgraph", "lowering", "runtime", "onnx", "h5py"}, loaded
    """
)


@pytest.fixture(scope="module")
def round_trip(tmp_path_factory):
    """Builds, trains, exports and runs every model kind; returns kgraph's and onnxruntime's
    arrays per case (models do not outlive the fixture: each test starts a fresh session)."""
    tmp = tmp_path_factory.mktemp("export")
    expected, cases = {}, {}
    for name, build in BUILDERS.items():
        K.clear_session()
        rng = np.random.RandomState(len(name))
        model, in_specs, out_specs = build()
        x, y = _inputs(in_specs, TRAIN_BATCH, rng), _targets(out_specs, TRAIN_BATCH, rng)
        for _ in range(2):
            model.train_on_batch(x, y)
        data = {}
        x_new = _inputs(in_specs, PREDICT_BATCH, rng)
        data.update({f"x_{n}": a for n, a in zip(model.input_names, x_new)})
        model.export(str(tmp / f"{name}.onnx"))
        predicted = model.predict(x_new)
        model.export(str(tmp / f"{name}_train.onnx"), training=True)
        train = onnx.load(str(tmp / f"{name}_train.onnx"))
        meta = json.loads({p.key: p.value for p in train.metadata_props}["kgraph_training"])
        steps = []
        for step in range(STEPS):
            xs, ys = _inputs(in_specs, TRAIN_BATCH, rng), _targets(out_specs, TRAIN_BATCH, rng)
            ws = [np.ones(TRAIN_BATCH, "float32") for _ in ys]
            feeds = dict(zip(model._feed_names, xs + ys + ws))
            data.update({f"step{step}_{n}": feeds[n] for n in meta["inputs"]})
            steps.append(np.atleast_1d(model.train_on_batch(xs, ys)))
        np.savez(tmp / f"{name}_data.npz", **data)
        weights = [w.op_name for w in model.weights]
        expected[name] = {
            "predict": predicted if isinstance(predicted, list) else [predicted],
            "steps": steps, "weights": dict(zip(weights, model.get_weights())),
            "metrics_names": model.metrics_names, "training_meta": meta, "train_proto": train,
            "inference_proto": onnx.load(str(tmp / f"{name}.onnx")),
        }  # fmt: skip
        cases[name] = {
            "data": str(tmp / f"{name}_data.npz"), "inference": str(tmp / f"{name}.onnx"),
            "training": str(tmp / f"{name}_train.onnx"), "input_names": model.input_names,
            "batch_inputs": meta["inputs"], "results": meta["outputs"], "steps": STEPS,
            "weights": weights, "out": str(tmp / f"{name}_ort.npz"),
        }  # fmt: skip
    (tmp / "cases.json").write_text(json.dumps(cases))
    (tmp / "runner.py").write_text(RUNNER)
    subprocess.run([sys.executable, str(tmp / "runner.py"), str(tmp / "cases.json")], check=True, cwd=tmp)
    return {name: (expected[name], np.load(cases[name]["out"])) for name in BUILDERS}


@pytest.mark.parametrize("name", list(BUILDERS))
def test_exported_inference_serves_in_plain_onnxruntime_at_another_batch_size(round_trip, name):
    expected, got = round_trip[name]
    for i, want in enumerate(expected["predict"]):
        assert got[f"predict_{i}"].shape[0] == PREDICT_BATCH
        np.testing.assert_allclose(got[f"predict_{i}"], want, rtol=1e-6, atol=1e-7)
    proto = expected["inference_proto"]
    onnx.checker.check_model(proto)
    assert all(n.domain in ("", "ai.onnx") for n in proto.graph.node)
    assert all(vi.type.tensor_type.shape.dim[0].dim_param == "batch" for vi in proto.graph.input)


@pytest.mark.parametrize("name", list(BUILDERS))
def test_exported_train_step_continues_training_like_kgraph(round_trip, name):
    expected, got = round_trip[name]
    for step, want in enumerate(expected["steps"]):
        np.testing.assert_allclose(got[f"step{step}"], want, rtol=1e-6, atol=1e-7, err_msg=f"step {step}")
    for weight, want in expected["weights"].items():
        np.testing.assert_allclose(got[f"w_{weight}"], want, rtol=1e-6, atol=1e-7, err_msg=weight)
    meta = expected["training_meta"]
    assert meta["outputs"] == expected["metrics_names"]
    proto = expected["train_proto"]
    onnx.checker.check_model(proto)
    initializers = {t.name for t in proto.graph.initializer}
    for entry in meta["state"]:
        assert entry["name"] in initializers  # overridable: an input with a default value
    assert all(n.domain in ("", "ai.onnx") for n in proto.graph.node)


def _small_model():
    np.random.seed(1)
    model = Sequential([Dense(8, activation="relu", input_dim=6), Dense(3, activation="softmax")])
    model.compile("adam", "categorical_crossentropy", metrics=["acc"])
    return model


def test_metadata_holds_the_keras_config_and_kgraph_version():
    model = _small_model()
    meta = {p.key: p.value for p in model.to_onnx().metadata_props}
    assert meta["kgraph_version"] == kgraph.__version__ and meta["keras_class"] == "Sequential"
    clone = model_from_json(meta["keras_config"])
    assert [type(la).__name__ for la in clone.layers] == ["Dense", "Dense"]
    assert clone.get_config() == model.get_config()


def test_state_initializers_can_be_overridden_by_feeds(tmp_path):
    import onnxruntime as ort

    model = _small_model()
    x, y = np.random.rand(4, 6).astype("float32"), np.eye(3, dtype="float32")[[0, 1, 2, 0]]
    model.export(str(tmp_path / "t.onnx"), training=True)
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    sess = ort.InferenceSession(str(tmp_path / "t.onnx"), opts, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    feeds = {"dense_1_input": x, "dense_2_target": y, "dense_2_sample_weights": np.ones(4, "float32")}
    frozen = dict(zip(names, sess.run(None, {**feeds, "optimizer/lr": np.array(0.0, "float32")})))
    np.testing.assert_array_equal(frozen["dense_1/kernel__new"], model.layers[0].get_weights()[0])
    moved = dict(zip(names, sess.run(None, feeds)))
    assert not np.array_equal(moved["dense_1/kernel__new"], model.layers[0].get_weights()[0])
    assert frozen["optimizer/iterations__new"] == 1


def test_large_models_are_written_with_external_data(tmp_path):
    import onnxruntime as ort

    model = Sequential([Dense(300, activation="relu", input_dim=6), Dense(3)])
    path = tmp_path / "big.onnx"
    export_module.export(model, str(path), max_bytes=100)  # as if the model exceeded 2 GB
    assert (tmp_path / "big.onnx.data").exists()
    assert path.stat().st_size < (tmp_path / "big.onnx.data").stat().st_size
    onnx.checker.check_model(str(path))
    x = np.random.rand(3, 6).astype("float32")
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(sess.run(None, {"dense_1_input": x})[0], model.predict(x), rtol=1e-6)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.onnx", "big.onnx.data"]


def test_opset_choice_and_errors(tmp_path):
    import onnxruntime as ort

    model = _small_model()
    assert model.to_onnx().opset_import[0].version == 18
    model.export(str(tmp_path / "m17.onnx"), opset=17)
    proto = onnx.load(str(tmp_path / "m17.onnx"))
    assert proto.opset_import[0].version == 17
    x = np.random.rand(2, 6).astype("float32")
    sess = ort.InferenceSession(str(tmp_path / "m17.onnx"), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(sess.run(None, {"dense_1_input": x})[0], model.predict(x), rtol=1e-6)
    with pytest.raises(ValueError, match="opset must be an integer"):
        model.to_onnx(opset="18")
    with pytest.raises(ValueError, match="Unknown export format 'tflite'"):
        model.export(str(tmp_path / "m.tflite"), format="tflite")
    uncompiled = Sequential([Dense(2, input_dim=3)])
    with pytest.raises(RuntimeError, match="compile your model before exporting the training step"):
        uncompiled.export(str(tmp_path / "t.onnx"), training=True)


def test_example_trains_with_onnxruntime_only(tmp_path):
    model = _small_model()
    rng = np.random.RandomState(0)
    x = rng.rand(40, 6).astype("float32")
    y = np.eye(3, dtype="float32")[rng.randint(0, 3, 40)]
    model.export(str(tmp_path / "step.onnx"), training=True)
    np.savez(tmp_path / "data.npz", dense_1_input=x, dense_2_target=y)
    run = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "train_with_onnxruntime_only.py"), str(tmp_path / "step.onnx"),
         "--data", str(tmp_path / "data.npz"), "--epochs", "2", "--batch-size", "10",
         "--save", str(tmp_path / "weights.npz")],
        check=True, capture_output=True, text=True, cwd=tmp_path,
    )  # fmt: skip
    history = model.fit(x, y, epochs=2, batch_size=10, shuffle=False, verbose=0).history
    lines = [line for line in run.stdout.splitlines() if line.startswith("epoch")]
    assert len(lines) == 2
    for line, loss, acc in zip(lines, history["loss"], history["acc"]):
        values = dict(item.split("=") for item in line.split()[2:])
        np.testing.assert_allclose(float(values["loss"]), loss, rtol=1e-5)
        np.testing.assert_allclose(float(values["acc"]), acc, rtol=1e-5)
    saved = np.load(tmp_path / "weights.npz")
    np.testing.assert_allclose(saved["dense_1/kernel"], model.layers[0].get_weights()[0], rtol=1e-6, atol=1e-7)


def test_missing_directory_is_named(tmp_path):
    model = _small_model()
    for write in (lambda p: model.export(p), model.save, model.save_weights):
        target = str(tmp_path / "missing" / "m.out")
        with pytest.raises(FileNotFoundError, match=r"Cannot write .*m\.out: no such directory .*missing$"):
            write(target)
    assert list(tmp_path.iterdir()) == []
