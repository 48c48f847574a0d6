"""A Keras 2 mnist_cnn-style model follows Keras's loss curve from identical weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kgraph import optimizers
from kgraph.layers import Conv2D, Dense, Dropout, Flatten, MaxPooling2D
from kgraph.models import Sequential

FIX = Path(__file__).parent / "fixtures" / "cnn_curve.npz"


def test_mnist_cnn_style_loss_curve_matches_keras():
    data = np.load(FIX)
    model = Sequential([
        Conv2D(8, (3, 3), activation="relu", input_shape=(12, 12, 1)),
        Conv2D(16, (3, 3), activation="relu"),
        MaxPooling2D(pool_size=(2, 2)),
        Dropout(0.0),
        Flatten(),
        Dense(32, activation="relu"),
        Dropout(0.0),
        Dense(10, activation="softmax"),
    ])  # fmt: skip
    model.compile(optimizers.Adadelta(lr=1.0, rho=0.95, epsilon=1e-8), "categorical_crossentropy", metrics=["accuracy"])
    n = len(model.get_weights())
    model.set_weights([data[f"init_{i}"] for i in range(n)])
    steps = np.asarray([model.train_on_batch(data["x"][i], data["y"][i]) for i in range(len(data["x"]))])
    np.testing.assert_allclose(steps, data["steps"], rtol=1e-5, atol=1e-6)
    for i, w in enumerate(model.get_weights()):
        np.testing.assert_allclose(w, data[f"final_{i}"], rtol=1e-4, atol=1e-5)
