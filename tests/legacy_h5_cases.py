"""Models for the Keras 1 / Theano weight-file fixtures, written once for both APIs.

Each builder takes a Keras module (tf_keras when the fixtures are made, kgraph in the
tests) and a data_format: the channels_first models are also built channels_last, because
TensorFlow on the CPU cannot run channels_first convolutions; the kernels are the same.
`CASES` maps a case name to (builder, input shape, data_format, keras_version, backend).
"""

from __future__ import annotations

from typing import Any


def _spatial(data_format: str, channels: int, *spatial: int) -> tuple[int, ...]:
    if data_format == "channels_first":
        return (channels, *spatial)
    return (*spatial, channels)


# Keras 1 and 2.0.5 gate with hard_sigmoid; tf-keras defaults to sigmoid.
def lstm(keras: Any, data_format: str) -> Any:
    return keras.models.Sequential([
        keras.layers.LSTM(4, recurrent_activation="hard_sigmoid", input_shape=(5, 3)),
        keras.layers.Dense(2),
    ])  # fmt: skip


def gru(keras: Any, data_format: str) -> Any:
    return keras.models.Sequential([
        keras.layers.GRU(4, recurrent_activation="hard_sigmoid", reset_after=False, input_shape=(5, 3)),
        keras.layers.Dense(2),
    ])  # fmt: skip


def bidirectional(keras: Any, data_format: str) -> Any:
    return keras.models.Sequential([
        keras.layers.Bidirectional(keras.layers.LSTM(3, recurrent_activation="hard_sigmoid"), input_shape=(5, 2)),
        keras.layers.Dense(1),
    ])  # fmt: skip


def nested(keras: Any, data_format: str) -> Any:
    # Keras 1 stored an RNN inside a nested model as more arrays than it has weights, which
    # no reader can split; a conv's kernel keeps its count and converts inside the model.
    inner = keras.models.Sequential([
        keras.layers.Conv2D(2, (2, 3), data_format=data_format,
                            input_shape=_spatial(data_format, 3, 4, 5)),
    ], name="inner")  # fmt: skip
    return keras.models.Sequential([
        inner,
        keras.layers.GlobalAveragePooling2D(data_format=data_format),
        keras.layers.Dense(2),
    ])  # fmt: skip


def conv1d(keras: Any, data_format: str) -> Any:
    return keras.models.Sequential([
        keras.layers.Conv1D(3, 2, input_shape=(6, 4)),
        keras.layers.Flatten(),
        keras.layers.Dense(2),
    ])  # fmt: skip


def _pooled(keras: Any, conv: Any, pool: Any) -> Any:
    return keras.models.Sequential([conv, pool, keras.layers.Dense(2)])


def conv2d(keras: Any, data_format: str) -> Any:
    conv = keras.layers.Conv2D(4, (3, 2), data_format=data_format, input_shape=_spatial(data_format, 2, 6, 5))
    return _pooled(keras, conv, keras.layers.GlobalAveragePooling2D(data_format=data_format))


def conv2d_transpose(keras: Any, data_format: str) -> Any:
    conv = keras.layers.Conv2DTranspose(
        3, (2, 3), strides=(2, 1), data_format=data_format, input_shape=_spatial(data_format, 2, 4, 4)
    )
    return _pooled(keras, conv, keras.layers.GlobalAveragePooling2D(data_format=data_format))


def conv3d(keras: Any, data_format: str) -> Any:
    conv = keras.layers.Conv3D(2, (2, 3, 2), data_format=data_format, input_shape=_spatial(data_format, 2, 3, 4, 4))
    return _pooled(keras, conv, keras.layers.GlobalAveragePooling3D(data_format=data_format))


def time_distributed(keras: Any, data_format: str) -> Any:
    return keras.models.Sequential([
        keras.layers.TimeDistributed(
            keras.layers.Conv2D(2, (2, 2), data_format=data_format),
            input_shape=(3, *_spatial(data_format, 1, 4, 4)),
        ),
        keras.layers.TimeDistributed(keras.layers.GlobalAveragePooling2D(data_format=data_format)),
        keras.layers.Flatten(),
        keras.layers.Dense(2),
    ])  # fmt: skip


# name: (builder, data_format, keras_version, backend); keras_version None writes no
# version attribute: a Keras 1 file. How each case lays out its arrays is in
# tools/make_legacy_h5_fixtures.py.
CASES = {
    "k1_lstm": (lstm, "channels_last", None, "tensorflow"),
    "k1_gru": (gru, "channels_last", None, "theano"),
    "k1_bidirectional": (bidirectional, "channels_last", None, "tensorflow"),
    "k1_nested_th": (nested, "channels_first", None, "tensorflow"),
    "k1_conv1d_v12": (conv1d, "channels_last", None, "tensorflow"),
    "k1_conv1d_v11": (conv1d, "channels_last", None, "tensorflow"),
    "k1_conv2d_th": (conv2d, "channels_first", None, "tensorflow"),
    "k1_conv2d_theano": (conv2d, "channels_first", None, "theano"),
    "k1_conv2d_transpose": (conv2d_transpose, "channels_last", None, "tensorflow"),
    "k1_conv2d_transpose_th": (conv2d_transpose, "channels_first", None, "tensorflow"),
    "k1_conv3d_th": (conv3d, "channels_first", None, "tensorflow"),
    "k1_time_distributed_th": (time_distributed, "channels_first", None, "tensorflow"),
    "k2_theano_conv2d": (conv2d, "channels_last", "2.0.5", "theano"),
    "k2_transposed_kernel": (conv2d, "channels_last", "2.0.5", "tensorflow"),
}
