"""Golden model configurations written by real Keras (tf-keras 2.21 and Keras 3).

What it makes
-------------
One ``tests/fixtures/configs/<case>.json`` per case, each holding:

* ``model``: the parsed ``model.to_json()`` exactly as the Keras that made it wrote it;
* ``weights``: ``{layer name: [array, ...]}`` (the top-level layers of the model, in each
  layer's ``get_weights()`` order; a nested model's entry is its ``get_weights()``);
* ``inputs`` and ``outputs``: a few float32 samples per model input and the Keras
  ``predict`` result per model output.

Cases ``tfk_*`` come from tf-keras 2.x (``tf_keras``): Sequential configs as
``{'name', 'layers'}`` with an InputLayer first, functional models as ``Functional``,
initializers as ``{'module', 'class_name': 'GlorotUniform', 'config', 'registered_name'}``,
``build_config`` entries, InputLayer ``ragged``/``optional`` flags. Cases ``k3_*`` come from
Keras 3: InputLayer ``batch_shape``, ``dtype`` as a ``DTypePolicy`` dict, inbound nodes as
``{'args': [keras tensors], 'kwargs'}``, a flat ``input_layers`` for one input. Cases
``keras205_*`` are in the Keras 2.0.5 dialect: ``doc_example`` is the 2.0.5 ``to_json()``
quoted in KERAS_API.md section 7.4, the others are tf-keras cases rewritten the way 2.0.5's
``get_config`` writes them (Sequential as a list, ``Model``, ``VarianceScaling``
initializers, 4-element inbound-node entries, no module keys). Every ``keras205_*`` config is
loaded back with ``tf_keras.models.model_from_json``; the script exits non-zero unless the
reloaded model reproduces the recorded predictions, so the rewriting is checked by Keras
itself. ``keras205_doc_example`` holds the config only (its 784 x 64 kernel would make the
file ~1 MB), so it is checked for loading, not for predictions.

How to run
----------
TensorFlow is needed only here, never by the test suite::

    cd <repo root> && /work/venv-tf/bin/python tools/make_config_fixtures.py

Each case is a few KB (a handful of units per layer, 4 samples).
"""

import copy
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ["CUDA_VISIBLE_DEVICES"] = ""
os.environ["KERAS_BACKEND"] = "tensorflow"

import keras as k3  # noqa: E402
import numpy as np  # noqa: E402
import tf_keras as tfk  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_DIR = os.path.join(ROOT, "tests", "fixtures", "configs")
N_SAMPLES = 4


# -- tf-keras models ------------------------------------------------------------------------
def tfk_sequential_mlp():
    L = tfk.layers
    return tfk.Sequential(
        [
            L.Dense(5, activation="relu", input_shape=(4,),
                    kernel_regularizer=tfk.regularizers.l2(0.01),
                    kernel_constraint=tfk.constraints.MaxNorm(2.0),
                    bias_initializer=tfk.initializers.RandomNormal(stddev=0.1, seed=1)),
            L.Dropout(0.3, seed=2),
            L.Dense(3, activation="softmax", kernel_initializer="he_normal",
                    bias_regularizer=tfk.regularizers.L1L2(l1=0.01, l2=0.02),
                    bias_constraint=tfk.constraints.NonNeg()),
        ],
        name="mlp",
    )  # fmt: skip


def tfk_sequential_input_first():
    L = tfk.layers
    return tfk.Sequential(
        [
            tfk.Input(shape=(2, 3), name="pixels"),
            L.Flatten(),
            L.Dense(4, activation="tanh", kernel_initializer="lecun_uniform"),
            L.Activation("sigmoid"),
            L.Dense(2, use_bias=False,
                    kernel_initializer=tfk.initializers.TruncatedNormal(stddev=0.5, seed=3)),
        ]
    )  # fmt: skip


