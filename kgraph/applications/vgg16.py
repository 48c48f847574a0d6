"""VGG16 (Simonyan & Zisserman, 2014) with Keras 2.0.5's layers, names and ImageNet weights.

Reference: "Very Deep Convolutional Networks for Large-Scale Image Recognition",
https://arxiv.org/abs/1409.1556. The weights expect `preprocess_input` ('caffe' mode).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kgraph import _config
from kgraph.applications import imagenet_utils as _iu
from kgraph.applications.imagenet_utils import decode_predictions, preprocess_input
from kgraph.engine.training import Model
from kgraph.layers import Conv2D, Dense, Flatten, MaxPooling2D

__all__ = ["VGG16", "decode_predictions", "preprocess_input"]

SPEC = _iu.ModelSpec("vgg16", 224, 48, "vgg16_weights_tf_dim_ordering_tf_kernels", "v0.1",
                     ("64373286793e3c8b2b4e3219cbf3544b", "6d6bbae143d832006294945121d1f1fc"))  # fmt: skip


def build_vgg(spec: _iu.ModelSpec, convs_per_block: Sequence[int], include_top: bool,
              weights: str | None, input_tensor: Any, input_shape: Sequence[int | None] | None,
              pooling: str | None, classes: int) -> Model:  # fmt: skip
    """A VGG network: five blocks of 3x3 'same' convolutions (64, 128, 256, 512, 512
    filters, `convs_per_block[i]` of them) each followed by a 2x2 max pooling, then two
    4096-unit Dense layers and the softmax classifier."""
    img_input = _iu._start(spec, include_top, weights, input_tensor, input_shape, pooling, classes)
    x = img_input
    for block, filters in enumerate((64, 128, 256, 512, 512), 1):
        for i in range(1, convs_per_block[block - 1] + 1):
            x = Conv2D(filters, (3, 3), activation="relu", padding="same",
                       name=f"block{block}_conv{i}")(x)  # fmt: skip
        x = MaxPooling2D((2, 2), strides=(2, 2), name=f"block{block}_pool")(x)

    def top(x: Any) -> Any:
        x = Flatten(name="flatten")(x)
        x = Dense(4096, activation="relu", name="fc1")(x)
        x = Dense(4096, activation="relu", name="fc2")(x)
        return Dense(classes, activation="softmax", name="predictions")(x)

    model = _iu._finish(spec, x, img_input, input_tensor, include_top, weights, pooling, top)
    if weights == "imagenet" and include_top and _config.image_data_format() == "channels_first":
        _iu._dense_to_channels_first(model, "block5_pool", "fc1")
    return model


def VGG16(include_top: bool = True, weights: str | None = "imagenet", input_tensor: Any = None,
          input_shape: Sequence[int | None] | None = None, pooling: str | None = None,
          classes: int = 1000) -> Model:  # noqa: N802  # fmt: skip
    """Instantiates the VGG16 architecture, optionally with its ImageNet weights.

    Works with both image data formats; the input size is 224x224 with the classifier on
    top, and at least 48x48 without it.

    Args:
        include_top: whether to include the 3 fully-connected layers at the top.
        weights: None (random initialization) or 'imagenet' (downloads the pre-trained
            weights into `~/.keras/models`, or uses the copy already there).
        input_tensor: an optional Keras tensor (e.g. the output of `Input()`) to use as
            the image input.
        input_shape: with `include_top=False`, the image shape, e.g. `(200, 200, 3)`
            (channels_last) or `(3, 200, 200)`; 3 channels, each size at least 48.
        pooling: with `include_top=False`: None (the 4D output of the last block),
            'avg' or 'max' (global pooling to a 2D output).
        classes: the number of classes, with `include_top=True` and no weights.

    Returns:
        A Keras `Model` named 'vgg16'.

    Raises:
        ValueError: an invalid `weights`, `pooling`, `classes` or input shape.

    Example:
        ```python
        model = VGG16(weights='imagenet')
        preds = model.predict(preprocess_input(x))
        print(decode_predictions(preds, top=3)[0])
        ```
    """
    return build_vgg(SPEC, (2, 2, 3, 3, 3), include_top, weights, input_tensor, input_shape,
                     pooling, classes)  # fmt: skip
