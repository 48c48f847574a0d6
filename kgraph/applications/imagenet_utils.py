"""ImageNet helpers shared by the application models (`keras.applications.imagenet_utils`).

Public: `preprocess_input` (Keras 2.0.5's 'caffe' preprocessing: RGB -> BGR and the
ImageNet mean pixel subtracted) and `decode_predictions` (top classes of a batch of
1000-way predictions, named through the ImageNet class index downloaded into the Keras
cache). The private helpers build the parts every model shares: the input-shape check of
2.0.5's `_obtain_input_shape`, the argument checks, the input tensor, the pooling head and
the weight download.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from kgraph import _config
from kgraph.backend import is_keras_tensor
from kgraph.engine.topology import Input, source_inputs
from kgraph.engine.training import Model
from kgraph.layers.core import Dense
from kgraph.layers.pooling import GlobalAveragePooling2D, GlobalMaxPooling2D
from kgraph.utils.downloads import get_file

__all__ = ["decode_predictions", "preprocess_input"]

CLASS_INDEX: dict[str, list[str]] | None = None
CLASS_INDEX_PATH = (
    "https://s3.amazonaws.com/deep-learning-models/image-models/imagenet_class_index.json"
)
WEIGHTS_BASE = "https://github.com/fchollet/deep-learning-models/releases/download/"

# BGR order, as the Caffe-trained weights expect.
_MEAN_BGR = (103.939, 116.779, 123.68)


def preprocess_input(x: np.ndarray, data_format: str | None = None) -> np.ndarray:
    """Preprocesses a batch of RGB images in [0, 255] for VGG16, VGG19 and ResNet50.

    The channels are reversed (RGB -> BGR) and the ImageNet mean pixel is subtracted from
    each, as the Caffe-trained weights expect. As in Keras 2.0.5 a float `x` is changed in
    place (a view of it is returned); an integer one is converted to floatx first.

    Args:
        x: a 4D float array, `(samples, rows, cols, 3)` or `(samples, 3, rows, cols)`.
        data_format: 'channels_last' or 'channels_first'; the Keras default if None.

    Returns:
        The preprocessed array.

    Raises:
        ValueError: an unknown `data_format`, or `x` is not a batch of 3-channel images.

    Example:
        ```python
        x = preprocess_input(np.expand_dims(image.img_to_array(img), 0))
        ```
    """
    data_format = data_format or _config.image_data_format()
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(
            f"preprocess_input: unknown data_format {data_format!r}; "
            "expected 'channels_last' or 'channels_first'"
        )
    axis = 1 if data_format == "channels_first" else 3
    if np.ndim(x) != 4 or np.shape(x)[axis] != 3:
        raise ValueError(
            f"preprocess_input expects a batch of 3-channel images ({data_format}: 4D with 3 "
            f"on axis {axis}); got an array of shape {np.shape(x)}"
        )
    if not np.issubdtype(np.asarray(x).dtype, np.floating):
        x = np.asarray(x, dtype=_config.floatx())
    flip = [slice(None)] * 4
    flip[axis] = slice(None, None, -1)
    x = x[tuple(flip)]
    mean = np.asarray(_MEAN_BGR, dtype=x.dtype).reshape([3 if i == axis else 1 for i in range(4)])
    x -= mean
    return x


def decode_predictions(preds: np.ndarray, top: int = 5) -> list[list[tuple[str, str, float]]]:
    """Names the top classes of a batch of ImageNet predictions.

    The class index `imagenet_class_index.json` is fetched with `get_file` into
    `~/.keras/models` the first time (a copy already there is used offline).

    Args:
        preds: an array of shape `(samples, 1000)`.
        top: how many classes to return per sample.

    Returns:
        One list per sample of `(class_id, class_name, score)` tuples, best first.

    Raises:
        ValueError: `preds` is not of shape `(samples, 1000)`.

    Example:
        ```python
        decode_predictions(model.predict(x), top=3)[0]
        # [('n02504458', 'African_elephant', 0.82), ...]
        ```
    """
    global CLASS_INDEX
    preds = np.asarray(preds)
    if preds.ndim != 2 or preds.shape[1] != 1000:
        raise ValueError(
            "`decode_predictions` expects a batch of predictions (i.e. a 2D array of shape "
            f"(samples, 1000)). Found array with shape: {preds.shape}"
        )
    if CLASS_INDEX is None:
        fpath = get_file("imagenet_class_index.json", CLASS_INDEX_PATH, cache_subdir="models")
        with open(fpath) as f:
            CLASS_INDEX = json.load(f)
    results = []
    for pred in preds:
        top_indices = pred.argsort()[-top:][::-1]
        result = [(*CLASS_INDEX[str(i)], pred[i]) for i in top_indices]
        result.sort(key=lambda r: r[2], reverse=True)
        results.append(result)
    return results


def _obtain_input_shape(input_shape: Sequence[int | None] | None, default_size: int,
                        min_size: int, data_format: str,
                        include_top: bool) -> tuple[int | None, ...]:  # fmt: skip
    """The model's input shape: the default one with the classifier on top (which fixes
    the size), else `input_shape` checked for 3 channels and `min_size`."""
    channels_first = data_format == "channels_first"
    default = (3, default_size, default_size) if channels_first else (default_size, default_size, 3)
    if include_top:
        if input_shape is not None and tuple(input_shape) != default:
            raise ValueError(
                f"When setting `include_top=True`, `input_shape` should be {default}; "
                f"got {tuple(input_shape)}"
            )
        return default
    if input_shape is None:
        return (3, None, None) if channels_first else (None, None, 3)
    input_shape = tuple(input_shape)
    if len(input_shape) != 3:
        raise ValueError(f"`input_shape` must be a tuple of three integers; got {input_shape}")
    channels, sizes = (
        (input_shape[0], input_shape[1:]) if channels_first else (input_shape[-1], input_shape[:2])
    )
    if channels != 3:
        raise ValueError(
            f"The input must have 3 channels ({data_format}); got `input_shape={input_shape}`"
        )
    if any(s is not None and s < min_size for s in sizes):
        raise ValueError(
            f"Input size must be at least {min_size}x{min_size}; got `input_shape={input_shape}`"
        )
    return input_shape


def _check_arguments(weights: Any, include_top: bool, classes: int, pooling: Any) -> None:
    if weights not in ("imagenet", None):
        raise ValueError(
            "The `weights` argument should be either `None` (random initialization) or "
            f"'imagenet' (pre-training on ImageNet); got {weights!r}"
        )
    if weights == "imagenet" and include_top and classes != 1000:
        raise ValueError(
            "If using `weights` as imagenet with `include_top` as true, `classes` should be "
            f"1000; got classes={classes}"
        )
    if pooling not in (None, "avg", "max"):
        raise ValueError(f"`pooling` should be None, 'avg' or 'max'; got {pooling!r}")


def _image_input(input_tensor: Any, input_shape: tuple[int | None, ...]) -> Any:
    """The tensor the model starts from: a new Input, or `input_tensor` (wrapped in an
    Input if it does not come from a Keras layer)."""
    if input_tensor is None:
        return Input(shape=input_shape)
    if is_keras_tensor(input_tensor):
        return input_tensor
    return Input(tensor=input_tensor, shape=input_shape)


def _pool(x: Any, pooling: str | None) -> Any:
    """The head of a model built without its classifier."""
    if pooling == "avg":
        return GlobalAveragePooling2D()(x)
    if pooling == "max":
        return GlobalMaxPooling2D()(x)
    return x


def _average_classifier(classes: int) -> Callable[[Any], Any]:
    """The top of InceptionV3 and Xception: global average pooling and a softmax."""

    def top(x: Any) -> Any:
        x = GlobalAveragePooling2D(name="avg_pool")(x)
        return Dense(classes, activation="softmax", name="predictions")(x)

    return top


@dataclass(frozen=True)
class ModelSpec:
    """What differs between the application models outside their layers."""

    name: str  # the Model's name
    default_size: int  # the input size with the classifier on top
    min_size: int  # the smallest input size without it
    weights_file: str  # the ImageNet weight file's name, without '_notop' and '.h5'
    release: str  # the deep-learning-models release that publishes it
    md5: tuple[str, str]  # md5 of the file with and without the top


def _start(spec: ModelSpec, include_top: bool, weights: Any, input_tensor: Any,
           input_shape: Sequence[int | None] | None, pooling: Any, classes: int,
           data_format: str | None = None) -> Any:  # fmt: skip
    """Checks the arguments and returns the image input of the model."""
    _check_arguments(weights, include_top, classes, pooling)
    input_shape = _obtain_input_shape(
        input_shape, spec.default_size, spec.min_size,
        data_format or _config.image_data_format(), include_top,
    )  # fmt: skip
    return _image_input(input_tensor, input_shape)


def _finish(spec: ModelSpec, x: Any, img_input: Any, input_tensor: Any, include_top: bool,
            weights: Any, pooling: Any, top: Callable[[Any], Any]) -> Model:  # fmt: skip
    """Adds the classifier (`top`) or the pooling, makes the Model and, for
    `weights='imagenet'`, downloads (or finds in `~/.keras/models`) its weight file and
    loads it by topology."""
    x = top(x) if include_top else _pool(x, pooling)
    inputs = img_input if input_tensor is None else source_inputs(input_tensor)
    model = Model(inputs, x, name=spec.name)
    if weights == "imagenet":
        fname = spec.weights_file + ("" if include_top else "_notop")
        path = get_file(
            fname + ".h5", f"{WEIGHTS_BASE}{spec.release}/{fname}.h5", cache_subdir="models",
            file_hash=spec.md5[0] if include_top else spec.md5[1], hash_algorithm="md5",
        )  # fmt: skip
        model.load_weights(path)
    return model


def _dense_to_channels_first(model: Any, features_layer: str, dense_layer: str) -> None:
    """Reorders the rows of a Dense kernel that follows a Flatten, trained on channels_last
    features, so that it reads channels_first features the same way."""
    shape = model.get_layer(features_layer).output_shape[1:]  # (channels, rows, cols)
    dense = model.get_layer(dense_layer)
    kernel, *rest = dense.get_weights()
    c, h, w = shape
    kernel = kernel.reshape(h, w, c, -1).transpose(2, 0, 1, 3).reshape(c * h * w, -1)
    dense.set_weights([kernel, *rest])
