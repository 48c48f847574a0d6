"""Inception V3 (Szegedy et al., 2015) with Keras 2.0.5's layers, names and ImageNet weights.

Reference: "Rethinking the Inception Architecture for Computer Vision",
https://arxiv.org/abs/1512.00567. The weights expect this module's `preprocess_input`
(pixels scaled to [-1, 1]), not the 'caffe' one of VGG and ResNet.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from kgraph import _config
from kgraph.applications import imagenet_utils as _iu
from kgraph.applications.imagenet_utils import decode_predictions
from kgraph.engine.training import Model
from kgraph.layers import (
    Activation,
    AveragePooling2D,
    BatchNormalization,
    Conv2D,
    MaxPooling2D,
    concatenate,
)

__all__ = ["InceptionV3", "decode_predictions", "preprocess_input"]

SPEC = _iu.ModelSpec(
    "inception_v3",
    299,
    139,
    "inception_v3_weights_tf_dim_ordering_tf_kernels",
    "v0.5",
    ("9a0d58056eeedaa3f26cb7ebd46da564", "bcbd6486424b2319ff4ef7d526e38f63"),
)


def _channel_axis() -> int:
    return 1 if _config.image_data_format() == "channels_first" else 3


def conv2d_bn(x: Any, filters: int, num_row: int, num_col: int, padding: str = "same",
              strides: tuple[int, int] = (1, 1), name: str | None = None) -> Any:  # fmt: skip
    """A convolution without bias, a BatchNormalization without scale, and a ReLU; named
    `name + '_conv'`, `name + '_bn'` and `name` when `name` is given."""
    x = Conv2D(filters, (num_row, num_col), strides=strides, padding=padding, use_bias=False,
               name=None if name is None else name + "_conv")(x)  # fmt: skip
    x = BatchNormalization(axis=_channel_axis(), scale=False,
                           name=None if name is None else name + "_bn")(x)  # fmt: skip
    return Activation("relu", name=name)(x)


def _avg_pool_branch(x: Any, filters: int) -> Any:
    x = AveragePooling2D((3, 3), strides=(1, 1), padding="same")(x)
    return conv2d_bn(x, filters, 1, 1)


def _chain(x: Any, convs: Sequence[tuple[int, int, int]]) -> Any:
    for filters, rows, cols in convs:
        x = conv2d_bn(x, filters, rows, cols)
    return x


def _mixed_35(x: Any, pool_filters: int, name: str) -> Any:
    """A 35x35 module (mixed0-2): 1x1, 5x5, double 3x3 and pooled branches."""
    branches = [
        conv2d_bn(x, 64, 1, 1),
        _chain(x, [(48, 1, 1), (64, 5, 5)]),
        _chain(x, [(64, 1, 1), (96, 3, 3), (96, 3, 3)]),
        _avg_pool_branch(x, pool_filters),
    ]
    return concatenate(branches, axis=_channel_axis(), name=name)


def _mixed_17(x: Any, width: int, name: str) -> Any:
    """A 17x17 module (mixed4-7): factorized 7x7 branches `width` filters wide."""
    branches = [
        conv2d_bn(x, 192, 1, 1),
        _chain(x, [(width, 1, 1), (width, 1, 7), (192, 7, 1)]),
        _chain(x, [(width, 1, 1), (width, 7, 1), (width, 1, 7), (width, 7, 1), (192, 1, 7)]),
        _avg_pool_branch(x, 192),
    ]
    return concatenate(branches, axis=_channel_axis(), name=name)


def _mixed_8(x: Any, i: int) -> Any:
    """An 8x8 module (mixed9-10) with split 1x3 / 3x1 branches."""
    axis = _channel_axis()
    branch1x1 = conv2d_bn(x, 320, 1, 1)
    branch3x3 = conv2d_bn(x, 384, 1, 1)
    branch3x3 = concatenate([conv2d_bn(branch3x3, 384, 1, 3), conv2d_bn(branch3x3, 384, 3, 1)],
                            axis=axis, name=f"mixed9_{i}")  # fmt: skip
    branch3x3dbl = _chain(x, [(448, 1, 1), (384, 3, 3)])
    branch3x3dbl = concatenate(
        [conv2d_bn(branch3x3dbl, 384, 1, 3), conv2d_bn(branch3x3dbl, 384, 3, 1)], axis=axis
    )
    branch_pool = _avg_pool_branch(x, 192)
    return concatenate([branch1x1, branch3x3, branch3x3dbl, branch_pool], axis=axis,
                       name=f"mixed{9 + i}")  # fmt: skip


def InceptionV3(include_top: bool = True, weights: str | None = "imagenet",
                input_tensor: Any = None, input_shape: Sequence[int | None] | None = None,
                pooling: str | None = None, classes: int = 1000) -> Model:  # noqa: N802  # fmt: skip
    """Instantiates the Inception v3 architecture, optionally with its ImageNet weights.

    Works with both image data formats; the input size is 299x299 with the classifier on
    top, and at least 139x139 without it.

    Arguments, return value and errors as for `VGG16` (with `pooling=None` the 4D output
    of 'mixed10'); the model is named 'inception_v3'.

    Example:
        ```python
        model = InceptionV3(weights='imagenet')
        print(decode_predictions(model.predict(preprocess_input(x)))[0])
        ```
    """
    img_input = _iu._start(SPEC, include_top, weights, input_tensor, input_shape, pooling, classes)
    axis = _channel_axis()
    x = conv2d_bn(img_input, 32, 3, 3, strides=(2, 2), padding="valid")
    x = conv2d_bn(x, 32, 3, 3, padding="valid")
    x = conv2d_bn(x, 64, 3, 3)
    x = MaxPooling2D((3, 3), strides=(2, 2))(x)
    x = conv2d_bn(x, 80, 1, 1, padding="valid")
    x = conv2d_bn(x, 192, 3, 3, padding="valid")
    x = MaxPooling2D((3, 3), strides=(2, 2))(x)

    for i, pool_filters in enumerate((32, 64, 64)):
        x = _mixed_35(x, pool_filters, name=f"mixed{i}")

    branch3x3 = conv2d_bn(x, 384, 3, 3, strides=(2, 2), padding="valid")
    branch3x3dbl = _chain(x, [(64, 1, 1), (96, 3, 3)])
    branch3x3dbl = conv2d_bn(branch3x3dbl, 96, 3, 3, strides=(2, 2), padding="valid")
    branch_pool = MaxPooling2D((3, 3), strides=(2, 2))(x)
    x = concatenate([branch3x3, branch3x3dbl, branch_pool], axis=axis, name="mixed3")

    for i, width in enumerate((128, 160, 160, 192)):
        x = _mixed_17(x, width, name=f"mixed{4 + i}")

    branch3x3 = conv2d_bn(x, 192, 1, 1)
    branch3x3 = conv2d_bn(branch3x3, 320, 3, 3, strides=(2, 2), padding="valid")
    branch7x7x3 = _chain(x, [(192, 1, 1), (192, 1, 7), (192, 7, 1)])
    branch7x7x3 = conv2d_bn(branch7x7x3, 192, 3, 3, strides=(2, 2), padding="valid")
    branch_pool = MaxPooling2D((3, 3), strides=(2, 2))(x)
    x = concatenate([branch3x3, branch7x7x3, branch_pool], axis=axis, name="mixed8")

    for i in range(2):
        x = _mixed_8(x, i)

    return _iu._finish(SPEC, x, img_input, input_tensor, include_top, weights, pooling,
                       _iu._average_classifier(classes))  # fmt: skip


def preprocess_input(x: np.ndarray) -> np.ndarray:
    """Scales RGB pixels in [0, 255] to [-1, 1], as the InceptionV3 and Xception weights
    expect (in place for a float array, as in Keras 2.0.5)."""
    x /= 255.0
    x -= 0.5
    x *= 2.0
    return x
