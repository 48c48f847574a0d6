"""The single-image functions of `kgraph.preprocessing.image` (Keras 2.0.5's names).

Geometry is resampled with `scipy.ndimage.affine_transform(order=0)` (nearest pixel), as
in Keras; image files are read with Pillow. Both are imported only when needed, with an
error that says what to install.
"""

from __future__ import annotations

import os
import re
from typing import Any

import numpy as np

from kgraph import backend as K

_FILL_MODES = ("constant", "nearest", "reflect", "wrap")
_FORMATS = ("channels_first", "channels_last")
_PICTURE_TYPES = ("png", "jpg", "jpeg", "bmp")


def _scipy_ndimage() -> Any:
    try:
        from scipy import ndimage
    except ImportError:
        raise ImportError("Image transformations need SciPy: pip install scipy") from None
    return ndimage


def _pil_image() -> Any:
    try:
        from PIL import Image
    except ImportError:
        raise ImportError("Reading and writing image files needs Pillow: pip install pillow") from None
    return Image


def _data_format(data_format: str | None) -> str:
    data_format = data_format or K.image_data_format()
    if data_format not in _FORMATS:
        raise ValueError(f"data_format should be one of {', '.join(_FORMATS)}; received {data_format!r}")
    return data_format


# -- single-image transforms ----------------------------------------------------------------
def transform_matrix_offset_center(matrix: np.ndarray, x: int, y: int) -> np.ndarray:
    """`matrix` conjugated so that it acts about the image centre instead of the origin."""
    o_x, o_y = float(x) / 2 + 0.5, float(y) / 2 + 0.5
    to_center = np.array([[1, 0, o_x], [0, 1, o_y], [0, 0, 1]])
    from_center = np.array([[1, 0, -o_x], [0, 1, -o_y], [0, 0, 1]])
    return to_center @ matrix @ from_center


def apply_transform(x: np.ndarray, transform_matrix: np.ndarray, channel_axis: int = 0,
                    fill_mode: str = "nearest", cval: float = 0.0) -> np.ndarray:  # fmt: skip
    """Resamples every channel of the 3-D image `x` through the 3x3 affine matrix (nearest
    pixel); points outside the image are filled as `fill_mode` says."""
    if fill_mode not in _FILL_MODES:
        raise ValueError(f"fill_mode should be one of {', '.join(_FILL_MODES)}; received {fill_mode!r}")
    ndimage = _scipy_ndimage()
    planes = np.rollaxis(np.asarray(x), channel_axis, 0)
    linear, offset = transform_matrix[:2, :2], transform_matrix[:2, 2]
    out = [ndimage.affine_transform(p, linear, offset, order=0, mode=fill_mode, cval=cval) for p in planes]
    return np.rollaxis(np.stack(out, axis=0), 0, channel_axis + 1)


def flip_axis(x: np.ndarray, axis: int) -> np.ndarray:
    return np.flip(np.asarray(x), axis).copy()


def _rotation(theta: float) -> np.ndarray:
    c, s = np.cos(theta), np.sin(theta)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def _shift(tx: float, ty: float) -> np.ndarray:
    return np.array([[1, 0, tx], [0, 1, ty], [0, 0, 1]])


def _shear(shear: float) -> np.ndarray:
    return np.array([[1, -np.sin(shear), 0], [0, np.cos(shear), 0], [0, 0, 1]])


def _zoom(zx: float, zy: float) -> np.ndarray:
    return np.array([[zx, 0, 0], [0, zy, 0], [0, 0, 1]])


def _centered(x, matrix, row_axis, col_axis, channel_axis, fill_mode, cval):
    h, w = x.shape[row_axis], x.shape[col_axis]
    return apply_transform(x, transform_matrix_offset_center(matrix, h, w), channel_axis, fill_mode, cval)


def random_rotation(x, rg, row_axis=1, col_axis=2, channel_axis=0, fill_mode="nearest", cval=0.0):
    """Rotates by an angle drawn uniformly from [-rg, rg] degrees."""
    theta = np.pi / 180 * np.random.uniform(-rg, rg)
    return _centered(x, _rotation(theta), row_axis, col_axis, channel_axis, fill_mode, cval)


