"""Golden fixtures for the merge layers and the weightless core layers, made by real Keras
(tf-keras 2.21).

What it makes
-------------
``tests/fixtures/layers_cases.json`` lists layer cases in Keras 2.0.5 terms (class name,
constructor arguments, input shapes, whether each input first passes through
``Masking(0.)``), with tf-keras's ``compute_output_shape`` and ``get_config`` for each.
``tests/fixtures/layers_values.npz`` holds, per case ``<name>``: the inputs
``<name>__x<i>``, a fixed random projection ``<name>__w``, the output ``<name>__y``, the
output mask ``<name>__mask`` (when there is one), and the gradients ``<name>__g<i>`` of
``sum(output * w)`` (plus the layer's activity-regularization loss) with respect to each
input. ``layers_models.json`` / ``layers_models.npz`` describe two small models (one
functional with every merge layer, one Sequential with the core layers) and hold their
initial weights, one batch, ``predict`` before training, and the loss and weights after
one SGD ``train_on_batch``.

How to run
----------
TensorFlow is needed only here, never by the test suite::

    cd <repo root> && /work/venv-tf/bin/python tools/make_layer_fixtures.py

The run is deterministic (fixed seeds, CPU only).

Keras 2.0.5 -> tf-keras mappings applied
----------------------------------------
* tf-keras divides a layer's activity-regularization loss by the batch size; 2.0.5 does
  not. The recorded regularization losses (and the gradients and training steps that
  include them) are multiplied back by the batch size (for the model, the tf-keras layer
  gets ``l1, l2`` times the batch size), so they are 2.0.5's values.
* ``Lambda`` functions are written twice, with the same names: here with
  ``tf_keras.backend``, in the test with ``kgraph.backend``. The JSON names them.
* Everything else (the merge layers' broadcasting and mask rules, ``batch_dot``'s output
  shape, ``l2_normalize``'s epsilon 1e-12, Reshape/Permute/RepeatVector/Masking) is the
  same in 2.0.5 and tf-keras for the cases recorded here.
"""

import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["CUDA_VISIBLE_DEVICES"] = ""

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402
from tf_keras import backend as K  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_DIR = os.path.join(ROOT, "tests", "fixtures")

# Lambda functions by name; tests/test_merge_core_layers.py has the kgraph twins.
FUNCTIONS = {
    "square_plus_one": lambda x: K.square(x) + 1.0,
    "affine": lambda x, a, b: x * a + b,
    "scale_by_sum": lambda xs: xs[0] * K.sum(xs[1], axis=-1, keepdims=True),
    "first_two": lambda x: x[:, :2],
    "mirror": lambda x: K.concatenate([x, -x]),
    "double_last": lambda s: tuple(s[:-1]) + (2 * s[-1],),
    "sum_time": lambda x: K.sum(x, axis=1),
    "masked_scale": lambda x, mask=None: (
        x * 2.0 if mask is None else x * K.expand_dims(K.cast(mask, "float32")) * 2.0
    ),
    "sum_positive": lambda inputs, mask: K.greater(K.sum(inputs, axis=-1), 0.0),
}


def case(name, layer, inputs, args=None, masking=None):
    return {
        "name": name,
        "layer": layer,
        "args": args or {},
        "inputs": [list(s) for s in inputs],
        "masking": masking or [False] * len(inputs),
    }


