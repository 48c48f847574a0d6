"""Image augmentation and loading, as Keras 2.0.5's `keras.preprocessing.image`.

`ImageDataGenerator` draws random affine transforms (rotation in degrees, shifts as a
fraction of the size, shear in radians, zoom), channel shifts and flips, and normalizes
sample-wise or with statistics from `fit`; `flow` and `flow_from_directory` return endless
batch iterators for `fit_generator`. Randomness comes from numpy's global generator, so
`np.random.seed` and the `seed` arguments reproduce a run.
"""

from __future__ import annotations

import os
import threading
import warnings

import numpy as np

from kgraph import backend as K
from kgraph.preprocessing._image_ops import (
    _FILL_MODES,
    _PICTURE_TYPES,
    _check_zoom_pair,
    _data_format,
    _rotation,
    _shear,
    _shift,
    _zoom,
    apply_transform,
    array_to_img,
    flip_axis,
    img_to_array,
    list_pictures,
    load_img,
    random_channel_shift,
    random_rotation,
    random_shear,
    random_shift,
    random_zoom,
    transform_matrix_offset_center,
)

__all__ = [
    "ImageDataGenerator", "Iterator", "NumpyArrayIterator", "DirectoryIterator", "apply_transform",
    "array_to_img", "flip_axis", "img_to_array", "list_pictures", "load_img", "random_channel_shift",
    "random_rotation", "random_shear", "random_shift", "random_zoom", "transform_matrix_offset_center",
]  # fmt: skip

_CLASS_MODES = ("categorical", "binary", "sparse", "input", None)


