"""Golden fixtures for the recurrent layers and wrappers, made by real Keras (tf-keras 2.21).

What it makes
-------------
``tests/fixtures/rnn_cases.json`` lists each case in Keras 2.0.5 terms: the layer (or the
wrapper and its layer), constructor arguments, input shape, batch size, how the input is
masked (a ``Masking`` layer in front, on timesteps whose features are all zero: none,
left-padded, right-padded or arbitrary), and the weight shapes. ``rnn_values.npz`` holds,
under ``<case>/<key>``:

* ``x``: the input; ``w_<i>``: the weights the layer is set to (random, biases included);
  ``r_<k>``: a fixed cotangent per output;
* ``y_<k>``: each output (``return_state`` and ``merge_mode=None`` give several);
  ``gx`` and ``gw_<i>``: gradients of ``sum_k sum(y_k * r_k)`` with respect to the input
  and each weight (inference mode);
* stateful cases: ``x2`` and ``y2_<k>`` (a second batch right after the first, starting
  from the first one's final states) and ``y3_<k>`` (the first batch again after
  ``reset_states()``);
* ``train/...``: an Embedding(mask_zero) -> LSTM -> Dense model: inputs, targets, its
  weights, and after one ``train_on_batch`` with ``SGD(0.5)`` on mse: the loss and every
  weight.

``rnn_gru_tfk.h5`` is a whole tf-keras model (``model.save``) with a ``reset_after`` GRU,
and ``rnn_bilstm_tfk_weights.h5`` the weights of a Bidirectional LSTM model
(``save_weights`` to a ``.h5`` name, which tf-keras writes in the Keras 2 layout); their
inputs and predictions are ``h5gru/x``, ``h5gru/y``, ``h5bi/x`` and ``h5bi/y``.

How to run
----------
TensorFlow is needed only here, never by the test suite::

    cd <repo root> && /work/venv-tf/bin/python tools/make_rnn_fixtures.py

The run is deterministic (fixed seeds, CPU only).

Keras 2.0.5 -> tf-keras mappings applied
----------------------------------------
* ``recurrent_activation`` is always given: tf-keras defaults to sigmoid, 2.0.5 to
  hard_sigmoid; both appear. GRU always gets ``reset_after`` (tf-keras defaults to True,
  2.0.5 has only the False form).
* tf-keras's Bidirectional forces ``zero_output_for_mask`` on a layer that returns
  sequences (masked steps output zeros; 2.0.5 repeats the previous output): the kgraph side
  of those cases passes ``zero_output_for_mask=True``, recorded in the case's ``kwargs``.
* At a masked step tf-keras outputs the previous *output* (zeros before the first kept
  step) and 2.0.5 the previous *state*: the same with zero initial states, which every
  masked case has (the stateful cases are unmasked).
* tf-keras names weights ``lstm/lstm_cell/kernel:0``; 2.0.5 names them ``lstm_1/kernel:0``
  (the tests check 2.0.5's names), so only shapes are recorded.
"""

import json
import os
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["CUDA_VISIBLE_DEVICES"] = ""

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_DIR = os.path.join(ROOT, "tests", "fixtures")