CASES = [
    case("add_two", "Add", [(4, 3), (4, 3)]),
    case("add_broadcast", "Add", [(4, 5, 3), (4, 3), (4, 1, 3)]),
    case("add_masked", "Add", [(4, 5, 3), (4, 5, 3)], masking=[True, False]),
    case("multiply_three", "Multiply", [(4, 2, 3), (4, 2, 3), (4, 2, 3)]),
    case("multiply_broadcast", "Multiply", [(4, 1), (4, 3)]),
    case("average_two", "Average", [(4, 6), (4, 6)]),
    case(
        "average_masked", "Average", [(4, 5, 3), (4, 5, 3), (4, 5, 3)], masking=[True, True, False]
    ),
    case("maximum_two", "Maximum", [(4, 6), (4, 6)]),
    case("maximum_three", "Maximum", [(4, 2, 3), (4, 2, 3), (4, 3)]),
    case("concatenate_last", "Concatenate", [(4, 2), (4, 3)]),
    case("concatenate_axis1", "Concatenate", [(4, 2, 3), (4, 5, 3)], {"axis": 1}),
    case("concatenate_three", "Concatenate", [(4, 2, 3), (4, 1, 3), (4, 4, 3)], {"axis": -2}),
    case(
        "concatenate_masked_features", "Concatenate", [(4, 5, 2), (4, 5, 3)], masking=[True, False]
    ),
    case(
        "concatenate_masked_time",
        "Concatenate",
        [(4, 3, 2), (4, 4, 2)],
        {"axis": 1},
        masking=[True, True],
    ),
    case("dot_vectors", "Dot", [(4, 5), (4, 5)], {"axes": 1}),
    case("dot_cosine", "Dot", [(4, 5), (4, 5)], {"axes": 1, "normalize": True}),
    case("dot_last_last", "Dot", [(4, 3, 5), (4, 2, 5)], {"axes": [2, 2]}),
    case("dot_1_2", "Dot", [(4, 5, 3), (4, 2, 5)], {"axes": [1, 2]}),
    case("dot_matrix_vector", "Dot", [(4, 3, 5), (4, 5)], {"axes": -1}),
    case("dot_vector_matrix", "Dot", [(4, 5), (4, 5, 3)], {"axes": [1, 1]}),
    case("dot_rank4", "Dot", [(2, 3, 4, 5), (2, 6, 5)], {"axes": -1}),
    case("dot_cosine_3d", "Dot", [(4, 3, 5), (4, 2, 5)], {"axes": [2, 2], "normalize": True}),
    case("dot_masked", "Dot", [(4, 3, 5), (4, 2, 5)], {"axes": [2, 2]}, masking=[True, False]),
    case("reshape_matrix", "Reshape", [(4, 6)], {"target_shape": [2, 3]}),
    case("reshape_infer", "Reshape", [(4, 2, 6)], {"target_shape": [3, -1]}),
    case("reshape_3d", "Reshape", [(4, 2, 3, 4)], {"target_shape": [4, 1, 6]}),
    case("permute_swap", "Permute", [(4, 3, 5)], {"dims": [2, 1]}),
    case("permute_cycle", "Permute", [(2, 3, 4, 5)], {"dims": [3, 1, 2]}),
    case("repeat_vector", "RepeatVector", [(4, 5)], {"n": 3}),
    case("activity_l1_l2", "ActivityRegularization", [(4, 6)], {"l1": 0.01, "l2": 0.02}),
    case("activity_l2", "ActivityRegularization", [(4, 3, 2)], {"l2": 0.5}),
    case("masking_zero", "Masking", [(4, 5, 3)], {"mask_value": 0.0}),
    case("masking_value", "Masking", [(4, 5, 3)], {"mask_value": 0.5}),
    case("lambda_square", "Lambda", [(4, 3)], {"function": "square_plus_one"}),
    case(
        "lambda_arguments",
        "Lambda",
        [(4, 3)],
        {"function": "affine", "arguments": {"a": 2.0, "b": -0.5}},
    ),
    case("lambda_list", "Lambda", [(4, 3), (4, 2)], {"function": "scale_by_sum"}),
    case("lambda_output_tuple", "Lambda", [(4, 5)], {"function": "first_two", "output_shape": [2]}),
    case(
        "lambda_output_function",
        "Lambda",
        [(4, 2, 3)],
        {"function": "mirror", "output_shape": "double_last"},
    ),
    case(
        "lambda_mask",
        "Lambda",
        [(4, 5, 3)],
        {"function": "masked_scale", "mask": "sum_positive"},
        masking=[True],
    ),
]


def make_inputs(spec, rng):
    xs = []
    for shape, masked in zip(spec["inputs"], spec["masking"], strict=True):
        x = rng.uniform(-1.0, 1.0, size=shape).astype(np.float32)
        if masked:
            # Zero whole timesteps (every feature), a different set per sample.
            steps = rng.uniform(size=shape[:-1]) < 0.4
            x[steps] = 0.0
        xs.append(x)
    mask_value = spec["args"].get("mask_value")
    if spec["layer"] == "Masking":
        x = xs[0]
        steps = rng.uniform(size=x.shape[:-1]) < 0.4
        x[steps] = mask_value
    return xs


def make_layer(spec, scale_reg=1.0):
    args = dict(spec["args"])
    cls = getattr(keras.layers, spec["layer"])
    if spec["layer"] == "Lambda":
        args["function"] = FUNCTIONS[args["function"]]
        if isinstance(args.get("output_shape"), str):
            args["output_shape"] = FUNCTIONS[args["output_shape"]]
        if "mask" in args:
            args["mask"] = FUNCTIONS[args["mask"]]
    if spec["layer"] == "ActivityRegularization":
        args = {k: v * scale_reg for k, v in args.items()}
    return cls(**args)


def run_case(spec, seed):
    rng = np.random.RandomState(seed)
    xs = make_inputs(spec, rng)
    layer = make_layer(spec)
    batch = xs[0].shape[0]
    tensors = [tf.constant(x) for x in xs]
    with tf.GradientTape() as tape:
        tape.watch(tensors)
        ins = [
            keras.layers.Masking(0.0)(t) if m else t
            for t, m in zip(tensors, spec["masking"], strict=True)
        ]
        y = layer(ins if len(ins) > 1 else ins[0])
        w = tf.constant(rng.uniform(-1.0, 1.0, size=y.shape).astype(np.float32))
        reg = tf.add_n(layer.losses) * batch if layer.losses else tf.constant(0.0)
        loss = tf.reduce_sum(y * w) + reg
    grads = tape.gradient(loss, tensors)
    arrays = {f"x{i}": x for i, x in enumerate(xs)}
    arrays.update({f"g{i}": g.numpy() for i, g in enumerate(grads)})
    arrays["w"] = w.numpy()
    arrays["y"] = y.numpy()
    mask = getattr(y, "_keras_mask", None)
    if mask is not None:
        arrays["mask"] = mask.numpy()
    shapes = [(None,) + tuple(s[1:]) for s in spec["inputs"]]
    out_shape = layer.compute_output_shape(shapes if len(shapes) > 1 else shapes[0])
    config = layer.get_config()
    record = dict(spec)
    record["output_shape"] = list(tf.TensorShape(out_shape).as_list())
    record["config"] = json.loads(json.dumps(config, default=_jsonable))
    record["regularization"] = float(reg.numpy())
    record["has_mask"] = mask is not None
    return record, arrays


