"""Golden loss curve of a Keras 2 mnist_cnn-style model, made with real Keras (tf-keras).

Run in a virtualenv with tensorflow-cpu 2.21 and tf-keras 2.21:
    python tools/make_cnn_curve_fixture.py
Writes tests/fixtures/cnn_curve.npz: initial weights (get_weights order), 6 batches of 16
12x12x1 images with one-hot targets, the loss and accuracy of each train_on_batch step
(values before each update) and the final weights. The architecture is mnist_cnn's at a
smaller size; its Dropout layers have rate 0 so that the comparison is deterministic. Adadelta
(lr=1.0, rho=0.95, epsilon=1e-8) has the same update formula in tf-keras's legacy optimizer
and in Keras 2.0.5.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tf_keras as keras

OUT = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "cnn_curve.npz"


def main() -> None:
    keras.utils.set_random_seed(5)
    L = keras.layers
    model = keras.Sequential([
        L.Conv2D(8, (3, 3), activation="relu", input_shape=(12, 12, 1)),
        L.Conv2D(16, (3, 3), activation="relu"),
        L.MaxPooling2D(pool_size=(2, 2)),
        L.Dropout(0.0),
        L.Flatten(),
        L.Dense(32, activation="relu"),
        L.Dropout(0.0),
        L.Dense(10, activation="softmax"),
    ])  # fmt: skip
    model.compile(keras.optimizers.legacy.Adadelta(learning_rate=1.0, rho=0.95, epsilon=1e-8),
                  "categorical_crossentropy", metrics=["accuracy"])  # fmt: skip
    rng = np.random.RandomState(2)
    x = rng.rand(6, 16, 12, 12, 1).astype("float32")
    y = np.eye(10, dtype="float32")[rng.randint(0, 10, (6, 16))]
    arrays = {"x": x, "y": y}
    for i, w in enumerate(model.get_weights()):
        arrays[f"init_{i}"] = w
    arrays["steps"] = np.asarray([model.train_on_batch(x[i], y[i]) for i in range(len(x))])
    for i, w in enumerate(model.get_weights()):
        arrays[f"final_{i}"] = w
    np.savez(OUT, **arrays)


if __name__ == "__main__":
    main()