HS, SIG = "hard_sigmoid", "sigmoid"
# name -> (wrapper or None, wrapper kwargs, layer class, layer kwargs, input shape, batch, mask)
CASES = {
    "simple_seq": (None, {}, "SimpleRNN", {"units": 3, "return_sequences": True}, (5, 3), 4, "none"),
    "simple_state_back": (None, {}, "SimpleRNN", {"units": 3, "return_state": True, "go_backwards": True,
                                                  "activation": "softsign"}, (4, 3), 3, "none"),
    "simple_mask_right": (None, {}, "SimpleRNN", {"units": 2, "return_sequences": True}, (5, 3), 4, "right"),
    "simple_nobias_mask_left": (None, {}, "SimpleRNN", {"units": 2, "use_bias": False, "activation": "sigmoid"},
                                (5, 3), 4, "left"),
    "gru205_seq": (None, {}, "GRU", {"units": 3, "recurrent_activation": HS, "reset_after": False,
                                     "return_sequences": True}, (5, 3), 4, "none"),
    "gru205_state_back_mask_left": (None, {}, "GRU", {"units": 2, "recurrent_activation": HS, "reset_after": False,
                                                      "return_state": True, "go_backwards": True}, (5, 3), 4, "left"),
    "grutfk_seq_mask_right": (None, {}, "GRU", {"units": 3, "recurrent_activation": SIG, "reset_after": True,
                                                "return_sequences": True}, (5, 3), 4, "right"),
    "grutfk_state_back_mask_arbitrary": (None, {}, "GRU", {"units": 2, "recurrent_activation": SIG,
                                                           "reset_after": True, "return_state": True,
                                                           "go_backwards": True, "return_sequences": True},
                                         (6, 3), 4, "arbitrary"),
    "grutfk_nobias_softsign": (None, {}, "GRU", {"units": 2, "recurrent_activation": SIG, "reset_after": True,
                                                 "use_bias": False, "activation": "softsign"}, (4, 3), 3, "none"),
    "lstm205_seq": (None, {}, "LSTM", {"units": 3, "recurrent_activation": HS, "return_sequences": True},
                    (5, 3), 4, "none"),
    "lstm205_state_back_seq": (None, {}, "LSTM", {"units": 2, "recurrent_activation": HS, "return_state": True,
                                                  "go_backwards": True, "return_sequences": True}, (5, 3), 3, "none"),
    "lstm_mask_left_seq": (None, {}, "LSTM", {"units": 3, "recurrent_activation": SIG, "return_sequences": True},
                           (6, 3), 4, "left"),
    "lstm_mask_right_state": (None, {}, "LSTM", {"units": 2, "recurrent_activation": SIG, "return_state": True},
                              (6, 3), 4, "right"),
    "lstm_mask_arbitrary_back": (None, {}, "LSTM", {"units": 2, "recurrent_activation": SIG, "go_backwards": True,
                                                    "return_sequences": True, "unit_forget_bias": False},
                                 (6, 3), 4, "arbitrary"),
    "lstm_nobias_elu": (None, {}, "LSTM", {"units": 2, "recurrent_activation": HS, "use_bias": False,
                                           "activation": "elu"}, (4, 3), 3, "none"),
    "lstm_stateful": (None, {}, "LSTM", {"units": 2, "recurrent_activation": SIG, "stateful": True,
                                         "return_sequences": True}, (4, 3), 2, "none"),
    "grutfk_stateful": (None, {}, "GRU", {"units": 2, "recurrent_activation": SIG, "reset_after": True,
                                          "stateful": True, "return_state": True}, (4, 3), 2, "none"),
    "simple_stateful_back": (None, {}, "SimpleRNN", {"units": 2, "stateful": True, "go_backwards": True},
                             (4, 3), 2, "none"),
    "bi_lstm_concat_seq": ("Bidirectional", {}, "LSTM", {"units": 2, "recurrent_activation": HS,
                                                         "return_sequences": True}, (5, 3), 3, "none"),
    "bi_grutfk_sum": ("Bidirectional", {"merge_mode": "sum"}, "GRU", {"units": 2, "recurrent_activation": SIG,
                                                                       "reset_after": True}, (5, 3), 3, "none"),
    "bi_gru205_mask_right_ave_seq": ("Bidirectional", {"merge_mode": "ave"}, "GRU",
                                     {"units": 2, "recurrent_activation": HS, "reset_after": False,
                                      "return_sequences": True}, (5, 3), 4, "right"),
    "bi_lstm_mask_left_mul": ("Bidirectional", {"merge_mode": "mul"}, "LSTM",
                              {"units": 2, "recurrent_activation": SIG}, (5, 3), 4, "left"),
    "bi_simple_none_seq": ("Bidirectional", {"merge_mode": None}, "SimpleRNN",
                           {"units": 2, "return_sequences": True}, (4, 3), 3, "none"),
    "bi_lstm_state": ("Bidirectional", {}, "LSTM", {"units": 2, "recurrent_activation": SIG, "return_state": True},
                      (4, 3), 3, "none"),
    "td_dense": ("TimeDistributed", {}, "Dense", {"units": 3, "activation": "tanh"}, (4, 5), 3, "none"),
    "td_lstm": ("TimeDistributed", {}, "LSTM", {"units": 2, "recurrent_activation": SIG}, (3, 4, 2), 2, "none"),
}  # fmt: skip


