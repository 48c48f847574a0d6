"""Keras 2's getting-started flow with kgraph, then export to ONNX.

Trains an MLP on scikit-learn's handwritten digits (8x8 images, bundled with the package:
nothing is downloaded), evaluates it, exports it to `digits_mlp.onnx`, and checks that a
plain onnxruntime session (no kgraph involved) gives the same predictions.

Run: python examples/quickstart.py
"""

from __future__ import annotations

import os
import sys
import tempfile

import numpy as np
import onnxruntime as ort
from sklearn.datasets import load_digits

import kgraph as keras
from kgraph.layers import Dense, Dropout
from kgraph.models import Sequential


def load_data(seed: int = 0):
    digits = load_digits()
    x = (digits.data / 16.0).astype("float32")
    y = keras.utils.to_categorical(digits.target, 10)
    order = np.random.RandomState(seed).permutation(len(x))
    x, y = x[order], y[order]
    split = int(0.8 * len(x))
    return (x[:split], y[:split]), (x[split:], y[split:])


def build_model() -> Sequential:
    model = Sequential()
    model.add(Dense(64, activation="relu", input_dim=64))
    model.add(Dropout(0.2))
    model.add(Dense(64, activation="relu"))
    model.add(Dropout(0.2))
    model.add(Dense(10, activation="softmax"))
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def main(epochs: int = 20, verbose: int = 2, out_dir: str | None = None) -> float:
    np.random.seed(1234)
    (x_train, y_train), (x_test, y_test) = load_data()
    model = build_model()
    model.summary()
    model.fit(x_train, y_train, epochs=epochs, batch_size=32, validation_split=0.1, verbose=verbose)
    loss, acc = model.evaluate(x_test, y_test, batch_size=128, verbose=0)
    print(f"test loss {loss:.4f}, test accuracy {acc:.4f}")

    out_dir = out_dir or tempfile.mkdtemp(prefix="kgraph-quickstart-")
    path = os.path.join(out_dir, "digits_mlp.onnx")
    model.export(path)
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    feed = {session.get_inputs()[0].name: x_test}
    exported = session.run(None, feed)[0]
    ours = model.predict(x_test)
    np.testing.assert_allclose(exported, ours, rtol=1e-5, atol=1e-6)
    print(f"exported {path}: onnxruntime predictions match kgraph's "
          f"(max abs diff {np.abs(exported - ours).max():.2e})")  # fmt: skip
    return acc


if __name__ == "__main__":
    sys.exit(0 if main() > 0.9 else 1)