class ImageDataGenerator:
    """Random augmentation and normalization of image batches (Keras 2.0.5 arguments)."""

    def __init__(self, featurewise_center=False, samplewise_center=False,
                 featurewise_std_normalization=False, samplewise_std_normalization=False,
                 zca_whitening=False, zca_epsilon=1e-6, rotation_range=0.0, width_shift_range=0.0,
                 height_shift_range=0.0, shear_range=0.0, zoom_range=0.0, channel_shift_range=0.0,
                 fill_mode="nearest", cval=0.0, horizontal_flip=False, vertical_flip=False,
                 rescale=None, preprocessing_function=None, data_format=None):  # fmt: skip
        if fill_mode not in _FILL_MODES:
            raise ValueError(f"fill_mode should be one of {', '.join(_FILL_MODES)}; received {fill_mode!r}")
        self.featurewise_center, self.samplewise_center = featurewise_center, samplewise_center
        self.featurewise_std_normalization = featurewise_std_normalization
        self.samplewise_std_normalization = samplewise_std_normalization
        self.zca_whitening, self.zca_epsilon = zca_whitening, zca_epsilon
        self.rotation_range, self.shear_range = rotation_range, shear_range
        self.width_shift_range, self.height_shift_range = width_shift_range, height_shift_range
        self.channel_shift_range = channel_shift_range
        self.fill_mode, self.cval = fill_mode, cval
        self.horizontal_flip, self.vertical_flip = horizontal_flip, vertical_flip
        self.rescale, self.preprocessing_function = rescale, preprocessing_function
        self.data_format = _data_format(data_format)
        if self.data_format == "channels_first":
            self.channel_axis, self.row_axis, self.col_axis = 1, 2, 3
        else:
            self.channel_axis, self.row_axis, self.col_axis = 3, 1, 2
        self.mean = self.std = self.principal_components = None
        if np.isscalar(zoom_range):
            self.zoom_range = [1 - zoom_range, 1 + zoom_range]
        else:
            _check_zoom_pair(zoom_range)
            self.zoom_range = [zoom_range[0], zoom_range[1]]

    def flow(self, x, y=None, batch_size=32, shuffle=True, seed=None, save_to_dir=None,
             save_prefix="", save_format="png"):  # fmt: skip
        return NumpyArrayIterator(x, y, self, batch_size=batch_size, shuffle=shuffle, seed=seed,
                                  data_format=self.data_format, save_to_dir=save_to_dir,
                                  save_prefix=save_prefix, save_format=save_format)  # fmt: skip

    def flow_from_directory(self, directory, target_size=(256, 256), color_mode="rgb", classes=None,
                            class_mode="categorical", batch_size=32, shuffle=True, seed=None,
                            save_to_dir=None, save_prefix="", save_format="png", follow_links=False):  # fmt: skip
        return DirectoryIterator(directory, self, target_size=target_size, color_mode=color_mode,
                                 classes=classes, class_mode=class_mode, data_format=self.data_format,
                                 batch_size=batch_size, shuffle=shuffle, seed=seed,
                                 save_to_dir=save_to_dir, save_prefix=save_prefix,
                                 save_format=save_format, follow_links=follow_links)  # fmt: skip

    def _unfit(self, what: str) -> None:
        warnings.warn(f"This ImageDataGenerator specifies `{what}`, but it has not been fit on any "
                      "training data. Fit it first by calling `.fit(numpy_data)`.", stacklevel=3)  # fmt: skip

    def standardize(self, x):
        """Normalizes one image: preprocessing_function, rescale, sample-wise centring and
        scaling (over the channel axis, as 2.0.5 does), feature-wise, then ZCA whitening."""
        if self.preprocessing_function:
            x = self.preprocessing_function(x)
        if self.rescale:
            x *= self.rescale
        axis = self.channel_axis - 1
        if self.samplewise_center:
            x -= np.mean(x, axis=axis, keepdims=True)
        if self.samplewise_std_normalization:
            x /= np.std(x, axis=axis, keepdims=True) + 1e-7
        if self.featurewise_center:
            if self.mean is None:
                self._unfit("featurewise_center")
            else:
                x -= self.mean
        if self.featurewise_std_normalization:
            if self.std is None:
                self._unfit("featurewise_std_normalization")
            else:
                x /= self.std + 1e-7
        if self.zca_whitening:
            if self.principal_components is None:
                self._unfit("zca_whitening")
            else:
                x = np.reshape(np.dot(np.reshape(x, x.size), self.principal_components), x.shape)
        return x

    def random_transform(self, x, seed=None):
        """One random augmentation of one image: a single affine resampling (rotation, shift,
        shear, zoom, composed in that order about the centre), channel shift, then flips."""
        row, col, channel = self.row_axis - 1, self.col_axis - 1, self.channel_axis - 1
        if seed is not None:
            np.random.seed(seed)
        theta = np.pi / 180 * np.random.uniform(-self.rotation_range, self.rotation_range) if self.rotation_range else 0
        tx = np.random.uniform(-self.height_shift_range, self.height_shift_range) * x.shape[row] if self.height_shift_range else 0
        ty = np.random.uniform(-self.width_shift_range, self.width_shift_range) * x.shape[col] if self.width_shift_range else 0
        shear = np.random.uniform(-self.shear_range, self.shear_range) if self.shear_range else 0
        if self.zoom_range[0] == 1 and self.zoom_range[1] == 1:
            zx = zy = 1
        else:
            zx, zy = np.random.uniform(self.zoom_range[0], self.zoom_range[1], 2)
        parts = []
        if theta != 0:
            parts.append(_rotation(theta))
        if tx != 0 or ty != 0:
            parts.append(_shift(tx, ty))
        if shear != 0:
            parts.append(_shear(shear))
        if zx != 1 or zy != 1:
            parts.append(_zoom(zx, zy))
        if parts:
            matrix = parts[0]
            for part in parts[1:]:
                matrix = matrix @ part
            matrix = transform_matrix_offset_center(matrix, x.shape[row], x.shape[col])
            x = apply_transform(x, matrix, channel, fill_mode=self.fill_mode, cval=self.cval)
        if self.channel_shift_range != 0:
            x = random_channel_shift(x, self.channel_shift_range, channel)
        if self.horizontal_flip and np.random.random() < 0.5:
            x = flip_axis(x, col)
        if self.vertical_flip and np.random.random() < 0.5:
            x = flip_axis(x, row)
        return x

    def fit(self, x, augment=False, rounds=1, seed=None):
        """Feature-wise mean, std and ZCA components from a rank-4 sample of images (with
        `augment`, from `rounds` random augmentations of it)."""
        x = np.asarray(x, dtype=K.floatx())
        if x.ndim != 4:
            raise ValueError(f"Input to `.fit()` should have rank 4. Got array with shape: {x.shape}")
        _check_channels(x, self.channel_axis, self.data_format, "`.fit()`")
        if seed is not None:
            np.random.seed(seed)
        x = np.copy(x)
        if augment:
            x = np.stack([self.random_transform(img) for _ in range(rounds) for img in x]).astype(K.floatx())
        axes = (0, self.row_axis, self.col_axis)
        shape = [1, 1, 1]
        shape[self.channel_axis - 1] = x.shape[self.channel_axis]
        if self.featurewise_center:
            self.mean = np.reshape(np.mean(x, axis=axes), shape)
            x -= self.mean
        if self.featurewise_std_normalization:
            self.std = np.reshape(np.std(x, axis=axes), shape)
            x /= self.std + K.epsilon()
        if self.zca_whitening:
            flat = np.reshape(x, (x.shape[0], -1))
            sigma = flat.T @ flat / flat.shape[0]
            u, s, _ = np.linalg.svd(sigma)
            self.principal_components = (u * (1.0 / np.sqrt(s + self.zca_epsilon))) @ u.T


