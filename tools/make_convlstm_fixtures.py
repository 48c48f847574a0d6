"""Golden fixtures for ConvLSTM2D, made by real Keras (tf-keras 2.21).

What it makes
-------------
``tests/fixtures/convlstm_cases.json`` lists each case in Keras 2.0.5 terms: constructor
arguments, input shape (without the batch), batch size, how timesteps are masked (none,
left-padded or arbitrary: a masked timestep is an all-zero frame, which a ``Masking``
layer in front of the kgraph layer detects), the number of outputs and the weight names
and shapes in order. ``convlstm_values.npz`` holds the same keys as the recurrent
fixtures' ``rnn_values.npz`` (tools/make_rnn_fixtures.py): ``x``, ``w_<i>``, ``r_<k>``,
``y_<k>``, the gradients ``gx`` and ``gw_<i>`` of ``sum_k sum(y_k * r_k)`` in inference
mode (so dropout is off), and for stateful cases ``x2``, ``y2_<k>`` (the next batch) and
``y3_<k>`` (the first batch again after ``reset_states()``).

How to run
----------
TensorFlow is needed only here, never by the test suite::

    cd <repo root> && /work/venv-tf/bin/python tools/make_convlstm_fixtures.py

The run is deterministic (fixed seeds, CPU only).

Keras 2.0.5 -> tf-keras mappings applied
----------------------------------------
* ``recurrent_activation`` is always given (tf-keras defaults to sigmoid, 2.0.5 to
  hard_sigmoid; tf-keras's hard_sigmoid is 2.0.5's ``clip(0.2 x + 0.5, 0, 1)``).
* TensorFlow's CPU convolution is channels_last only: a channels_first case runs its
  channels_last twin with the same weights, and the input, outputs, cotangents and input
  gradient are transposed to channels_first.
* Masks: 2.0.5's ``K.rnn`` cannot take the per-pixel mask ``Masking`` makes from 5-D
  inputs, and tf-keras applies it pixel by pixel; kgraph masks whole timesteps. So the
  tf-keras layer gets the (batch, time) mask of the all-zero frames directly; at a masked
  step both keep the states and repeat the previous ``h`` (zeros before the first kept
  step, which is 2.0.5's rule with zero initial states).
* tf-keras names weights ``conv_lstm2d/kernel:0``, 2.0.5 ``conv_lst_m2d_1/kernel:0``: the
  names are recorded without the layer scope.
"""

import json
import os

import numpy as np

# The recurrent fixtures' setup (CPU only, quiet TensorFlow, set before TensorFlow loads),
# paths and masked inputs.
from make_rnn_fixtures import HS, OUT_DIR, SIG, keras, make_input, tf

# name -> (layer kwargs, channels_last input shape (time, rows, cols, channels), batch, mask)
CASES = {
    "seq_same": ({"filters": 3, "kernel_size": 3, "padding": "same", "return_sequences": True,
                  "recurrent_activation": HS}, (4, 5, 5, 2), 2, "none"),
    "last_valid": ({"filters": 2, "kernel_size": (3, 2), "recurrent_activation": SIG}, (3, 6, 5, 2), 3, "none"),
    "back_seq_even_kernel": ({"filters": 2, "kernel_size": 2, "padding": "same", "go_backwards": True,
                              "return_sequences": True, "recurrent_activation": HS}, (3, 5, 4, 2), 2, "none"),
    "strides2_same": ({"filters": 2, "kernel_size": 3, "strides": 2, "padding": "same",
                       "return_sequences": True, "recurrent_activation": HS}, (3, 7, 6, 2), 2, "none"),
    "strides2_valid_last": ({"filters": 2, "kernel_size": 3, "strides": (2, 1), "recurrent_activation": SIG},
                            (3, 7, 6, 1), 2, "none"),
    "dilation_valid": ({"filters": 2, "kernel_size": 2, "dilation_rate": 2, "return_sequences": True,
                        "recurrent_activation": HS}, (3, 6, 6, 2), 2, "none"),
    "channels_first_seq": ({"filters": 2, "kernel_size": 3, "padding": "same", "return_sequences": True,
                            "recurrent_activation": HS, "data_format": "channels_first"}, (3, 5, 4, 3), 2, "none"),
    "channels_first_strides_back": ({"filters": 3, "kernel_size": 2, "strides": 2, "go_backwards": True,
                                     "recurrent_activation": SIG, "data_format": "channels_first"},
                                    (3, 6, 5, 2), 2, "none"),
    "nobias_relu_state": ({"filters": 2, "kernel_size": 3, "padding": "same", "use_bias": False,
                           "activation": "relu", "return_state": True, "recurrent_activation": HS},
                          (3, 4, 4, 2), 2, "none"),
    "mask_left_seq": ({"filters": 2, "kernel_size": 3, "padding": "same", "return_sequences": True,
                       "recurrent_activation": HS}, (4, 4, 4, 2), 3, "left"),
    "mask_arbitrary_back_last": ({"filters": 2, "kernel_size": 3, "go_backwards": True,
                                  "recurrent_activation": SIG}, (5, 5, 5, 2), 3, "arbitrary"),
    "dropout_inference": ({"filters": 2, "kernel_size": 3, "padding": "same", "dropout": 0.4,
                           "recurrent_dropout": 0.3, "return_sequences": True, "recurrent_activation": HS},
                          (3, 4, 4, 2), 2, "none"),
    "stateful_seq": ({"filters": 2, "kernel_size": 3, "padding": "same", "stateful": True,
                      "return_sequences": True, "recurrent_activation": HS}, (3, 4, 4, 2), 2, "none"),
    "stateful_back_valid": ({"filters": 2, "kernel_size": 2, "stateful": True, "go_backwards": True,
                             "recurrent_activation": SIG}, (3, 5, 4, 2), 2, "none"),
}  # fmt: skip

