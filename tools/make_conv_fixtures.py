"""Golden fixtures for the convolution, pooling, padding, cropping and upsampling layers,
made by real Keras (tf-keras 2.21).

What it makes
-------------
``tests/fixtures/conv_cases.json`` lists, under ``"layers"``, each case: the layer class,
its constructor arguments in Keras 2.0.5 terms, the input shape, the output shape, and the
weight names and shapes in Keras's order. ``tests/fixtures/conv_cases.npz`` holds per case (keys
``<case>/<what>``): the input ``x``, the weights ``w0, w1, ...`` (set explicitly, biases
non-zero), the output ``y``, a random cotangent ``r``, and the gradients of
``sum(y * r)`` with respect to the input (``dx``) and to each weight (``dw0, ...``).
Everything is float32 and tiny (a few hundred values per case).

``"cnn_model"`` is the reference CNN in miniature (Conv2D-relu, Conv2D-relu, MaxPooling2D,
Flatten, Dense-softmax on 8x8x1 inputs; no dropout): its initial weights, the losses of
two ``train_on_batch`` steps of SGD(lr=0.1) on categorical cross-entropy, the weights after
them and ``predict``. No probability comes near the 2.0.5 clip bounds, so tf-keras's
unclipped cross-entropy agrees with 2.0.5's to float32 rounding.

How to run
----------
TensorFlow is needed only here, never by the test suite::

    cd <repo root> && /work/venv-tf/bin/python tools/make_conv_fixtures.py

channels_first on TensorFlow's CPU kernels
------------------------------------------
TensorFlow's CPU kernels do not implement every op for NCHW tensors (max pooling and some
convolution gradients refuse it). Each channels_first case is first run natively; when
TensorFlow refuses, the script builds the same layer with ``data_format='channels_last'``,
feeds it the input transposed to channels-last, and transposes the output, the cotangent
and the input gradient back. Kernels have the same layout in both formats, so weights and
weight gradients need no change. The JSON records which way each case was made
(``"via": "native"`` or ``"via": "transposed channels_last"``). Before writing, the script
checks every case against an independent numpy evaluation of the Keras 2.0.5 semantics
(direct loops for convolution and pooling) and exits non-zero on any disagreement.
"""

import json
import os
import sys
import zlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["CUDA_VISIBLE_DEVICES"] = ""

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures")