def make_layer(cls, kwargs):
    return getattr(keras.layers, cls)(**kwargs)


def make_input(rng, shape, batch, mask):
    x = rng.uniform(-1.5, 1.5, size=(batch,) + tuple(shape)).astype(np.float32)
    steps = shape[0]
    for b in range(batch):
        if mask == "left":
            x[b, : b % (steps - 1)] = 0.0
        elif mask == "right":
            x[b, steps - (b % (steps - 1)) :] = 0.0
        elif mask == "arbitrary":
            x[b, rng.random(steps) < 0.35] = 0.0
            x[b, b % steps] = rng.uniform(0.5, 1.0, size=shape[1:])  # at least one kept step
    return x


def build(case):
    wrapper, wkw, cls, kw, shape, batch, mask = case
    stateful = kw.get("stateful", False)
    inp = keras.Input(batch_shape=(batch,) + tuple(shape)) if stateful else keras.Input(shape=shape)
    h = keras.layers.Masking(0.0)(inp) if mask != "none" else inp
    layer = make_layer(cls, kw)
    if wrapper is not None:
        layer = getattr(keras.layers, wrapper)(layer, **wkw)
    out = layer(h)
    return keras.Model(inp, out), layer


def gradients(model, layer, x, rs):
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        outs = model(xt, training=False)
        outs = outs if isinstance(outs, (list, tuple)) else [outs]
        loss = tf.add_n([tf.reduce_sum(o * r) for o, r in zip(outs, rs)])
    grads = tape.gradient(loss, [xt] + list(layer.trainable_weights))
    return [g.numpy() for g in grads]


def record_case(name, case, rng, arrays):
    wrapper, wkw, cls, kw, shape, batch, mask = case
    keras.backend.clear_session()
    tf.random.set_seed(0)
    model, layer = build(case)
    weights = [rng.uniform(-0.6, 0.6, size=w.shape).astype(np.float32) for w in layer.get_weights()]
    layer.set_weights(weights)
    x = make_input(rng, shape, batch, mask)
    outs = model.predict(x, batch_size=batch, verbose=0)
    outs = outs if isinstance(outs, list) else [outs]
    rs = [rng.normal(size=o.shape).astype(np.float32) for o in outs]
    put = {"x": x}
    put.update({f"w_{i}": w for i, w in enumerate(weights)})
    put.update({f"r_{k}": r for k, r in enumerate(rs)})
    put.update({f"y_{k}": o for k, o in enumerate(outs)})
    stateful = kw.get("stateful", False)
    if stateful:
        x2 = make_input(rng, shape, batch, mask)
        y2 = model.predict(x2, batch_size=batch, verbose=0)
        model.reset_states()
        y3 = model.predict(x, batch_size=batch, verbose=0)
        put["x2"] = x2
        put.update({f"y2_{k}": o for k, o in enumerate(y2 if isinstance(y2, list) else [y2])})
        put.update({f"y3_{k}": o for k, o in enumerate(y3 if isinstance(y3, list) else [y3])})
    else:
        grads = gradients(model, layer, x, rs)
        put["gx"] = grads[0]
        put.update({f"gw_{i}": g for i, g in enumerate(grads[1:])})
    for key, value in put.items():
        arrays[f"{name}/{key}"] = value
    kgraph_kwargs = dict(kw)
    if wrapper == "Bidirectional" and mask != "none" and kw.get("return_sequences"):
        kgraph_kwargs["zero_output_for_mask"] = True
    return {
        "wrapper": wrapper,
        "wrapper_kwargs": wkw,
        "class_name": cls,
        "kwargs": kgraph_kwargs,
        "input_shape": list(shape),
        "batch": batch,
        "mask": mask,
        "n_outputs": len(outs),
        "weight_shapes": [list(w.shape) for w in weights],
    }


