"""Xception (Chollet, 2016) with Keras 2.0.5's layers, names and ImageNet weights.

Reference: "Xception: Deep Learning with Depthwise Separable Convolutions",
https://arxiv.org/abs/1610.02357. As in Keras 2.0.5 the model is channels_last only: with
a channels_first default it warns and builds a channels_last model. The weights expect
`preprocess_input` (pixels scaled to [-1, 1]).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

from kgraph import _config
from kgraph.applications import imagenet_utils as _iu
from kgraph.applications.imagenet_utils import decode_predictions
from kgraph.applications.inception_v3 import preprocess_input
from kgraph.engine.training import Model
from kgraph.layers import (
    Activation,
    BatchNormalization,
    Conv2D,
    MaxPooling2D,
    SeparableConv2D,
    add,
)

__all__ = ["Xception", "decode_predictions", "preprocess_input"]

SPEC = _iu.ModelSpec("xception", 299, 71, "xception_weights_tf_dim_ordering_tf_kernels", "v0.4",
                     ("0a58e3b7378bc2990ea3b43d5981f1f6", "b0042744bf5b25fce3cb969f33bebb97"))  # fmt: skip


def _sepconv_bn(x: Any, filters: int, name: str) -> Any:
    x = SeparableConv2D(filters, (3, 3), padding="same", use_bias=False, name=name)(x)
    return BatchNormalization(name=name + "_bn")(x)


def _conv_bn_relu(x: Any, filters: int, name: str, strides: tuple[int, int] = (1, 1)) -> Any:
    x = Conv2D(filters, (3, 3), strides=strides, use_bias=False, name=name)(x)
    x = BatchNormalization(name=name + "_bn")(x)
    return Activation("relu", name=name + "_act")(x)


def _downsampling_block(x: Any, block: int, filters: tuple[int, int], relu_first: bool) -> Any:
    """Two separable convolutions and a strided max pooling, added to a strided 1x1
    convolution of the input (blocks 2, 3, 4 and 13)."""
    residual = Conv2D(filters[1], (1, 1), strides=(2, 2), padding="same", use_bias=False)(x)
    residual = BatchNormalization()(residual)
    prefix = f"block{block}_sepconv"
    if relu_first:
        x = Activation("relu", name=prefix + "1_act")(x)
    x = _sepconv_bn(x, filters[0], prefix + "1")
    x = Activation("relu", name=prefix + "2_act")(x)
    x = _sepconv_bn(x, filters[1], prefix + "2")
    x = MaxPooling2D((3, 3), strides=(2, 2), padding="same", name=f"block{block}_pool")(x)
    return add([x, residual])


def _middle_block(x: Any, block: int) -> Any:
    """Three ReLU + separable convolution steps of 728 filters added to the input."""
    residual = x
    for i in (1, 2, 3):
        x = Activation("relu", name=f"block{block}_sepconv{i}_act")(x)
        x = _sepconv_bn(x, 728, f"block{block}_sepconv{i}")
    return add([x, residual])


def Xception(include_top: bool = True, weights: str | None = "imagenet", input_tensor: Any = None,
             input_shape: Sequence[int | None] | None = None, pooling: str | None = None,
             classes: int = 1000) -> Model:  # noqa: N802  # fmt: skip
    """Instantiates the Xception architecture, optionally with its ImageNet weights.

    channels_last only (a channels_first default is overridden with a warning while the
    model is built); the input size is 299x299 with the classifier on top, and at least
    71x71 without it.

    Arguments, return value and errors as for `VGG16` (with `pooling=None` the 4D output
    of the last block); the model is named 'xception'.

    Example:
        ```python
        model = Xception(weights='imagenet')
        print(decode_predictions(model.predict(preprocess_input(x)))[0])
        ```
    """
    old_data_format = _config.image_data_format()
    if old_data_format != "channels_last":
        warnings.warn(
            "The Xception model is only available for the input data format "
            '"channels_last" (width, height, channels), but the default is '
            f'"{old_data_format}"; the model returned expects channels_last inputs. Set '
            '`image_data_format="channels_last"` in ~/.keras/keras.json to silence this.',
            stacklevel=2,
        )
        _config.set_image_data_format("channels_last")
    try:
        return _build(include_top, weights, input_tensor, input_shape, pooling, classes)
    finally:
        _config.set_image_data_format(old_data_format)


def _build(include_top: bool, weights: str | None, input_tensor: Any,
           input_shape: Sequence[int | None] | None, pooling: str | None,
           classes: int) -> Model:  # fmt: skip
    img_input = _iu._start(SPEC, include_top, weights, input_tensor, input_shape, pooling, classes,
                           data_format="channels_last")  # fmt: skip
    x = _conv_bn_relu(img_input, 32, "block1_conv1", strides=(2, 2))
    x = _conv_bn_relu(x, 64, "block1_conv2")
    x = _downsampling_block(x, 2, (128, 128), relu_first=False)
    x = _downsampling_block(x, 3, (256, 256), relu_first=True)
    x = _downsampling_block(x, 4, (728, 728), relu_first=True)
    for block in range(5, 13):
        x = _middle_block(x, block)
    x = _downsampling_block(x, 13, (728, 1024), relu_first=True)
    for i, filters in ((1, 1536), (2, 2048)):
        x = _sepconv_bn(x, filters, f"block14_sepconv{i}")
        x = Activation("relu", name=f"block14_sepconv{i}_act")(x)

    return _iu._finish(SPEC, x, img_input, input_tensor, include_top, weights, pooling,
                       _iu._average_classifier(classes))  # fmt: skip