# name: (layer class, kwargs, input shape with batch, input kind)
CASES = {
    "conv1d_valid": ("Conv1D", {"filters": 3, "kernel_size": 3}, (2, 7, 2), "normal"),
    "conv1d_same_stride": ("Conv1D", {"filters": 4, "kernel_size": 3, "strides": 2, "padding": "same", "activation": "tanh"}, (2, 8, 3), "normal"),
    "conv1d_valid_stride": ("Conv1D", {"filters": 2, "kernel_size": 3, "strides": 2}, (2, 8, 2), "normal"),
    "conv1d_causal_dilated": ("Conv1D", {"filters": 2, "kernel_size": 2, "padding": "causal", "dilation_rate": 2, "use_bias": False}, (2, 6, 2), "normal"),
    "conv2d_valid_cl": ("Conv2D", {"filters": 3, "kernel_size": (3, 2), "data_format": "channels_last"}, (2, 5, 6, 2), "normal"),
    "conv2d_same_stride_cl": ("Conv2D", {"filters": 4, "kernel_size": 3, "strides": 2, "padding": "same", "data_format": "channels_last"}, (2, 7, 6, 3), "normal"),
    "conv2d_same_dilated_cf": ("Conv2D", {"filters": 2, "kernel_size": 3, "dilation_rate": 2, "padding": "same", "data_format": "channels_first"}, (2, 3, 7, 7), "normal"),
    "conv2d_stride_cf": ("Conv2D", {"filters": 3, "kernel_size": (2, 3), "strides": (2, 2), "activation": "tanh", "data_format": "channels_first"}, (2, 2, 7, 6), "normal"),
    "conv3d_same_cl": ("Conv3D", {"filters": 2, "kernel_size": 2, "strides": (1, 2, 1), "padding": "same", "data_format": "channels_last"}, (1, 3, 5, 4, 2), "normal"),
    "conv3d_valid_cf": ("Conv3D", {"filters": 2, "kernel_size": (2, 2, 1), "data_format": "channels_first"}, (1, 2, 3, 4, 3), "normal"),
    "deconv2d_valid_cl": ("Conv2DTranspose", {"filters": 3, "kernel_size": 3, "strides": 2, "data_format": "channels_last"}, (2, 3, 4, 2), "normal"),
    "deconv2d_same_cl": ("Conv2DTranspose", {"filters": 2, "kernel_size": (3, 2), "strides": (2, 3), "padding": "same", "data_format": "channels_last"}, (2, 3, 3, 2), "normal"),
    "deconv2d_same_cf": ("Conv2DTranspose", {"filters": 2, "kernel_size": 3, "strides": 2, "padding": "same", "data_format": "channels_first"}, (2, 3, 3, 4), "normal"),
    "separable_same_cl": ("SeparableConv2D", {"filters": 3, "kernel_size": 3, "depth_multiplier": 2, "padding": "same", "data_format": "channels_last"}, (2, 5, 5, 2), "normal"),
    "separable_stride_cf": ("SeparableConv2D", {"filters": 2, "kernel_size": 2, "strides": 2, "data_format": "channels_first"}, (2, 3, 6, 6), "normal"),
    "maxpool1d_same": ("MaxPooling1D", {"pool_size": 3, "strides": 2, "padding": "same"}, (2, 8, 3), "distinct"),
    "avgpool1d_valid": ("AveragePooling1D", {"pool_size": 2}, (2, 7, 3), "normal"),
    "maxpool2d_overlap_cl": ("MaxPooling2D", {"pool_size": 3, "strides": 2, "padding": "same", "data_format": "channels_last"}, (2, 7, 6, 2), "distinct"),
    "maxpool2d_cf": ("MaxPooling2D", {"pool_size": 2, "data_format": "channels_first"}, (2, 2, 5, 5), "distinct"),
    "avgpool2d_same_cl": ("AveragePooling2D", {"pool_size": (3, 2), "strides": (2, 1), "padding": "same", "data_format": "channels_last"}, (2, 7, 5, 2), "normal"),
    "avgpool2d_same_cf": ("AveragePooling2D", {"pool_size": 2, "padding": "same", "data_format": "channels_first"}, (2, 2, 5, 5), "normal"),
    "maxpool3d_same_cl": ("MaxPooling3D", {"pool_size": 2, "padding": "same", "data_format": "channels_last"}, (1, 3, 4, 5, 2), "distinct"),
    "avgpool3d_cf": ("AveragePooling3D", {"pool_size": 2, "strides": (1, 1, 2), "data_format": "channels_first"}, (1, 2, 3, 3, 4), "normal"),
    "global_maxpool1d": ("GlobalMaxPooling1D", {}, (2, 5, 3), "distinct"),
    "global_avgpool1d": ("GlobalAveragePooling1D", {}, (2, 5, 3), "normal"),
    "global_maxpool2d_cl": ("GlobalMaxPooling2D", {"data_format": "channels_last"}, (2, 3, 4, 2), "distinct"),
    "global_avgpool2d_cf": ("GlobalAveragePooling2D", {"data_format": "channels_first"}, (2, 2, 3, 4), "normal"),
    "global_maxpool3d_cf": ("GlobalMaxPooling3D", {"data_format": "channels_first"}, (1, 2, 2, 3, 2), "distinct"),
    "global_avgpool3d_cl": ("GlobalAveragePooling3D", {"data_format": "channels_last"}, (1, 2, 3, 2, 2), "normal"),
    "zeropad1d": ("ZeroPadding1D", {"padding": (1, 2)}, (2, 4, 3), "normal"),
    "zeropad2d_cl": ("ZeroPadding2D", {"padding": ((1, 0), (2, 1)), "data_format": "channels_last"}, (2, 3, 3, 2), "normal"),
    "zeropad2d_cf": ("ZeroPadding2D", {"padding": 1, "data_format": "channels_first"}, (2, 2, 3, 3), "normal"),
    "zeropad3d_cl": ("ZeroPadding3D", {"padding": (1, 2, 0), "data_format": "channels_last"}, (1, 2, 2, 3, 2), "normal"),
    "cropping1d": ("Cropping1D", {"cropping": (1, 2)}, (2, 6, 3), "normal"),
    "cropping2d_cl": ("Cropping2D", {"cropping": ((1, 0), (2, 1)), "data_format": "channels_last"}, (2, 5, 6, 2), "normal"),
    "cropping2d_cf": ("Cropping2D", {"cropping": 1, "data_format": "channels_first"}, (2, 2, 5, 5), "normal"),
    "cropping3d_cf": ("Cropping3D", {"data_format": "channels_first"}, (1, 2, 4, 4, 3), "normal"),
    "upsampling1d": ("UpSampling1D", {"size": 3}, (2, 3, 2), "normal"),
    "upsampling2d_cl": ("UpSampling2D", {"size": (2, 3), "data_format": "channels_last"}, (2, 2, 3, 2), "normal"),
    "upsampling2d_cf": ("UpSampling2D", {"size": 2, "data_format": "channels_first"}, (2, 2, 2, 3), "normal"),
    "upsampling3d_cl": ("UpSampling3D", {"size": (2, 1, 2), "data_format": "channels_last"}, (1, 2, 2, 2, 1), "normal"),
}  # fmt: skip

