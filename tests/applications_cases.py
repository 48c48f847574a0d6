"""Shared by tools/make_applications_fixtures.py (tf-keras) and tests/test_applications.py
(kgraph): the golden cases and the deterministic weights both sides load, so that only
inputs and outputs need to be stored."""

from __future__ import annotations

import numpy as np

# model -> (input shape without the batch axis, batch size) of the golden predictions.
GOLDEN = {
    "VGG16": ((48, 48, 3), 2),
    "VGG19": ((48, 48, 3), 1),
    "InceptionV3": ((139, 139, 3), 1),
    "Xception": ((71, 71, 3), 1),
}


def deterministic_weight(index: int, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """Weight number `index` of a model (in layer order): He-scaled kernels keep the
    activations of a deep network of order one; BatchNormalization statistics are sane."""
    rng = np.random.RandomState(1000 + index)
    u = rng.uniform(-1.0, 1.0, size=shape)
    short = name.split("/")[-1].split(":")[0]
    if short in ("gamma", "moving_variance"):
        return (1.0 + 0.5 * u).astype("float32")
    if short in ("beta", "moving_mean", "bias"):
        return (0.1 * u).astype("float32")
    fan_in = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
    return (u * np.sqrt(6.0 / fan_in)).astype("float32")


def set_deterministic(model) -> None:
    """Loads `deterministic_weight` into every layer of a kgraph or tf-keras model."""
    index = 0
    for layer in model.layers:
        values = []
        for w in layer.weights:
            values.append(deterministic_weight(index, w.name, tuple(w.shape)))
            index += 1
        if values:
            layer.set_weights(values)


def golden_input(model_name: str) -> np.ndarray:
    shape, batch = GOLDEN[model_name]
    return np.random.RandomState(7).uniform(-1.0, 1.0, size=(batch, *shape)).astype("float32")


# The input of the stored VGG16 block1 (built for any size, so a small one suffices).
BLOCK1_INPUT = np.random.RandomState(8).uniform(0.0, 1.0, size=(1, 16, 16, 3)).astype("float32")
