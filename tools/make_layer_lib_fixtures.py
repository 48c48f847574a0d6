"""Golden fixtures for the layer library (embeddings, normalization, noise, advanced
activations, locally-connected), made by real Keras (tf-keras 2.21).

What it makes
-------------
``tests/fixtures/lib_cases.json`` lists each case in Keras 2.0.5 terms (class, constructor
arguments, input shape and dtype, weight names/shapes/trainability, the scalar entries of
Keras's config), and ``tests/fixtures/lib_<case>.npz`` holds:

* ``x``: the input batch; ``w_<i>``: the weights the layer is set to (random, so that
  e.g. PReLU slopes and BatchNormalization statistics are not trivial); ``r``: a fixed
  cotangent;
* ``y``: the inference-mode output; ``gx`` and ``gw_<i>``: the gradients of
  ``sum(y * r)`` with respect to the input (float inputs only) and each trainable weight;
* with ``"training_mode"``: ``y_train``, ``gx_train``, ``gw_train_<i>``, the same in
  training mode (BatchNormalization's batch statistics);
* with ``"train_step"``: ``t`` (an mse target) and, after one ``train_on_batch`` with
  ``SGD(lr)``: ``loss``, ``after_<i>`` (every weight, moving statistics included) and
  ``y_after`` (the inference output with the new weights);
* with ``"mask"``: ``mask``, the layer's output mask.

How to run
----------
TensorFlow is needed only here, never by the test suite::

    cd <repo root> && /work/venv-tf/bin/python tools/make_layer_lib_fixtures.py

The run is deterministic (fixed seeds, CPU only). It then checks BatchNormalization's
numbers against an independent numpy transcription of Keras 2.0.5 and exits non-zero on
any disagreement.

Keras 2.0.5 -> tf-keras mappings applied
----------------------------------------
* BatchNormalization runs with ``fused=False``. tf-keras's fused kernel moves the running
  variance towards the *unbiased* batch variance (n/(n-1)); Keras 2.0.5 (TF backend,
  ``tf.nn.moments``) and tf-keras's non-fused path use the biased one. The numpy check
  confirms the recorded moving variance is ``mv * momentum + biased_var * (1 - momentum)``.
* Embedding inputs are int32 (``Input(dtype='int32')``), as 2.0.5's Embedding forces.
* LeakyReLU/ELU/ThresholdedReLU parameters are float32 in both (2.0.5 ``cast_to_floatx``).
* tf-keras's extra config keys (``seed``, ``renorm``, ...) are not recorded; the JSON keeps
  only the scalar entries that 2.0.5 also has, to compare values.
* AlphaDropout is not a 2.0.5 layer (2.0.6 added it); its case follows tf-keras.
* LocallyConnected uses ``implementation=1`` (2.0.5's only form: kernel
  ``(positions, window * channels, filters)``).
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["CUDA_VISIBLE_DEVICES"] = ""

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_DIR = os.path.join(ROOT, "tests", "fixtures")
BATCH = 6
LR = 0.1

# name -> (class, 2.0.5 kwargs, input shape, input dtype, options)
CASES = {
    "embedding": ("Embedding", {"input_dim": 12, "output_dim": 4}, (5,), "int32", {"train_step": True}),
    "embedding_mask_zero": ("Embedding", {"input_dim": 9, "output_dim": 3, "mask_zero": True, "input_length": 7},
                            (7,), "int32", {"train_step": True, "mask": True}),
    "batchnorm": ("BatchNormalization", {}, (5,), "float32", {"training_mode": True, "train_step": True}),
    "batchnorm_axis1": ("BatchNormalization", {"axis": 1, "momentum": 0.9, "epsilon": 0.01}, (3, 4, 2), "float32",
                        {"training_mode": True, "train_step": True}),
    "batchnorm_no_scale_3d": ("BatchNormalization", {"scale": False, "momentum": 0.8}, (4, 3), "float32",
                              {"training_mode": True, "train_step": True}),
    "batchnorm_no_center": ("BatchNormalization", {"center": False, "axis": -2}, (3, 2), "float32",
                            {"training_mode": True, "train_step": True}),
    "leaky_relu": ("LeakyReLU", {}, (7,), "float32", {}),
    "leaky_relu_alpha": ("LeakyReLU", {"alpha": 0.1}, (3, 4), "float32", {}),
    "prelu": ("PReLU", {}, (3, 4), "float32", {"train_step": True}),
    "prelu_shared": ("PReLU", {"shared_axes": [1, 2]}, (3, 4, 2), "float32", {"train_step": True}),
    "elu": ("ELU", {"alpha": 0.7}, (6,), "float32", {}),
    "thresholded_relu": ("ThresholdedReLU", {"theta": 0.4}, (6,), "float32", {}),
    "local1d": ("LocallyConnected1D", {"filters": 3, "kernel_size": 3, "strides": 2, "activation": "tanh"},
                (9, 4), "float32", {"train_step": True}),
    "local2d": ("LocallyConnected2D", {"filters": 2, "kernel_size": [2, 3], "strides": [2, 1],
                                       "activation": "tanh", "data_format": "channels_last"},
                (5, 6, 3), "float32", {"train_step": True}),
    "local2d_channels_first": ("LocallyConnected2D", {"filters": 2, "kernel_size": 2, "strides": [1, 2],
                                                      "data_format": "channels_first", "use_bias": True},
                               (3, 4, 5), "float32", {"train_step": True}),
    "gaussian_noise": ("GaussianNoise", {"stddev": 0.3}, (5,), "float32", {}),
    "gaussian_dropout": ("GaussianDropout", {"rate": 0.4}, (5,), "float32", {}),
    "alpha_dropout": ("AlphaDropout", {"rate": 0.2}, (5,), "float32", {}),
    "spatial_dropout1d": ("SpatialDropout1D", {"rate": 0.5}, (4, 3), "float32", {}),
    "spatial_dropout2d": ("SpatialDropout2D", {"rate": 0.5}, (3, 4, 2), "float32", {}),
    "spatial_dropout3d": ("SpatialDropout3D", {"rate": 0.5, "data_format": "channels_first"}, (2, 3, 2, 2),
                          "float32", {}),
}  # fmt: skip

TF_EXTRA = {"BatchNormalization": {"fused": False}, "LocallyConnected1D": {"implementation": 1},
            "LocallyConnected2D": {"implementation": 1}}  # fmt: skip

# The kinks of these activations: inputs are kept at least 0.05 away from them.
KINKS = {"LeakyReLU": [0.0], "PReLU": [0.0], "ELU": [0.0], "ThresholdedReLU": [0.4]}


def make_input(rng, cls, kwargs, shape, dtype):
    full = (BATCH,) + tuple(shape)
    if dtype == "int32":
        x = rng.integers(0, kwargs["input_dim"], size=full).astype(np.int32)
        x[0, :2] = 0  # padding positions for mask_zero
        return x
    x = rng.normal(size=full).astype(np.float32)
    if cls == "BatchNormalization":
        x = x * 2.0 + 1.5
    for kink in KINKS.get(cls, []):
        near = np.abs(x - kink) < 0.05
        x[near] = kink + 0.05 * np.sign(x[near] - kink + 1e-9) + 0.05 * (x[near] - kink)
    return x


def make_weights(rng, layer):
    out = []
    for w in layer.weights:
        name = w.name.split("/")[-1].split(":")[0]
        shape = tuple(w.shape)
        if name in ("gamma", "moving_variance"):
            out.append(rng.uniform(0.5, 1.5, size=shape).astype(np.float32))
        elif name == "alpha":
            out.append(rng.uniform(0.05, 0.6, size=shape).astype(np.float32))
        else:
            out.append((rng.normal(size=shape) * 0.5).astype(np.float32))
    return out


def scalar_config(config):
    """The entries of a tf-keras config that are plain JSON scalars or lists of them."""
    out = {}
    for k, v in config.items():
        if k in ("name", "trainable", "dtype", "batch_input_shape", "seed"):
            continue
        if isinstance(v, (list, tuple)) or type(v).__name__ == "ListWrapper":
            v = list(v)
            if all(isinstance(e, (int, float)) for e in v):
                out[k] = v
        elif v is None or isinstance(v, (bool, int, float, str)):
            out[k] = v
    return out


def build(name, cls, kwargs):
    return getattr(keras.layers, cls)(name=name, **kwargs, **TF_EXTRA.get(cls, {}))


def grads(layer, x, r, training):
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        if x.dtype != np.int32:
            tape.watch(xt)
        y = layer(xt, training=training)
        f = tf.reduce_sum(y * r)
    targets = ([xt] if x.dtype != np.int32 else []) + list(layer.trainable_weights)
    g = tape.gradient(f, targets)
    out = {}
    if x.dtype != np.int32:
        out["gx"] = g.pop(0).numpy()
    for i, gw in enumerate(g):
        out[f"gw_{i}"] = tf.convert_to_tensor(gw).numpy()
    return y.numpy(), out


def make_case(name, spec, seed):
    cls, kwargs, shape, dtype, opts = spec
    rng = np.random.default_rng(seed)
    keras.backend.clear_session()
    tf.random.set_seed(seed)
    inp = keras.Input(shape, dtype=dtype)
    layer = build(name, cls, kwargs)
    out = layer(inp)
    model = keras.Model(inp, out)
    x = make_input(rng, cls, kwargs, shape, dtype)
    weights = make_weights(rng, layer)
    layer.set_weights(weights)
    arrays = {"x": x}
    arrays.update({f"w_{i}": w for i, w in enumerate(weights)})
    y, g = grads(layer, x, 0.0, False)
    r = rng.normal(size=y.shape).astype(np.float32)
    arrays["r"] = r
    y, g = grads(layer, x, r, False)
    arrays["y"] = y
    arrays.update(g)
    if opts.get("training_mode"):
        y_train, g_train = grads(layer, x, r, True)
        layer.set_weights(weights)  # undo the moving-statistics update of the eager call
        arrays["y_train"] = y_train
        arrays.update(
            {
                ("gx_train" if k == "gx" else k.replace("gw_", "gw_train_")): v
                for k, v in g_train.items()
            }
        )
    if opts.get("mask"):
        arrays["mask"] = layer.compute_mask(tf.constant(x)).numpy()
    if opts.get("train_step"):
        t = rng.normal(size=y.shape).astype(np.float32)
        model.compile(keras.optimizers.legacy.SGD(learning_rate=LR), "mse")
        arrays["t"] = t
        arrays["loss"] = np.float32(model.train_on_batch(x, t))
        for i, w in enumerate(layer.get_weights()):
            arrays[f"after_{i}"] = w
        arrays["y_after"] = layer(tf.constant(x), training=False).numpy()
    entry = {
        "npz": f"lib_{name}.npz",
        "class_name": cls,
        "kwargs": kwargs,
        "input_shape": list(shape),
        "input_dtype": dtype,
        "batch": BATCH,
        "weight_names": [w.name for w in layer.weights],
        "weight_shapes": [list(w.shape) for w in layer.weights],
        "weight_trainable": [any(w is t for t in layer.trainable_weights) for w in layer.weights],
        "training_mode": bool(opts.get("training_mode")),
        "train_step": {"lr": LR} if opts.get("train_step") else None,
        "mask": bool(opts.get("mask")),
        "keras_config": scalar_config(layer.get_config()),
    }
    return entry, arrays


def check_batchnorm(entry, a):
    """Keras 2.0.5's BatchNormalization, in numpy."""
    kw = entry["kwargs"]
    x = a["x"].astype(np.float64)
    axis = kw.get("axis", -1) % x.ndim
    red = tuple(i for i in range(x.ndim) if i != axis)
    names = [n.split("/")[-1].split(":")[0] for n in entry["weight_names"]]
    w = {n: a[f"w_{i}"].astype(np.float64) for i, n in enumerate(names)}
    bshape = [1] * x.ndim
    bshape[axis] = x.shape[axis]

    def bn(mean, var):
        gamma = w.get("gamma", np.ones(x.shape[axis])).reshape(bshape)
        beta = w.get("beta", np.zeros(x.shape[axis])).reshape(bshape)
        return (x - mean.reshape(bshape)) / np.sqrt(
            var.reshape(bshape) + kw.get("epsilon", 1e-3)
        ) * gamma + beta

    np.testing.assert_allclose(
        a["y"], bn(w["moving_mean"], w["moving_variance"]), rtol=1e-5, atol=1e-5
    )
    mean, var = x.mean(axis=red), x.var(axis=red)
    np.testing.assert_allclose(a["y_train"], bn(mean, var), rtol=1e-5, atol=1e-5)
    m = kw.get("momentum", 0.99)
    i_mm, i_mv = names.index("moving_mean"), names.index("moving_variance")
    np.testing.assert_allclose(
        a[f"after_{i_mm}"], w["moving_mean"] * m + mean * (1 - m), rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(
        a[f"after_{i_mv}"], w["moving_variance"] * m + var * (1 - m), rtol=1e-5, atol=1e-6
    )


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    manifest = {}
    for k, (name, spec) in enumerate(CASES.items()):
        entry, arrays = make_case(name, spec, 1000 + k)
        np.savez_compressed(os.path.join(OUT_DIR, entry["npz"]), **arrays)
        manifest[name] = entry
        if spec[0] == "BatchNormalization":
            check_batchnorm(entry, arrays)
    with open(os.path.join(OUT_DIR, "lib_cases.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    print(f"wrote {len(manifest)} cases to {OUT_DIR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