def _check_channels(x, channel_axis, data_format, where) -> None:
    if x.shape[channel_axis] not in (1, 3, 4):
        raise ValueError(
            f"{where} expects images with 1, 3 or 4 channels on axis {channel_axis} "
            f"(data_format {data_format!r}), but got an array of shape {x.shape} "
            f"({x.shape[channel_axis]} channels)"
        )


class Iterator:
    """Endless batches of indices into `n` samples; reshuffled at each pass when `shuffle`
    (with `seed`, the permutation of a pass depends on the batches seen so far)."""

    def __init__(self, n, batch_size, shuffle, seed):
        self.n, self.batch_size, self.shuffle = n, batch_size, shuffle
        self.batch_index = 0
        self.total_batches_seen = 0
        self.lock = threading.Lock()
        self.index_generator = self._flow_index(n, batch_size, shuffle, seed)

    def reset(self):
        self.batch_index = 0

    def _flow_index(self, n, batch_size=32, shuffle=False, seed=None):
        self.reset()
        order = np.arange(n)
        while True:
            if seed is not None:
                np.random.seed(seed + self.total_batches_seen)
            if self.batch_index == 0:
                order = np.random.permutation(n) if shuffle else np.arange(n)
            start = (self.batch_index * batch_size) % n
            if n > start + batch_size:
                size = batch_size
                self.batch_index += 1
            else:
                size = n - start
                self.batch_index = 0
            self.total_batches_seen += 1
            yield order[start : start + size], start, size

    def __iter__(self):
        return self

    def __next__(self, *args, **kwargs):
        return self.next(*args, **kwargs)

    def _save(self, images, start) -> None:
        """Writes a batch's images to `save_to_dir` (when set), for inspection."""
        if self.save_to_dir:
            for i, img in enumerate(images):
                name = f"{self.save_prefix}_{start + i}_{np.random.randint(10_000)}.{self.save_format}"
                array_to_img(img, self.data_format, scale=True).save(os.path.join(self.save_to_dir, name))


class NumpyArrayIterator(Iterator):
    """Batches of augmented images (and labels) from arrays in memory."""

    def __init__(self, x, y, image_data_generator, batch_size=32, shuffle=False, seed=None,
                 data_format=None, save_to_dir=None, save_prefix="", save_format="png"):  # fmt: skip
        if y is not None and len(x) != len(y):
            raise ValueError("X (images tensor) and y (labels) should have the same length. "
                             f"Found: X.shape = {np.asarray(x).shape}, y.shape = {np.asarray(y).shape}")  # fmt: skip
        self.data_format = _data_format(data_format)
        self.x = np.asarray(x, dtype=K.floatx())
        if self.x.ndim != 4:
            raise ValueError(f"Input data in `NumpyArrayIterator` should have rank 4. You passed an array with shape {self.x.shape}")
        _check_channels(self.x, 3 if self.data_format == "channels_last" else 1, self.data_format, "NumpyArrayIterator")
        self.y = None if y is None else np.asarray(y)
        self.image_data_generator = image_data_generator
        self.save_to_dir, self.save_prefix, self.save_format = save_to_dir, save_prefix, save_format
        super().__init__(self.x.shape[0], batch_size, shuffle, seed)

    def next(self):
        with self.lock:
            index, start, size = next(self.index_generator)
        gen = self.image_data_generator
        batch_x = np.zeros((size,) + self.x.shape[1:], dtype=K.floatx())
        for i, j in enumerate(index):
            batch_x[i] = gen.standardize(gen.random_transform(self.x[j].astype(K.floatx())))
        self._save(batch_x, start)
        return batch_x if self.y is None else (batch_x, self.y[index])


