"""Golden files for restoring optimizer state: recurrent models and tf-keras's current
(non-legacy) optimizers, made by real Keras (tf-keras 2.21).

What it makes (tests/fixtures/optstate/)
----------------------------------------
For each case, ``<case>.h5`` is what ``model.save`` wrote after a few training steps, and
``<case>.npz`` holds:

* ``x``, ``y``: the training batch;
* ``predict``: the model's predictions for ``x`` when the file was written;
* ``next_outs``: the loss ``train_on_batch(x, y)`` returned on the step *after* the save;
* ``next_w<i>``: ``model.get_weights()`` after that step.

Loading ``<case>.h5`` and taking that step must give ``next_w``: it does only when every
slot (Adam's m and v, ...) and counter lands on the right variable.

Cases
-----
Recurrent layers, whose tf-keras weight names carry the cell (``lstm/lstm_cell/kernel``,
``bidirectional/forward_gru/gru_cell/bias``) where Keras 2.0.5's do not, each with the
legacy Adam (``Adam/lstm/lstm_cell/kernel/m:0``) and the current one
(``Adam/m/lstm/lstm_cell/kernel:0``, slots interleaved per weight):

* ``lstm_{legacy,current}_adam``: LSTM(4) over 3 features, Dense;
* ``gru_{legacy,current}_adam``: GRU(4) (``reset_after``), Dense;
* ``bigru_{legacy,current}_adam``: Bidirectional(GRU(3)), Dense;
* ``simplernn_{legacy,current}_adam``: SimpleRNN(4), Dense;
* ``lstm_square_current_adam``: LSTM(4, use_bias=False) over 4 features and nothing
  else, so that both weights have one shape: a reading of the interleaved slots
  (m, v of the kernel, then of the recurrent kernel) as the legacy layout (every m, then
  every v) would fit every shape and still be wrong.

tf-keras's current optimizers on an LSTM model (the layouts and formulas that differ
from the legacy ones):

* ``lstm_current_{sgd,adamax,adadelta}``: SGD with momentum (slot ``m``), Adamax
  (``m``, ``u`` interleaved), Adadelta (``accumulated_grad``, ``accumulated_delta_var``);
* ``lstm_current_nadam``: Nadam, whose momentum schedule is ``beta_1 * (1 - 0.5 * 0.96 **
  t)`` (Keras 2.0.5's with ``schedule_decay=1``) and whose running product of it is not
  saved. Trained with ``run_eagerly=True``: in a compiled train step tf-keras advances
  that product once per weight rather than once per step (its step counter is a Python
  int read while tracing), so the compiled steps follow no fixed formula; eager steps
  follow the one the class defines.
* ``lstm_current_rmsprop``, ``lstm_current_adagrad``: RMSprop and Adagrad, which add
  epsilon inside the square root (Keras 2.0.5 outside); their ``next_w`` is tf-keras's.

How to run
----------
TensorFlow is needed only here, never by the test suite::

    cd <repo root> && /work/venv-tf/bin/python tools/make_rnn_optimizer_fixtures.py [case ...]

The run is deterministic (fixed seeds, CPU only).

Keras 2.0.5 -> tf-keras mappings applied
----------------------------------------
* Recurrent layers get ``recurrent_activation="sigmoid"`` and GRU ``reset_after=True``,
  tf-keras's defaults, which the saved config records.
* Learning rates are large enough (0.05) that one step moves every weight visibly, and
  the batch is the same before and after the save.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_DETERMINISTIC_OPS", "1")
os.environ["CUDA_VISIBLE_DEVICES"] = ""

import numpy as np  # noqa: E402
import tf_keras as keras  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "optstate"
STEPS_BEFORE_SAVE = 3
TIMESTEPS, BATCH = 4, 6


def _model(kind: str, features: int = 3) -> keras.Model:
    layers = keras.layers
    if kind == "lstm_square":
        return keras.Sequential([
            keras.Input(shape=(TIMESTEPS, features)),
            layers.LSTM(4, recurrent_activation="sigmoid", use_bias=False, name="lstm"),
        ])  # fmt: skip
    rnn = {
        "lstm": lambda: layers.LSTM(4, recurrent_activation="sigmoid", name="lstm"),
        "gru": lambda: layers.GRU(4, recurrent_activation="sigmoid", reset_after=True, name="gru"),
        "bigru": lambda: layers.Bidirectional(
            layers.GRU(3, recurrent_activation="sigmoid", reset_after=True, name="gru"),
            name="bidirectional"),
        "simplernn": lambda: layers.SimpleRNN(4, name="simple_rnn"),
    }[kind]()  # fmt: skip
    return keras.Sequential([
        keras.Input(shape=(TIMESTEPS, features)),
        rnn,
        layers.Dense(2, activation="tanh", name="out"),
    ])  # fmt: skip


def _case(name: str, kind: str, optimizer, features: int = 3, eager: bool = False,
          seed: int = 0) -> None:  # fmt: skip
    keras.utils.set_random_seed(seed)
    model = _model(kind, features)
    model.compile(optimizer, "mse", run_eagerly=eager)
    r = np.random.RandomState(seed + 100)
    x = r.uniform(-1, 1, (BATCH, TIMESTEPS, features)).astype("float32")
    y = r.uniform(-0.9, 0.9, (BATCH, 4 if kind == "lstm_square" else 2)).astype("float32")
    for _ in range(STEPS_BEFORE_SAVE):
        model.train_on_batch(x, y)
    model.save(str(OUT / f"{name}.h5"))
    arrays = {"x": x, "y": y, "predict": model.predict(x, verbose=0)}
    arrays["next_outs"] = np.asarray([model.train_on_batch(x, y)], dtype="float64")
    for i, w in enumerate(model.get_weights()):
        arrays[f"next_w{i}"] = w
    np.savez(OUT / f"{name}.npz", **arrays)


def _cases() -> dict:
    """Case name -> (model kind, optimizer factory, input features, run eagerly)."""
    legacy, current = keras.optimizers.legacy, keras.optimizers

    def adam(api):
        return lambda: api.Adam(learning_rate=0.05)

    cases = {"lstm_square_current_adam": ("lstm_square", adam(current), 4, False)}
    for kind in ("lstm", "gru", "bigru", "simplernn"):
        cases[f"{kind}_legacy_adam"] = (kind, adam(legacy), 3, False)
        cases[f"{kind}_current_adam"] = (kind, adam(current), 3, False)
    for name, make in [
        ("sgd", lambda: current.SGD(learning_rate=0.1, momentum=0.9)),
        ("adamax", lambda: current.Adamax(learning_rate=0.05)),
        ("adadelta", lambda: current.Adadelta(learning_rate=1.0)),
        ("nadam", lambda: current.Nadam(learning_rate=0.05)),
        ("rmsprop", lambda: current.RMSprop(learning_rate=0.01)),
        ("adagrad", lambda: current.Adagrad(learning_rate=0.1)),
    ]:  # fmt: skip
        cases[f"lstm_current_{name}"] = ("lstm", make, 3, name == "nadam")
    return cases


def main(names: list[str]) -> None:
    """Makes the named cases (all without names)."""
    OUT.mkdir(parents=True, exist_ok=True)
    cases = _cases()
    for name in names or cases:
        kind, make, features, eager = cases[name]
        _case(name, kind, make(), features, eager)


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