TO_FIRST = {5: (0, 1, 4, 2, 3), 4: (0, 3, 1, 2)}


def time_mask(x, mask):
    return None if mask == "none" else tf.constant(np.any(x != 0, axis=(2, 3, 4)))


def run(layer, x, mask, rs=None):
    """Outputs (and, given cotangents, gradients) of a layer call in inference mode."""
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        outs = layer(xt, mask=time_mask(x, mask), training=False)
        outs = outs if isinstance(outs, (list, tuple)) else [outs]
        if rs is None:
            return [o.numpy() for o in outs], None
        loss = tf.add_n([tf.reduce_sum(o * r) for o, r in zip(outs, rs, strict=True)])
    grads = tape.gradient(loss, [xt] + list(layer.trainable_weights))
    return [o.numpy() for o in outs], [g.numpy() for g in grads]


def to_first(a):
    return np.ascontiguousarray(np.transpose(a, TO_FIRST[a.ndim]))


def record_case(name, case, rng, arrays):
    kw, shape, batch, mask = case
    first = kw.get("data_format") == "channels_first"
    tf_kw = {k: v for k, v in kw.items() if k != "data_format"}
    keras.backend.clear_session()
    tf.random.set_seed(0)
    layer = keras.layers.ConvLSTM2D(**tf_kw)
    x = make_input(rng, shape, batch, mask)
    layer.build((batch,) + tuple(shape))
    weights = [rng.uniform(-0.6, 0.6, size=w.shape).astype(np.float32) for w in layer.get_weights()]
    layer.set_weights(weights)
    put = {"w_" + str(i): w for i, w in enumerate(weights)}
    if kw.get("stateful"):
        x2 = make_input(rng, shape, batch, mask)
        outs, _ = run(layer, x, mask)
        y2, _ = run(layer, x2, mask)
        layer.reset_states()
        y3, _ = run(layer, x, mask)
        put.update(x=x, x2=x2)
        for prefix, ys in (("y", outs), ("y2", y2), ("y3", y3)):
            put.update({f"{prefix}_{k}": o for k, o in enumerate(ys)})
    else:
        probe, _ = run(layer, x, mask)
        rs = [rng.normal(size=o.shape).astype(np.float32) for o in probe]
        outs, grads = run(layer, x, mask, rs)
        put["x"] = x
        put.update({f"r_{k}": r for k, r in enumerate(rs)})
        put.update({f"y_{k}": o for k, o in enumerate(outs)})
        put["gx"] = grads[0]
        put.update({f"gw_{i}": g for i, g in enumerate(grads[1:])})
    if first:  # everything shaped like the input or an output; weights are layout-free
        put = {k: v if k.startswith(("w_", "gw_")) else to_first(v) for k, v in put.items()}
    for key, value in put.items():
        arrays[f"{name}/{key}"] = value
    in_shape = (shape[0], shape[3], shape[1], shape[2]) if first else shape
    return {
        "kwargs": kw,
        "input_shape": list(in_shape),
        "batch": batch,
        "mask": mask,
        "n_outputs": len(outs),
        "weight_names": [w.name.split("/")[-1].split(":")[0] for w in layer.weights],
        "weight_shapes": [list(w.shape) for w in weights],
    }


def main():
    rng = np.random.default_rng(2025)
    assert np.allclose(keras.activations.hard_sigmoid(tf.constant([1.0, 3.0])).numpy(), [0.7, 1.0])
    arrays, cases = {}, {}
    for name, case in CASES.items():
        cases[name] = record_case(name, case, rng, arrays)
    with open(os.path.join(OUT_DIR, "convlstm_cases.json"), "w") as f:
        json.dump(cases, f, indent=1, sort_keys=True)
        f.write("\n")
    np.savez_compressed(os.path.join(OUT_DIR, "convlstm_values.npz"), **arrays)
    print(f"wrote {len(cases)} cases, {len(arrays)} arrays")


if __name__ == "__main__":
    main()