SNAKE = {
    "Conv1D": "conv1d", "Conv2D": "conv2d", "Conv3D": "conv3d", "Conv2DTranspose": "conv2d_transpose",
    "SeparableConv2D": "separable_conv2d",
}  # fmt: skip


def _input(shape, kind, rng):
    if kind == "distinct":  # pairwise 0.05 apart: no ties inside any pooling window
        n = int(np.prod(shape))
        return (rng.permutation(n) * 0.05 - n * 0.025).reshape(shape).astype(np.float32)
    return rng.uniform(-1.0, 1.0, size=shape).astype(np.float32)


def _to_last(rank):
    return (0,) + tuple(range(2, rank)) + (1,)


def _to_first(rank):
    return (0, rank - 1) + tuple(range(1, rank - 1))


def _run(cls, kwargs, x, weights, r_fn, name):
    layer = getattr(keras.layers, cls)(name=name, **kwargs)
    layer(tf.constant(x))  # builds inside the layer's name scope: weights named '<layer>/kernel:0'
    if weights is None:
        rng = np.random.default_rng(zlib.crc32(name.encode()))
        weights = [rng.uniform(-0.6, 0.6, size=w.shape).astype(np.float32) for w in layer.weights]
    layer.set_weights(weights)
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        y = layer(xt)
        r = r_fn(tuple(y.shape))
        loss = tf.reduce_sum(y * r)
    grads = tape.gradient(loss, [xt] + layer.trainable_weights)
    return layer, weights, y.numpy(), r, [g.numpy() for g in grads]


