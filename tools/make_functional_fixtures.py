"""Golden data for a two-input / two-output functional model, made with real Keras.

Run in a virtualenv with tensorflow-cpu 2.21 and tf-keras 2.21 (no TensorFlow needed by CI):
    python tools/make_functional_fixtures.py
Writes tests/fixtures/functional_two_io.npz and .json: initial weights per layer, inputs and
targets, predictions, the outputs of one train_on_batch step and the weights after it, and
the History of a short fit with a validation split. Keras 2.0.5's names are recorded
(tf-keras calls 'accuracy' what 2.0.5 calls 'acc'); the model uses only operations whose
formulas agree between 2.0.5 and tf-keras (SGD, sigmoid/softmax cross-entropies).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import tf_keras as keras

OUT = Path(__file__).resolve().parents[1] / "tests" / "fixtures"


def build():
    main_in = keras.Input(shape=(4,), name="main_input")
    aux_in = keras.Input(shape=(4,), name="aux_input")
    shared = keras.layers.Dense(5, activation="tanh", name="shared")
    a, b = shared(main_in), shared(aux_in)
    merged = keras.layers.concatenate([a, b], name="merge")
    hidden = keras.layers.Dense(6, activation="relu", name="hidden")(merged)
    main_out = keras.layers.Dense(1, activation="sigmoid", name="main_output")(hidden)
    aux_out = keras.layers.Dense(3, activation="softmax", name="aux_output")(b)
    model = keras.Model(inputs=[main_in, aux_in], outputs=[main_out, aux_out])
    model.compile(
        optimizer=keras.optimizers.legacy.SGD(learning_rate=0.1),
        loss={"main_output": "binary_crossentropy", "aux_output": "categorical_crossentropy"},
        loss_weights={"main_output": 1.0, "aux_output": 0.2},
        metrics=["accuracy"],
    )
    return model


def main() -> None:
    keras.utils.set_random_seed(11)
    rng = np.random.RandomState(3)
    n = 20
    xm, xa = rng.rand(n, 4).astype("float32"), rng.rand(n, 4).astype("float32")
    ym = (rng.rand(n, 1) > 0.5).astype("float32")
    ya = np.eye(3, dtype="float32")[rng.randint(0, 3, n)]
    model = build()
    init = {la.name: [w.numpy() for w in la.weights] for la in model.layers}
    arrays = {"xm": xm, "xa": xa, "ym": ym, "ya": ya}
    for name, ws in init.items():
        for i, w in enumerate(ws):
            arrays[f"init/{name}/{i}"] = w
    pm, pa = model.predict([xm, xa], verbose=0)
    arrays["predict_main"], arrays["predict_aux"] = pm, pa
    arrays["step"] = np.asarray(model.train_on_batch([xm[:8], xa[:8]], [ym[:8], ya[:8]]))
    for la in model.layers:
        for i, w in enumerate(la.weights):
            arrays[f"after/{la.name}/{i}"] = w.numpy()
    fresh = build()
    for la in fresh.layers:
        la.set_weights(init[la.name])
    history = fresh.fit([xm, xa], [ym, ya], batch_size=8, epochs=2, shuffle=False, validation_split=0.25, verbose=0)
    keys = {}
    for key, values in history.history.items():
        old = key.replace("accuracy", "acc")
        keys[old] = key
        arrays[f"history/{old}"] = np.asarray(values)
    meta = {
        "layers": [la.name for la in model.layers],
        "metrics_names": [m.replace("accuracy", "acc") for m in model.metrics_names],
        "history_keys": sorted(keys),
        "made_with": {"tf_keras": keras.__version__},
    }
    np.savez(OUT / "functional_two_io.npz", **arrays)
    (OUT / "functional_two_io.json").write_text(json.dumps(meta, indent=1) + "\n")


if __name__ == "__main__":
    main()
