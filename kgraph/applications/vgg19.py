"""VGG19 (Simonyan & Zisserman, 2014) with Keras 2.0.5's layers, names and ImageNet weights.

VGG16 with four convolutions in each of the last three blocks; see `vgg16`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kgraph.applications.imagenet_utils import ModelSpec, decode_predictions, preprocess_input
from kgraph.applications.vgg16 import build_vgg
from kgraph.engine.training import Model

__all__ = ["VGG19", "decode_predictions", "preprocess_input"]

SPEC = ModelSpec("vgg19", 224, 48, "vgg19_weights_tf_dim_ordering_tf_kernels", "v0.1",
                 ("cbe5617147190e668d6c5d5026f83318", "253f8cb515780f3b799900260a226db6"))  # fmt: skip


def VGG19(include_top: bool = True, weights: str | None = "imagenet", input_tensor: Any = None,
          input_shape: Sequence[int | None] | None = None, pooling: str | None = None,
          classes: int = 1000) -> Model:  # noqa: N802  # fmt: skip
    """Instantiates the VGG19 architecture, optionally with its ImageNet weights.

    Arguments, sizes (224x224 with the top, at least 48x48 without) and errors as for
    `VGG16`; the model is named 'vgg19'.

    Example:
        ```python
        features = VGG19(include_top=False, weights='imagenet', pooling='avg')
        ```
    """
    return build_vgg(SPEC, (2, 2, 4, 4, 4), include_top, weights, input_tensor, input_shape,
                     pooling, classes)  # fmt: skip