def tfk_functional_shared():
    """A shared layer whose second call needs a layer listed after it (deferred nodes)."""
    L = tfk.layers
    x = tfk.Input(shape=(3,), name="x")
    shared = L.Dense(3, activation="tanh", name="shared")
    h = shared(x)
    g = L.Dense(3, activation="relu", name="mid")(h)
    out = shared(g)
    head = L.Dense(2, name="head")(L.Dropout(0.5)(h))
    return tfk.Model(x, [out, head], name="shared_net")


def tfk_functional_two_inputs():
    L = tfk.layers
    a = tfk.Input(shape=(3,), name="a")
    b = tfk.Input(shape=(2, 2), name="b")
    shared = L.Dense(3, activation="sigmoid", name="shared")
    fb = L.Dense(3, name="from_b")(L.Flatten(name="flat")(b))
    ya = shared(a)
    yb = L.Activation("softplus", name="act")(shared(fb))
    return tfk.Model([a, b], [ya, yb], name="two_inputs")


def tfk_functional_nested():
    """A Sequential and a functional model used as layers, the second one twice."""
    L = tfk.layers
    inner_seq = tfk.Sequential(
        [L.Dense(4, activation="relu", input_shape=(3,)), L.Dense(3)], name="inner_seq"
    )
    i = tfk.Input(shape=(3,), name="inner_in")
    inner_fn = tfk.Model(i, L.Dense(3, activation="tanh", name="f_dense")(i), name="inner_fn")
    x = tfk.Input(shape=(3,), name="x")
    z = inner_fn(inner_seq(x))
    w = inner_fn(x)
    return tfk.Model(x, [z, w], name="outer")


def tfk_functional_merge():
    L = tfk.layers
    a = tfk.Input(shape=(3,), name="a")
    b = tfk.Input(shape=(3,), name="b")
    s = L.Add(name="sum")([L.Dense(3, name="da")(a), b])
    c = L.Concatenate(name="cat")([s, a])
    return tfk.Model([a, b], L.Dense(2, activation="softmax", name="out")(c), name="merge_net")


# -- Keras 3 models -------------------------------------------------------------------------
def k3_sequential():
    L = k3.layers
    return k3.Sequential(
        [k3.Input(shape=(4,)), L.Dense(5, activation="relu"), L.Dropout(0.2),
         L.Dense(2, activation="softmax")],
        name="k3_seq",
    )  # fmt: skip


def k3_functional_shared():
    L = k3.layers
    x = k3.Input(shape=(3,), name="x")
    shared = L.Dense(3, activation="tanh", name="shared")
    h = shared(x)
    out = shared(L.Dense(3, activation="relu", name="mid")(h))
    return k3.Model(x, [out, L.Dense(2, name="head")(L.Dropout(0.1)(h))], name="k3_shared")


def k3_functional_merge():
    L = k3.layers
    a = k3.Input(shape=(3,), name="a")
    b = k3.Input(shape=(3,), name="b")
    s = L.Add(name="sum")([L.Dense(3, name="da")(a), b])
    c = L.Concatenate(name="cat")([s, a])
    return k3.Model([a, b], L.Dense(2, name="out")(c), name="k3_merge")


# -- Keras 2.0.5 dialect --------------------------------------------------------------------
# KERAS_API.md section 7.4, verbatim: what Keras 2.0.5's `to_json()` writes.
KERAS205_DOC_EXAMPLE = {
    "class_name": "Model", "keras_version": "2.0.5", "backend": "tensorflow",
    "config": {"name": "model_1",
     "layers": [
      {"name": "input_1", "class_name": "InputLayer",
       "config": {"batch_input_shape": [None, 784], "dtype": "float32", "sparse": False, "name": "input_1"},
       "inbound_nodes": []},
      {"name": "dense_1", "class_name": "Dense",
       "config": {"name": "dense_1", "trainable": True, "units": 64, "activation": "relu", "use_bias": True,
                  "kernel_initializer": {"class_name": "VarianceScaling", "config": {"scale": 1.0, "mode": "fan_avg", "distribution": "uniform", "seed": None}},
                  "bias_initializer": {"class_name": "Zeros", "config": {}},
                  "kernel_regularizer": None, "bias_regularizer": None, "activity_regularizer": None,
                  "kernel_constraint": None, "bias_constraint": None},
       "inbound_nodes": [[["input_1", 0, 0, {}]]]}],
     "input_layers": [["input_1", 0, 0]],
     "output_layers": [["dense_1", 0, 0]]}}  # fmt: skip

