"""Weights from older Keras files, converted to the Keras 2 layout before they are assigned.

A weight file without a `keras_version` attribute comes from Keras 1 (KERAS_API.md 7.3):
- Conv kernels may be in Theano's layout (filters, stack, *kernel) and Keras 1.1's Conv1D
  in (filters, input_dim, length, 1); Keras 1.2's Conv1D keeps a unit axis.
- GRU stored 9 arrays (W, U, b per gate z, r, h); LSTM 12 arrays in gate order i, c, f, o.
  Keras 2 concatenates them into kernel, recurrent_kernel and bias with gates i, f, c, o.
- Wrappers (Bidirectional, TimeDistributed) and nested models convert what they hold.

Any version: a conv kernel whose shape differs from the layer's is transposed
(3, 2, 0, 1), and a conv kernel trained with Theano, which convolves with the kernel
flipped, is flipped on its spatial axes to serve kgraph's cross-correlation (ONNX Conv).
"""

from __future__ import annotations

from typing import Any

import numpy as np

_CONV = ("Conv1D", "Conv2D", "Conv3D", "Conv2DTranspose", "ConvLSTM2D")
# Flipping the kernel turns Theano's convolution into the cross-correlation that the other
# backends (TensorFlow, CNTK, ONNX) compute.
_FLIPPING_BACKENDS = ("theano",)


def file_origin(group: Any) -> tuple[str, str | None]:
    """(keras_version, backend) of a weight group; a file without a version is Keras 1."""
    from kgraph.engine.saving import attr_text

    version = attr_text(group, "keras_version")
    return ("1" if version is None else version), attr_text(group, "backend")


def flip_kernel(kernel: np.ndarray) -> np.ndarray:
    """Reverses every spatial axis of a (*kernel, in, out) conv kernel."""
    spatial = tuple(slice(None, None, -1) for _ in range(kernel.ndim - 2))
    return np.ascontiguousarray(kernel[spatial + (slice(None), slice(None))])


def _gates(weights: list[np.ndarray], order: tuple[int, ...]) -> list[np.ndarray]:
    """Per-gate (W, U, b) triples, concatenated in `order` into kernel, recurrent, bias."""
    return [np.concatenate([weights[3 * g + part] for g in order], axis=-1) for part in range(3)]


def _split_nested(layer: Any, weights: list[np.ndarray], version: str, backend: str | None) -> list:
    """A nested model's weights: its trainable weights first, then the non-trainable ones,
    each in the order of its layers."""
    trainable = list(weights[: len(layer.trainable_weights)])
    frozen = list(weights[len(layer.trainable_weights) :])
    new_trainable, new_frozen = [], []
    for sub in layer.layers:
        n_t, n_f = len(sub.trainable_weights), len(sub.non_trainable_weights)
        if not sub.weights:
            continue
        done = convert_weights(sub, trainable[:n_t] + frozen[:n_f], version, backend)
        new_trainable.extend(done[:n_t])
        new_frozen.extend(done[n_t:])
        trainable, frozen = trainable[n_t:], frozen[n_f:]
    return new_trainable + new_frozen


def _keras1(layer: Any, kind: str, weights: list[np.ndarray]) -> list[np.ndarray]:
    channels_first = getattr(layer, "data_format", None) == "channels_first"
    if kind == "Conv1D":
        shape = weights[0].shape
        if shape[:2] != (layer.kernel_size[0], 1) or shape[3] != layer.filters:
            if shape[0] != layer.filters or shape[2:] != (layer.kernel_size[0], 1):
                raise ValueError(
                    f"Layer {layer.name} (Conv1D): the Keras 1 kernel has shape {shape}; expected "
                    f"({layer.kernel_size[0]}, 1, in, {layer.filters}) or "
                    f"({layer.filters}, in, {layer.kernel_size[0]}, 1)"
                )
            weights[0] = np.transpose(weights[0], (2, 3, 1, 0))
        weights[0] = weights[0][:, 0, :, :]
    elif kind == "Conv2D" and channels_first:
        weights[0] = np.transpose(weights[0], (2, 3, 1, 0))
    elif kind == "Conv2DTranspose":
        weights[0] = np.transpose(weights[0], (2, 3, 0, 1) if channels_first else (0, 1, 3, 2))
    elif kind == "Conv3D" and channels_first:
        weights[0] = np.transpose(weights[0], (2, 3, 4, 1, 0))
    elif kind == "GRU" and len(weights) == 9:
        weights = _gates(weights, (0, 1, 2))
    elif kind in ("LSTM", "ConvLSTM2D") and len(weights) == 12:
        if kind == "ConvLSTM2D" and channels_first:
            # Theano's per-gate (filters, in, kh, kw) kernels, laid out before the gates are
            # joined on the filters axis (joining first would mix the kernel columns).
            weights = [np.transpose(w, (2, 3, 1, 0)) if w.ndim == 4 else w for w in weights]
        weights = _gates(weights, (0, 2, 1, 3))
    return weights


def convert_weights(layer: Any, weights: list[np.ndarray], version: str, backend: str | None) -> list:
    """The values of `layer`'s weights from a file written by Keras `version` on `backend`."""
    kind = type(layer).__name__
    weights = list(weights)
    if kind == "Bidirectional":
        half = len(weights) // 2
        weights = convert_weights(layer.forward_layer, weights[:half], version, backend) + (
            convert_weights(layer.backward_layer, weights[half:], version, backend)
        )
    elif kind == "TimeDistributed":
        weights = convert_weights(layer.layer, weights, version, backend)
    elif hasattr(layer, "_node_order"):  # a nested model
        weights = _split_nested(layer, weights, version, backend)
    if version == "1" or version.startswith("1."):
        weights = _keras1(layer, kind, weights)
    if kind in _CONV and weights:
        kernels = 2 if kind == "ConvLSTM2D" else 1
        if backend in _FLIPPING_BACKENDS:
            weights[:kernels] = [flip_kernel(w) for w in weights[:kernels]]
        if tuple(layer.weights[0].shape) != weights[0].shape and weights[0].ndim == 4:
            weights[:kernels] = [np.transpose(w, (3, 2, 0, 1)) for w in weights[:kernels]]
    return weights