def make_case(name, cls, kwargs, shape, kind, rng):
    x = _input(shape, kind, rng)
    r_seed = rng.integers(2**31)

    def r_fn(out_shape):
        return np.random.default_rng(r_seed).uniform(-1.0, 1.0, size=out_shape).astype(np.float32)

    layer_name = f"{SNAKE.get(cls, cls.lower())}_1"
    via = "native"
    try:
        layer, weights, y, r, grads = _run(cls, kwargs, x, None, r_fn, layer_name)
    except (tf.errors.InvalidArgumentError, tf.errors.UnimplementedError, ValueError) as err:
        if kwargs.get("data_format") != "channels_first":
            raise
        print(
            f"  {name}: TensorFlow refused channels_first on CPU ({type(err).__name__}); transposing"
        )
        via = "transposed channels_last"
        rank = len(shape)
        last = {**kwargs, "data_format": "channels_last"}
        xl = np.ascontiguousarray(x.transpose(_to_last(rank)))

        def r_last(out_shape):
            if len(out_shape) == rank:
                first_shape = tuple(out_shape[i] for i in _to_first(rank))
                return np.ascontiguousarray(r_fn(first_shape).transpose(_to_last(rank)))
            return r_fn(out_shape)

        layer, weights, y, r, grads = _run(cls, last, xl, None, r_last, layer_name)
        if y.ndim == rank:
            y, r = y.transpose(_to_first(rank)), r.transpose(_to_first(rank))
        grads[0] = grads[0].transpose(_to_first(rank))
    data = {
        "x": x,
        "y": np.ascontiguousarray(y),
        "r": np.ascontiguousarray(r),
        "dx": np.ascontiguousarray(grads[0]),
    }
    for i, (w, g) in enumerate(zip(weights, grads[1:], strict=True)):
        data[f"w{i}"], data[f"dw{i}"] = w, g
    meta = {
        "layer": cls,
        "kwargs": kwargs,
        "input_shape": list(shape),
        "output_shape": list(y.shape),
        "layer_name": layer_name,
        "weight_names": [w.name for w in layer.weights],
        "weight_shapes": [list(w.shape) for w in weights],
        "via": via,
    }
    return meta, data


