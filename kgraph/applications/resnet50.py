"""ResNet50 (He et al., 2015) with Keras 2.0.5's layers, names and ImageNet weights.

Reference: "Deep Residual Learning for Image Recognition", https://arxiv.org/abs/1512.03385.
As in 2.0.5 the 7x7 average pooling ('avg_pool') ends the network with or without the
classifier, which is why inputs must be at least 197x197. The weights expect
`preprocess_input` ('caffe' mode).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kgraph import _config
from kgraph.applications import imagenet_utils as _iu
from kgraph.applications.imagenet_utils import decode_predictions, preprocess_input
from kgraph.engine.training import Model
from kgraph.layers import (
    Activation,
    AveragePooling2D,
    BatchNormalization,
    Conv2D,
    Dense,
    Flatten,
    MaxPooling2D,
    ZeroPadding2D,
    add,
)

__all__ = ["ResNet50", "decode_predictions", "preprocess_input"]

SPEC = _iu.ModelSpec("resnet50", 224, 197, "resnet50_weights_tf_dim_ordering_tf_kernels", "v0.2",
                     ("a7b3fe01876f51b976af0dea6bc144eb", "a268eb855778b3df3c7506639542a6af"))  # fmt: skip

# (filters of the three convolutions, number of blocks) of stages 2 to 5.
_STAGES = (((64, 64, 256), 3), ((128, 128, 512), 4), ((256, 256, 1024), 6), ((512, 512, 2048), 3))


def _bn_axis() -> int:
    return 1 if _config.image_data_format() == "channels_first" else 3


def _block(x: Any, filters: Sequence[int], stage: int, block: str,
           strides: tuple[int, int] | None) -> Any:  # fmt: skip
    """A bottleneck block: 1x1, 3x3, 1x1 convolutions added to a shortcut. With `strides`
    (a 'conv block') the shortcut is a strided 1x1 convolution; without, the input itself
    (an 'identity block')."""
    conv_name, bn_name = f"res{stage}{block}_branch", f"bn{stage}{block}_branch"
    f1, f2, f3 = filters
    y = Conv2D(f1, (1, 1), strides=strides or (1, 1), name=conv_name + "2a")(x)
    y = BatchNormalization(axis=_bn_axis(), name=bn_name + "2a")(y)
    y = Activation("relu")(y)
    y = Conv2D(f2, (3, 3), padding="same", name=conv_name + "2b")(y)
    y = BatchNormalization(axis=_bn_axis(), name=bn_name + "2b")(y)
    y = Activation("relu")(y)
    y = Conv2D(f3, (1, 1), name=conv_name + "2c")(y)
    y = BatchNormalization(axis=_bn_axis(), name=bn_name + "2c")(y)
    shortcut = x
    if strides is not None:
        shortcut = Conv2D(f3, (1, 1), strides=strides, name=conv_name + "1")(x)
        shortcut = BatchNormalization(axis=_bn_axis(), name=bn_name + "1")(shortcut)
    return Activation("relu")(add([y, shortcut]))


def ResNet50(include_top: bool = True, weights: str | None = "imagenet", input_tensor: Any = None,
             input_shape: Sequence[int | None] | None = None, pooling: str | None = None,
             classes: int = 1000) -> Model:  # noqa: N802  # fmt: skip
    """Instantiates the ResNet50 architecture, optionally with its ImageNet weights.

    Works with both image data formats; the input size is 224x224 with the classifier on
    top, and at least 197x197 without it.

    Arguments, return value and errors as for `VGG16` (with `pooling=None` the 4D output
    of 'avg_pool'); the model is named 'resnet50'.

    Example:
        ```python
        model = ResNet50(weights='imagenet')
        print(decode_predictions(model.predict(preprocess_input(x)), top=3)[0])
        ```
    """
    img_input = _iu._start(SPEC, include_top, weights, input_tensor, input_shape, pooling, classes)
    x = ZeroPadding2D((3, 3))(img_input)
    x = Conv2D(64, (7, 7), strides=(2, 2), name="conv1")(x)
    x = BatchNormalization(axis=_bn_axis(), name="bn_conv1")(x)
    x = Activation("relu")(x)
    x = MaxPooling2D((3, 3), strides=(2, 2))(x)
    for stage, (filters, blocks) in enumerate(_STAGES, 2):
        x = _block(x, filters, stage, "a", strides=(1, 1) if stage == 2 else (2, 2))
        for block in "bcdef"[: blocks - 1]:
            x = _block(x, filters, stage, block, strides=None)
    x = AveragePooling2D((7, 7), name="avg_pool")(x)

    def top(x: Any) -> Any:
        return Dense(classes, activation="softmax", name="fc1000")(Flatten()(x))

    # The features reaching 'fc1000' are 1x1: no reordering for channels_first.
    return _iu._finish(SPEC, x, img_input, input_tensor, include_top, weights, pooling, top)
