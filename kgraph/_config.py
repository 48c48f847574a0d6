"""Process-wide Keras settings: floatx, epsilon, image data format."""

from __future__ import annotations

__all__ = [
    "floatx",
    "set_floatx",
    "epsilon",
    "set_epsilon",
    "image_data_format",
    "set_image_data_format",
]

_FLOATX = "float32"
_EPSILON = 1e-7
_IMAGE_DATA_FORMAT = "channels_last"

_VALID_FLOATX = ("float16", "float32", "float64")
_VALID_FORMATS = ("channels_last", "channels_first")


def floatx() -> str:
    """The default float type, as a string (`'float32'` unless changed)."""
    return _FLOATX


def set_floatx(value: str) -> None:
    """Sets the default float type. Raises ValueError for anything but float16/32/64."""
    global _FLOATX
    if value not in _VALID_FLOATX:
        raise ValueError(f"Unknown floatx type: {value!r}; valid choices: {', '.join(_VALID_FLOATX)}")
    _FLOATX = str(value)


def epsilon() -> float:
    """The fuzz factor used in numeric expressions (1e-7 unless changed)."""
    return _EPSILON


def set_epsilon(value: float) -> None:
    global _EPSILON
    _EPSILON = float(value)


def image_data_format() -> str:
    return _IMAGE_DATA_FORMAT


def set_image_data_format(data_format: str) -> None:
    global _IMAGE_DATA_FORMAT
    if data_format not in _VALID_FORMATS:
        raise ValueError(
            f"Unknown data_format: {data_format!r}; valid choices: {', '.join(_VALID_FORMATS)}"
        )
    _IMAGE_DATA_FORMAT = str(data_format)