# -- independent numpy check of the Keras 2.0.5 semantics ------------------------------------
def _same_pads(n, k, s, d=1):
    dk = (k - 1) * d + 1
    total = max((-(-n // s) - 1) * s + dk - n, 0)
    return total // 2, total - total // 2


def _np_conv_cl(x, w, strides, padding, dilation):
    """Direct-loop N-d convolution of channels_last x with a (*k, in, out) kernel."""
    rank = x.ndim - 2
    ks = w.shape[:rank]
    pads = []
    for i in range(rank):
        if padding == "same":
            pads.append(_same_pads(x.shape[1 + i], ks[i], strides[i], dilation[i]))
        elif padding == "causal":
            pads.append((dilation[i] * (ks[i] - 1), 0))
        else:
            pads.append((0, 0))
    xp = np.pad(x.astype(np.float64), [(0, 0)] + pads + [(0, 0)])
    out_sp = [
        (xp.shape[1 + i] - ((ks[i] - 1) * dilation[i] + 1)) // strides[i] + 1 for i in range(rank)
    ]
    y = np.zeros((x.shape[0], *out_sp, w.shape[-1]))
    for kidx in np.ndindex(*ks):
        sl = tuple(
            slice(
                kidx[i] * dilation[i],
                kidx[i] * dilation[i] + (out_sp[i] - 1) * strides[i] + 1,
                strides[i],
            )
            for i in range(rank)
        )
        y += np.tensordot(
            xp[(slice(None),) + sl], w[kidx].astype(np.float64), axes=([rank + 1], [0])
        )
    return y


def _np_pool_cl(x, pool, strides, padding, mode):
    rank = x.ndim - 2
    pads = [
        (_same_pads(x.shape[1 + i], pool[i], strides[i]) if padding == "same" else (0, 0))
        for i in range(rank)
    ]
    fill = -np.inf if mode == "max" else np.nan
    xp = np.pad(x.astype(np.float64), [(0, 0)] + pads + [(0, 0)], constant_values=fill)
    out_sp = [(xp.shape[1 + i] - pool[i]) // strides[i] + 1 for i in range(rank)]
    y = np.zeros((x.shape[0], *out_sp, x.shape[-1]))
    for o in np.ndindex(*out_sp):
        win = xp[
            (slice(None),)
            + tuple(slice(o[i] * strides[i], o[i] * strides[i] + pool[i]) for i in range(rank))
        ]
        win = win.reshape(x.shape[0], -1, x.shape[-1])
        y[(slice(None),) + o] = win.max(1) if mode == "max" else np.nanmean(win, 1)
    return y


def _tuple(v, n):
    return (v,) * n if isinstance(v, int) else tuple(v)


def _pairs(v, n):
    """Keras's padding/cropping forms -> n (before, after) pairs."""
    if isinstance(v, int):
        return [(v, v)] * n
    if n == 1:
        return [tuple(v)]
    return [(e, e) if isinstance(e, int) else tuple(e) for e in v]


def numpy_forward(meta, data):
    """The layer output by independent numpy code (channels_last internally)."""
    cls, kw = meta["layer"], meta["kwargs"]
    x = data["x"].astype(np.float64)
    rank = x.ndim
    first = kw.get("data_format") == "channels_first"
    if first:
        x = x.transpose(_to_last(rank))
    n = rank - 2
    act = np.tanh if kw.get("activation") == "tanh" else (lambda v: v)
    if cls in ("Conv1D", "Conv2D", "Conv3D", "SeparableConv2D"):
        strides = _tuple(kw.get("strides", 1), n)
        dil = _tuple(kw.get("dilation_rate", 1), n)
        if cls == "SeparableConv2D":
            dw = data["w0"]
            c, m = dw.shape[2], dw.shape[3]
            mid = np.concatenate(
                [
                    _np_conv_cl(
                        x[..., ci : ci + 1],
                        dw[:, :, ci : ci + 1, :],
                        strides,
                        kw.get("padding", "valid"),
                        dil,
                    )
                    for ci in range(c)
                ],
                -1,
            )
            del m
            y = _np_conv_cl(mid, data["w1"], (1, 1), "valid", (1, 1))
            bias = data.get("w2")
        else:
            y = _np_conv_cl(x, data["w0"], strides, kw.get("padding", "valid"), dil)
            bias = data.get("w1")
        y = act(y + (bias if bias is not None else 0.0))
    elif cls == "Conv2DTranspose":
        # Scatter each input cell times the kernel into the full output, then crop the pads.
        w = data["w0"].astype(np.float64)  # (kh, kw, out, in)
        s = _tuple(kw.get("strides", 1), 2)
        k = w.shape[:2]
        full = np.zeros(
            (
                x.shape[0],
                (x.shape[1] - 1) * s[0] + k[0] + s[0],
                (x.shape[2] - 1) * s[1] + k[1] + s[1],
                w.shape[2],
            )
        )
        for i in range(x.shape[1]):
            for j in range(x.shape[2]):
                full[:, i * s[0] : i * s[0] + k[0], j * s[1] : j * s[1] + k[1], :] += np.einsum(
                    "nc,hwoc->nhwo", x[:, i, j, :], w
                )
        out = []
        for a in range(2):
            L = x.shape[1 + a]
            if kw.get("padding", "valid") == "same":
                out.append((L * s[a], _same_pads(L * s[a], k[a], s[a])[0]))
            else:
                out.append((L * s[a] + max(k[a] - s[a], 0), 0))
        y = (
            full[:, out[0][1] : out[0][1] + out[0][0], out[1][1] : out[1][1] + out[1][0], :]
            + data["w1"]
        )
    elif cls.startswith(("MaxPooling", "AveragePooling")):
        pool = _tuple(kw.get("pool_size", 2), n)
        strides = _tuple(kw.get("strides") or pool, n)
        y = _np_pool_cl(
            x, pool, strides, kw.get("padding", "valid"), "max" if cls.startswith("Max") else "avg"
        )
    elif cls.startswith("Global"):
        axes = tuple(range(1, rank - 1))
        return x.max(axes) if "Max" in cls else x.mean(axes)
    elif cls.startswith("ZeroPadding"):
        y = np.pad(x, [(0, 0)] + _pairs(kw.get("padding", 1), n) + [(0, 0)])
    elif cls.startswith("Cropping"):
        default = {1: (1, 1), 2: ((0, 0), (0, 0)), 3: ((1, 1),) * 3}[n]
        pairs = _pairs(kw.get("cropping", default), n)
        y = x[
            (slice(None),)
            + tuple(slice(lo, x.shape[1 + i] - hi) for i, (lo, hi) in enumerate(pairs))
        ]
    elif cls.startswith("UpSampling"):
        size = _tuple(kw.get("size", 2), n)
        y = x
        for i, f in enumerate(size):
            y = np.repeat(y, f, axis=1 + i)
    else:
        raise KeyError(cls)
    return y.transpose(_to_first(rank)) if first else y


MODEL_LAYERS = [
    (
        "Conv2D",
        {"filters": 4, "kernel_size": (3, 3), "activation": "relu", "input_shape": (8, 8, 1)},
    ),
    ("Conv2D", {"filters": 4, "kernel_size": (3, 3), "activation": "relu"}),
    ("MaxPooling2D", {"pool_size": (2, 2)}),
    ("Flatten", {}),
    ("Dense", {"units": 3, "activation": "softmax"}),
]


def make_model_case(rng):
    """The reference CNN in miniature: two train_on_batch steps of SGD on categorical CE."""
    model = keras.models.Sequential([getattr(keras.layers, cls)(**kw) for cls, kw in MODEL_LAYERS])
    init = [rng.uniform(-0.5, 0.5, size=w.shape).astype(np.float32) for w in model.get_weights()]
    model.set_weights(init)
    model.compile(keras.optimizers.legacy.SGD(learning_rate=0.1), "categorical_crossentropy")
    x = rng.uniform(0.0, 1.0, size=(6, 8, 8, 1)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, size=6)]
    losses = [float(model.train_on_batch(x, y)) for _ in range(2)]
    data = {
        "x": x,
        "y": y,
        "losses": np.asarray(losses, np.float32),
        "predict": model.predict(x, verbose=0),
    }
    for i, (w0, w1) in enumerate(zip(init, model.get_weights(), strict=True)):
        data[f"init{i}"], data[f"after{i}"] = w0, w1
    meta = {"layers": [[cls, kw] for cls, kw in MODEL_LAYERS], "optimizer": {"class_name": "SGD", "config": {"lr": 0.1}},
            "loss": "categorical_crossentropy", "steps": 2, "n_weights": len(init)}  # fmt: skip
    return meta, data


def main():
    rng = np.random.default_rng(2017)
    cases, arrays, bad = {}, {}, []
    for name, (cls, kwargs, shape, kind) in CASES.items():
        meta, data = make_case(name, cls, kwargs, shape, kind, rng)
        expected = numpy_forward(meta, data)
        err = (
            float(np.max(np.abs(expected - data["y"])))
            if expected.shape == data["y"].shape
            else np.inf
        )
        if not err < 1e-5:
            bad.append(f"{name}: output differs from the numpy reference by {err}")
        cases[name] = meta
        arrays.update({f"{name}/{k}": v for k, v in data.items()})
        print(
            f"{name:26s} {meta['via']:26s} out {tuple(meta['output_shape'])}  numpy check {err:.1e}"
        )
    if bad:
        print("\n".join(bad), file=sys.stderr)
        sys.exit(1)
    model_meta, model_data = make_model_case(rng)
    arrays.update({f"cnn_model/{k}": v for k, v in model_data.items()})
    print("cnn_model losses", model_data["losses"])
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "conv_cases.json"), "w") as f:
        json.dump({"layers": cases, "cnn_model": model_meta}, f, indent=1, sort_keys=True)
        f.write("\n")
    np.savez_compressed(os.path.join(OUT, "conv_cases.npz"), **arrays)


if __name__ == "__main__":
    main()