def record_train_step(rng, arrays):
    """Embedding(mask_zero) -> LSTM -> Dense, one SGD step on mse."""
    keras.backend.clear_session()
    inp = keras.Input(shape=(6,), dtype="int32")
    h = keras.layers.Embedding(10, 3, mask_zero=True)(inp)
    h = keras.layers.LSTM(4, recurrent_activation=HS)(h)
    out = keras.layers.Dense(1, activation="sigmoid")(h)
    model = keras.Model(inp, out)
    weights = [rng.uniform(-0.5, 0.5, size=w.shape).astype(np.float32) for w in model.get_weights()]
    model.set_weights(weights)
    model.compile(keras.optimizers.legacy.SGD(learning_rate=0.5), "mse")
    x = rng.integers(1, 10, size=(5, 6)).astype(np.int32)
    for b in range(5):
        x[b, 6 - b % 4 :] = 0  # right padding
    y = rng.random((5, 1)).astype(np.float32)
    loss = model.train_on_batch(x, y)
    arrays["train/x"], arrays["train/y"], arrays["train/loss"] = x, y, np.float32(loss)
    for i, w in enumerate(weights):
        arrays[f"train/w_{i}"] = w
    for i, w in enumerate(model.get_weights()):
        arrays[f"train/after_{i}"] = w


def record_h5_files(rng, arrays):
    keras.backend.clear_session()
    inp = keras.Input(shape=(4, 3))
    out = keras.layers.GRU(2, reset_after=True, return_sequences=True)(inp)
    model = keras.Model(inp, keras.layers.Dense(1)(out))
    model.set_weights(
        [rng.uniform(-0.6, 0.6, size=w.shape).astype(np.float32) for w in model.get_weights()]
    )
    x = rng.normal(size=(3, 4, 3)).astype(np.float32)
    arrays["h5gru/x"], arrays["h5gru/y"] = x, model.predict(x, verbose=0)
    model.save(os.path.join(OUT_DIR, "rnn_gru_tfk.h5"))

    keras.backend.clear_session()
    inp = keras.Input(shape=(4, 3))
    out = keras.layers.Bidirectional(keras.layers.LSTM(2, recurrent_activation=HS))(inp)
    model = keras.Model(inp, out)
    model.set_weights(
        [rng.uniform(-0.6, 0.6, size=w.shape).astype(np.float32) for w in model.get_weights()]
    )
    arrays["h5bi/x"], arrays["h5bi/y"] = x, model.predict(x, verbose=0)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "w.h5")
        model.save_weights(path)
        os.replace(path, os.path.join(OUT_DIR, "rnn_bilstm_tfk_weights.h5"))


def main():
    rng = np.random.default_rng(2024)
    arrays, cases = {}, {}
    for name, case in CASES.items():
        cases[name] = record_case(name, case, rng, arrays)
    record_train_step(rng, arrays)
    record_h5_files(rng, arrays)
    with open(os.path.join(OUT_DIR, "rnn_cases.json"), "w") as f:
        json.dump(cases, f, indent=1, sort_keys=True)
        f.write("\n")
    np.savez_compressed(os.path.join(OUT_DIR, "rnn_values.npz"), **arrays)
    print(f"wrote {len(cases)} cases, {len(arrays)} arrays")


if __name__ == "__main__":
    main()