def random_shift(x, wrg, hrg, row_axis=1, col_axis=2, channel_axis=0, fill_mode="nearest", cval=0.0):
    """Shifts by fractions of the height (`hrg`) and width (`wrg`) drawn uniformly."""
    h, w = x.shape[row_axis], x.shape[col_axis]
    tx = np.random.uniform(-hrg, hrg) * h
    ty = np.random.uniform(-wrg, wrg) * w
    return apply_transform(x, _shift(tx, ty), channel_axis, fill_mode, cval)


def random_shear(x, intensity, row_axis=1, col_axis=2, channel_axis=0, fill_mode="nearest", cval=0.0):
    """Shears by an angle drawn uniformly from [-intensity, intensity] radians."""
    shear = np.random.uniform(-intensity, intensity)
    return _centered(x, _shear(shear), row_axis, col_axis, channel_axis, fill_mode, cval)


def _check_zoom_pair(zoom_range) -> None:
    if not hasattr(zoom_range, "__len__") or len(zoom_range) != 2:
        raise ValueError(f"zoom_range should be a tuple or list of two floats; received {zoom_range!r}")


def random_zoom(x, zoom_range, row_axis=1, col_axis=2, channel_axis=0, fill_mode="nearest", cval=0.0):
    """Zooms rows and columns by factors drawn uniformly from `zoom_range` (lo, hi)."""
    _check_zoom_pair(zoom_range)
    zx, zy = (1, 1) if tuple(zoom_range) == (1, 1) else np.random.uniform(zoom_range[0], zoom_range[1], 2)
    return _centered(x, _zoom(zx, zy), row_axis, col_axis, channel_axis, fill_mode, cval)


def random_channel_shift(x, intensity, channel_axis=0):
    """Adds one uniform draw from [-intensity, intensity] to each channel, clipped to the
    image's own value range."""
    planes = np.rollaxis(np.asarray(x), channel_axis, 0)
    lo, hi = np.min(planes), np.max(planes)
    shifted = [np.clip(p + np.random.uniform(-intensity, intensity), lo, hi) for p in planes]
    return np.rollaxis(np.stack(shifted, axis=0), 0, channel_axis + 1)


# -- image files ----------------------------------------------------------------------------
def array_to_img(x, data_format=None, scale=True):
    """A 3-D array as a Pillow image (1 channel: 'L', 3 channels: 'RGB'); `scale` maps the
    values onto 0..255 (shifting negatives up first)."""
    image = _pil_image()
    x = np.asarray(x, dtype=K.floatx())
    if x.ndim != 3:
        raise ValueError(f"Expected an image array of rank 3, got shape {x.shape}")
    if _data_format(data_format) == "channels_first":
        x = x.transpose(1, 2, 0)
    if scale:
        x = x + max(-np.min(x), 0)
        peak = np.max(x)
        if peak != 0:
            x = x / peak
        x = x * 255
    if x.shape[2] == 3:
        return image.fromarray(x.astype("uint8"), "RGB")
    if x.shape[2] == 1:
        return image.fromarray(x[:, :, 0].astype("uint8"), "L")
    raise ValueError(f"Unsupported channel number: {x.shape[2]} (expected 1 or 3)")


def img_to_array(img, data_format=None):
    """A Pillow image as a float array of rank 3 in `data_format`."""
    data_format = _data_format(data_format)
    x = np.asarray(img, dtype=K.floatx())
    if x.ndim == 3:
        return x.transpose(2, 0, 1) if data_format == "channels_first" else x
    if x.ndim == 2:
        return x[None] if data_format == "channels_first" else x[..., None]
    raise ValueError(f"Unsupported image shape: {x.shape}")


def load_img(path, grayscale=False, target_size=None):
    """Reads an image file as RGB (or 'L' with `grayscale`), resized to `target_size`
    (height, width) by the nearest pixel."""
    image = _pil_image()
    img = image.open(path)
    mode = "L" if grayscale else "RGB"
    if img.mode != mode:
        img = img.convert(mode)
    if target_size:
        wh = (int(target_size[1]), int(target_size[0]))
        if img.size != wh:
            img = img.resize(wh, image.NEAREST)
    return img


def list_pictures(directory, ext="jpg|jpeg|bmp|png"):
    pattern = re.compile(r"([\w]+\.(?:" + ext + "))")
    return [os.path.join(root, f) for root, _, files in os.walk(directory) for f in files if pattern.match(f)]