_VARIANCE_SCALING = {
    "GlorotUniform": (1.0, "fan_avg", "uniform"),
    "GlorotNormal": (1.0, "fan_avg", "normal"),
    "HeUniform": (2.0, "fan_in", "uniform"),
    "HeNormal": (2.0, "fan_in", "normal"),
    "LecunUniform": (1.0, "fan_in", "uniform"),
}


def _to_205_object(obj):
    """An initializer/regularizer/constraint as 2.0.5 writes it."""
    if not isinstance(obj, dict):
        return obj
    name, cfg = obj["class_name"], dict(obj["config"])
    if name in _VARIANCE_SCALING:
        scale, mode, dist = _VARIANCE_SCALING[name]
        return {"class_name": "VarianceScaling",
                "config": {"scale": scale, "mode": mode, "distribution": dist, "seed": cfg["seed"]}}  # fmt: skip
    if name == "L2":
        return {"class_name": "L1L2", "config": {"l1": 0.0, "l2": cfg["l2"]}}
    return {"class_name": name, "config": cfg}


def _to_205_layer(class_name, cfg):
    cfg = {k: v for k, v in cfg.items() if k not in ("ragged", "optional")}
    if "batch_input_shape" not in cfg:
        cfg.pop("dtype", None)  # 2.0.5 records a dtype only with an input shape
    for key in list(cfg):
        if key.endswith(("_initializer", "_regularizer", "_constraint")):
            cfg[key] = _to_205_object(cfg[key])
    if class_name == "Dropout":
        cfg = {k: v for k, v in cfg.items() if k not in ("noise_shape", "seed")}
    if class_name == "Flatten":
        cfg.pop("data_format")
    if class_name in ("Functional", "Model", "Sequential"):
        return _to_205_model(class_name, cfg)
    return class_name, cfg


def _to_205_model(class_name, cfg):
    if class_name == "Sequential":
        entries = cfg["layers"]
        first = entries[0]
        out = [_to_205_entry(e) for e in entries if e["class_name"] != "InputLayer"]
        if first["class_name"] == "InputLayer":
            out[0]["config"].setdefault("batch_input_shape", first["config"]["batch_input_shape"])
            out[0]["config"].setdefault("dtype", first["config"]["dtype"])
        return "Sequential", out
    layers = []
    for e in cfg["layers"]:
        entry = _to_205_entry(e)
        layers.append({"name": e["name"], "class_name": entry["class_name"],
                       "config": entry["config"], "inbound_nodes": e["inbound_nodes"]})  # fmt: skip
    return "Model", {"name": cfg["name"], "layers": layers,
                     "input_layers": cfg["input_layers"], "output_layers": cfg["output_layers"]}  # fmt: skip


def _to_205_entry(entry):
    class_name, cfg = _to_205_layer(entry["class_name"], copy.deepcopy(entry["config"]))
    return {"class_name": class_name, "config": cfg}


def to_keras205(model_json):
    class_name, cfg = _to_205_layer(model_json["class_name"], copy.deepcopy(model_json["config"]))
    return {"class_name": class_name, "config": cfg, "keras_version": "2.0.5",
            "backend": "tensorflow"}  # fmt: skip


# -- recording ------------------------------------------------------------------------------
def _inputs(model, rng):
    shapes = [tuple(t.shape) for t in model.inputs]
    return [rng.uniform(-1.0, 1.0, (N_SAMPLES,) + s[1:]).astype("float32") for s in shapes]


def _randomize(model, rng):
    """Non-trivial biases too, so a bias that failed to load would show."""
    for layer in model.layers:
        ws = layer.get_weights()
        if ws:
            layer.set_weights([rng.uniform(-0.5, 0.5, w.shape).astype("float32") for w in ws])


