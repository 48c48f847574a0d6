"""The arithmetic a training step cannot avoid: FLOPs of the matrix products per sample.

Every system runs the same products (a forward product per weight matrix, then the weight
gradient and, unless only data lies below the layer, the input gradient), so their count
over the machine's peak GEMM rate is a ceiling on training throughput that no system's
engineering can pass; elementwise work, pooling and the optimizer's update only add to
the time. The report sets this ceiling beside PERF.md's targets.

The count walks a Sequential model's layers: a Dense or convolution kernel is applied at
every output position, a recurrent layer's kernels at every time step; an Embedding's
table is a lookup, not a product.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["training_flops"]

_RECURRENT = ("SimpleRNN", "GRU", "LSTM")
_NO_PRODUCT = ("Embedding",)


def _positions(layer: Any) -> int:
    """How many times each kernel of `layer` is applied per sample."""
    name = type(layer).__name__
    if name in _RECURRENT:
        return int(layer.input_shape[1])
    out = layer.output_shape
    spatial = out[2:] if getattr(layer, "data_format", None) == "channels_first" else out[1:-1]
    return math.prod(int(d) for d in spatial)


def _forward_macs(layer: Any) -> int:
    name = type(layer).__name__
    kernels = [w for w in layer.weights if len(w.shape) >= 2]
    if not kernels or name in _NO_PRODUCT:
        return 0
    if name not in ("Dense", *_RECURRENT) and not name.startswith("Conv"):
        raise ValueError(
            f"benchmarks.flops counts Dense, Conv*, {', '.join(_RECURRENT)} and "
            f"{', '.join(_NO_PRODUCT)}; layer {layer.name!r} is a {name}"
        )
    return _positions(layer) * sum(math.prod(int(d) for d in k.shape) for k in kernels)


def training_flops(model: Any) -> float:
    """FLOPs of one training sample's matrix products (2 per multiply-add)."""
    macs = 0
    below_trainable = False  # is any trainable weight below this layer (input gradient needed)?
    for layer in model.layers:
        forward = _forward_macs(layer)
        macs += forward * (3 if below_trainable else 2)
        below_trainable = below_trainable or bool(layer.trainable_weights)
    return 2.0 * macs