class DirectoryIterator(Iterator):
    """Batches of augmented images read from `directory/<class>/*.{png,jpg,jpeg,bmp}`."""

    def __init__(self, directory, image_data_generator, target_size=(256, 256), color_mode="rgb",
                 classes=None, class_mode="categorical", batch_size=32, shuffle=True, seed=None,
                 data_format=None, save_to_dir=None, save_prefix="", save_format="png",
                 follow_links=False):  # fmt: skip
        if color_mode not in ("rgb", "grayscale"):
            raise ValueError(f"Invalid color mode: {color_mode!r}; expected 'rgb' or 'grayscale'")
        if class_mode not in _CLASS_MODES:
            raise ValueError(f"Invalid class_mode: {class_mode!r}; expected one of 'categorical', "
                             "'binary', 'sparse', 'input' or None")  # fmt: skip
        self.directory, self.image_data_generator = directory, image_data_generator
        self.target_size, self.color_mode, self.class_mode = tuple(target_size), color_mode, class_mode
        self.data_format = _data_format(data_format)
        channels = (3,) if color_mode == "rgb" else (1,)
        if self.data_format == "channels_last":
            self.image_shape = self.target_size + channels
        else:
            self.image_shape = channels + self.target_size
        self.save_to_dir, self.save_prefix, self.save_format = save_to_dir, save_prefix, save_format
        if not classes:
            classes = sorted(d for d in os.listdir(directory) if os.path.isdir(os.path.join(directory, d)))
        self.num_class = len(classes)
        self.class_indices = {c: i for i, c in enumerate(classes)}
        self.filenames, labels = [], []
        for c in classes:
            # Directories in path order, files sorted within each, as Keras lists them.
            walk = sorted(os.walk(os.path.join(directory, c), followlinks=follow_links), key=lambda t: t[0])
            found = [os.path.relpath(os.path.join(dirpath, f), directory)
                     for dirpath, _, files in walk for f in sorted(files)
                     if "." in f and f.lower().rsplit(".", 1)[1] in _PICTURE_TYPES]  # fmt: skip
            self.filenames += found
            labels += [self.class_indices[c]] * len(found)
        self.classes = np.asarray(labels, dtype="int32")
        self.samples = len(self.filenames)
        print(f"Found {self.samples} images belonging to {self.num_class} classes.")
        super().__init__(self.samples, batch_size, shuffle, seed)

    def next(self):
        with self.lock:
            index, start, size = next(self.index_generator)
        gen = self.image_data_generator
        batch_x = np.zeros((size,) + self.image_shape, dtype=K.floatx())
        for i, j in enumerate(index):
            img = load_img(os.path.join(self.directory, self.filenames[j]),
                           grayscale=self.color_mode == "grayscale", target_size=self.target_size)  # fmt: skip
            x = img_to_array(img, data_format=self.data_format)
            batch_x[i] = gen.standardize(gen.random_transform(x))
        self._save(batch_x, start)
        if self.class_mode == "input":
            return batch_x, batch_x.copy()
        if self.class_mode == "sparse":
            return batch_x, self.classes[index]
        if self.class_mode == "binary":
            return batch_x, self.classes[index].astype(K.floatx())
        if self.class_mode == "categorical":
            return batch_x, np.eye(self.num_class, dtype=K.floatx())[self.classes[index]]
        return batch_x
