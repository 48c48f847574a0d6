"""Writes HDF5 weight files with real Keras (tf-keras) for kgraph's loader tests.

Run in a virtualenv with tensorflow-cpu 2.21 and tf-keras 2.21:
    python tools/make_h5_fixtures.py
Writes tests/fixtures/h5/tfkeras_mlp_weights.h5 (Keras 2 layout, `save_weights`) and
tfkeras_mlp_expected.npz (inputs and tf-keras predictions). The model is
Dense(5, relu, input_dim=4) - Dropout(0.5) - Dense(3, softmax), named dense_a/drop/dense_b.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tf_keras as keras

OUT = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "h5"


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(7)
    model = keras.Sequential([
        keras.layers.Dense(5, activation="relu", input_dim=4, name="dense_a"),
        keras.layers.Dropout(0.5, name="drop"),
        keras.layers.Dense(3, activation="softmax", name="dense_b"),
    ])  # fmt: skip
    x = np.random.RandomState(0).rand(6, 4).astype("float32")
    model.save_weights(str(OUT / "tfkeras_mlp_weights.h5"))
    np.savez(OUT / "tfkeras_mlp_expected.npz", x=x, predict=model.predict(x, verbose=0))


if __name__ == "__main__":
    main()