def _outputs(model, xs):
    ys = model.predict(xs if len(xs) > 1 else xs[0], verbose=0)
    return [np.asarray(y) for y in (ys if isinstance(ys, list) else [ys])]


def record(name, model, model_json, source, rng, note):
    xs = _inputs(model, rng)
    ys = _outputs(model, xs)
    weights = {la.name: [w.tolist() for w in la.get_weights()] for la in model.layers}
    case = {
        "source": source,
        "note": note,
        "model": model_json,
        "weights": {k: v for k, v in weights.items() if v},
        "inputs": [x.tolist() for x in xs],
        "outputs": [y.tolist() for y in ys],
    }
    with open(os.path.join(OUT_DIR, f"{name}.json"), "w") as f:
        json.dump(case, f, separators=(",", ":"))
        f.write("\n")
    return case


def check_reload_205(case):
    """tf-keras must load the 2.0.5 dialect and give the recorded predictions."""
    model = tfk.models.model_from_json(json.dumps(case["model"]))
    if "weights" not in case:
        return
    by_name = {la.name: la for la in model.layers}
    # A Sequential nested in 2.0.5's list form carries no name, so Keras names it anew.
    unnamed = [la for la in model.layers if la.name not in case["weights"] and la.weights]
    for name, ws in case["weights"].items():
        layer = by_name.get(name) or unnamed.pop(0)
        layer.set_weights([np.asarray(w, "float32") for w in ws])
    xs = [np.asarray(x, "float32") for x in case["inputs"]]
    for got, want in zip(_outputs(model, xs), case["outputs"], strict=True):
        np.testing.assert_allclose(got, np.asarray(want, "float32"), rtol=1e-6, atol=1e-7)


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    rng = np.random.RandomState(20170612)
    tfk_source = f"tf_keras {tfk.__version__}"
    recorded = {}
    for fn in (tfk_sequential_mlp, tfk_sequential_input_first, tfk_functional_shared,
               tfk_functional_two_inputs, tfk_functional_nested, tfk_functional_merge):  # fmt: skip
        tfk.backend.clear_session()
        model = fn()
        _randomize(model, rng)
        model_json = json.loads(model.to_json())
        recorded[fn.__name__] = record(fn.__name__, model, model_json, tfk_source, rng,
                                       fn.__doc__ or "")  # fmt: skip
    for fn in (k3_sequential, k3_functional_shared, k3_functional_merge):
        k3.backend.clear_session()
        model = fn()
        _randomize(model, rng)
        record(fn.__name__, model, json.loads(model.to_json()), f"keras {k3.__version__}", rng,
               fn.__doc__ or "")  # fmt: skip

    failures = []
    # The 784 x 64 example is checked for structure only: its weights would be ~1 MB.
    doc_case = {"source": "Keras 2.0.5 to_json() (KERAS_API.md 7.4)", "note": "",
                "model": KERAS205_DOC_EXAMPLE}  # fmt: skip
    with open(os.path.join(OUT_DIR, "keras205_doc_example.json"), "w") as f:
        json.dump(doc_case, f, indent=1)
        f.write("\n")
    cases = [doc_case]
    for src in ("tfk_sequential_mlp", "tfk_functional_shared", "tfk_functional_nested"):
        case = dict(recorded[src])
        case["model"] = to_keras205(case["model"])
        case["source"] = f"{src} rewritten in the Keras 2.0.5 dialect"
        name = "keras205_" + src[len("tfk_") :]
        with open(os.path.join(OUT_DIR, f"{name}.json"), "w") as f:
            json.dump(case, f, separators=(",", ":"))
            f.write("\n")
        cases.append(case)
    for case in cases:
        try:
            check_reload_205(case)
        except AssertionError as e:  # pragma: no cover - a failed self-check
            failures.append(f"{case['source']}: {e}")
    if failures:
        print("\n".join(failures))
        sys.exit(1)
    print(f"wrote {len(os.listdir(OUT_DIR))} files to {OUT_DIR}")


if __name__ == "__main__":
    main()