def _jsonable(obj):
    if isinstance(obj, tuple):
        return list(obj)
    if isinstance(obj, bytes):
        return obj.decode("ascii")
    raise TypeError(repr(obj))


# -- whole models: one SGD step -------------------------------------------------------------
def merge_model(keras_mod):
    L = keras_mod.layers
    a, b = L.Input(shape=(6,), name="in_a"), L.Input(shape=(4,), name="in_b")
    da = L.Dense(4, activation="tanh", name="dense_a")(a)
    db = L.Dense(4, activation="tanh", name="dense_b")(b)
    merged = L.concatenate(
        [
            L.add([da, db]),
            L.multiply([da, db]),
            L.maximum([da, db]),
            L.average([da, db]),
            L.dot([da, db], axes=1, normalize=True),
        ],
        name="concat",
    )
    out = L.Dense(3, name="dense_out")(merged)
    return keras_mod.models.Model(inputs=[a, b], outputs=out)


def core_model(keras_mod, l2):
    L = keras_mod.layers
    return keras_mod.models.Sequential(
        [
            L.Dense(12, activation="tanh", input_shape=(6,), name="dense_in"),
            L.Reshape((3, 4), name="reshape_a"),
            L.Permute((2, 1), name="permute"),
            L.Reshape((12,), name="reshape_b"),
            L.RepeatVector(2, name="repeat"),
            L.Lambda(FUNCTIONS["sum_time"], name="sum_time"),
            L.ActivityRegularization(l2=l2, name="act_reg"),
            L.Dense(3, name="dense_out"),
        ]
    )


MODELS = {
    "merge_model": {"inputs": [[8, 6], [8, 4]], "lr": 0.1, "l2": 0.0},
    "core_model": {"inputs": [[8, 6]], "lr": 0.1, "l2": 0.01},
}


def run_model(name, spec, seed):
    keras.utils.set_random_seed(seed)
    rng = np.random.RandomState(seed)
    batch = spec["inputs"][0][0]
    if name == "merge_model":
        model = merge_model(keras)
    else:
        model = core_model(keras, spec["l2"] * batch)
    xs = [rng.uniform(-1.0, 1.0, size=s).astype(np.float32) for s in spec["inputs"]]
    y = rng.uniform(-1.0, 1.0, size=(batch, 3)).astype(np.float32)
    arrays = {f"x{i}": x for i, x in enumerate(xs)}
    arrays["y"] = y
    weighted = [la for la in model.layers if la.weights]
    for la in weighted:
        for i, w in enumerate(la.get_weights()):
            arrays[f"init__{la.name}__{i}"] = w
    arrays["predict"] = model.predict(xs if len(xs) > 1 else xs[0], verbose=0)
    model.compile(keras.optimizers.legacy.SGD(learning_rate=spec["lr"]), "mean_squared_error")
    loss = model.train_on_batch(xs if len(xs) > 1 else xs[0], y)
    for la in weighted:
        for i, w in enumerate(la.get_weights()):
            arrays[f"step__{la.name}__{i}"] = w
    record = dict(spec)
    record["loss"] = float(loss)
    record["weights"] = {la.name: len(la.weights) for la in weighted}
    return record, arrays


def main():
    tf.config.experimental.enable_op_determinism()
    # One thread: reductions in the training step then sum in one order, bit for bit.
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    cases, values = [], {}
    for k, spec in enumerate(CASES):
        record, arrays = run_case(spec, 1000 + k)
        cases.append(record)
        values.update({f"{spec['name']}__{key}": v for key, v in arrays.items()})
    models, model_values = {}, {}
    for k, (name, spec) in enumerate(MODELS.items()):
        record, arrays = run_model(name, spec, 2000 + k)
        models[name] = record
        model_values.update({f"{name}__{key}": v for key, v in arrays.items()})
    with open(os.path.join(OUT_DIR, "layers_cases.json"), "w") as f:
        json.dump(cases, f, indent=1)
    with open(os.path.join(OUT_DIR, "layers_models.json"), "w") as f:
        json.dump(models, f, indent=1)
    np.savez_compressed(os.path.join(OUT_DIR, "layers_values.npz"), **values)
    np.savez_compressed(os.path.join(OUT_DIR, "layers_models.npz"), **model_values)
    print(f"wrote {len(cases)} layer cases and {len(models)} models")


if __name__ == "__main__":
    main()
