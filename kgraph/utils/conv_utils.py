"""Argument normalization and output-length arithmetic shared by convolution and pooling."""

from __future__ import annotations

import operator
from typing import Any

from kgraph._config import image_data_format

__all__ = [
    "normalize_tuple",
    "normalize_padding",
    "normalize_data_format",
    "conv_output_length",
    "conv_input_length",
    "deconv_length",
]

_PADDINGS = ("valid", "same", "causal")
_FORMATS = ("channels_first", "channels_last")


def normalize_tuple(value: Any, n: int, name: str) -> tuple[int, ...]:
    """An int becomes an n-tuple; a sequence must hold exactly n ints.

    Raises:
        ValueError: the value is neither, naming the argument and what was received.
    """
    message = f"The `{name}` argument must be a tuple of {n} integers. Received: {value!r}"
    try:
        if not isinstance(value, (list, tuple)):
            return (operator.index(value),) * n
        values = tuple(operator.index(v) for v in value)
    except TypeError:
        raise ValueError(message) from None
    if len(values) != n:
        raise ValueError(message)
    return values


def normalize_padding(value: Any) -> str:
    padding = str(value).lower()
    if padding not in _PADDINGS:
        raise ValueError(
            'The `padding` argument must be one of "valid", "same" (or "causal" for Conv1D). '
            f"Received: {value!r}"
        )
    return padding


def normalize_data_format(value: Any) -> str:
    """`None` means `K.image_data_format()`."""
    if value is None:
        value = image_data_format()
    data_format = str(value).lower()
    if data_format not in _FORMATS:
        raise ValueError(
            'The `data_format` argument must be one of "channels_first", "channels_last". '
            f"Received: {value!r}"
        )
    return data_format


def conv_output_length(input_length: int | None, filter_size: int, padding: str, stride: int,
                       dilation: int = 1) -> int | None:  # fmt: skip
    """The output length of a convolution or pooling along one axis (Keras's arithmetic)."""
    if input_length is None:
        return None
    dilated = filter_size + (filter_size - 1) * (dilation - 1)
    if padding in ("same", "causal"):
        length = input_length
    elif padding == "valid":
        length = input_length - dilated + 1
    elif padding == "full":
        length = input_length + dilated - 1
    else:
        raise ValueError(f"Unknown padding {padding!r}")
    return (length + stride - 1) // stride


def conv_input_length(
    output_length: int | None, filter_size: int, padding: str, stride: int
) -> int | None:
    if output_length is None:
        return None
    pad = {"same": filter_size // 2, "valid": 0, "full": filter_size - 1}[padding]
    return (output_length - 1) * stride - 2 * pad + filter_size


def deconv_length(
    dim_size: int | None, stride_size: int, kernel_size: int, padding: str
) -> int | None:
    """The output length of a transposed convolution along one axis."""
    if dim_size is None:
        return None
    if padding == "valid":
        return dim_size * stride_size + max(kernel_size - stride_size, 0)
    if padding == "full":
        return dim_size * stride_size - (stride_size + kernel_size - 2)
    return dim_size * stride_size
