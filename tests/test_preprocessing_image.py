"""kgraph.preprocessing.image against tf-keras's image preprocessing and 2.0.5's formulas.

Golden data: tools/make_image_fixtures.py (tf-keras resampling with order 0, as Keras
2.0.5 resamples; tf-keras's fit statistics; Pillow image reading).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import kgraph as keras
from kgraph.preprocessing import image
from kgraph.preprocessing._image_ops import _rotation, _shear, _shift, _zoom

FIXTURES = Path(__file__).parent / "fixtures"
GOLD = np.load(FIXTURES / "preprocessing_image.npz")
MODES = ["nearest", "constant", "reflect", "wrap", "nearest"]
CVALS = [0.0, 0.5, 0.0, 0.0, 0.0]


@pytest.mark.parametrize("i", range(5))
def test_affine_resampling_matches_keras(i):
    theta, tx, ty, shear, zx, zy = GOLD["sets"][i]
    matrix = _rotation(np.deg2rad(theta)) @ _shift(tx, ty) @ _shear(shear) @ _zoom(zx, zy)
    x = GOLD["x"]
    # Since Keras 2.0.5, tf-keras centres on ((h-1)/2, (w-1)/2) instead of (h/2+0.5, w/2+0.5)
    # and swaps the matrix's two image axes; kgraph keeps 2.0.5's geometry
    # (transform_matrix_offset_center), so tf-keras's final matrix is built here by hand
    # and the resampling itself (apply_transform) is what is compared.
    h, w = x.shape[0] / 2 - 0.5, x.shape[1] / 2 - 0.5
    centered = _shift(h, w) @ matrix @ _shift(-h, -w)
    swap = np.array([[0, 1, 0], [1, 0, 0], [0, 0, 1]])
    got = image.apply_transform(x, swap @ centered @ swap, channel_axis=2, fill_mode=MODES[i], cval=CVALS[i])
    np.testing.assert_array_equal(got, GOLD[f"affine{i}"])


def test_transforms_act_about_keras_2_0_5_centre():
    rotation = _rotation(0.3)
    got = image.transform_matrix_offset_center(rotation, 7, 9)
    o = np.array([7 / 2 + 0.5, 9 / 2 + 0.5])
    np.testing.assert_allclose(got[:2, :2], rotation[:2, :2])
    np.testing.assert_allclose(got[:2, 2], o - rotation[:2, :2] @ o)


def test_random_transform_draws_in_keras_order():
    x = GOLD["x"]
    gen = image.ImageDataGenerator(rotation_range=40, width_shift_range=0.2, zoom_range=0.3)
    got = gen.random_transform(x, seed=11)
    np.random.seed(11)
    theta = np.pi / 180 * np.random.uniform(-40, 40)
    ty = np.random.uniform(-0.2, 0.2) * x.shape[1]
    zx, zy = np.random.uniform(0.7, 1.3, 2)
    matrix = image.transform_matrix_offset_center(_rotation(theta) @ _shift(0, ty) @ _zoom(zx, zy), 7, 9)
    np.testing.assert_array_equal(got, image.apply_transform(x, matrix, 2))
    flips = image.ImageDataGenerator(horizontal_flip=True, vertical_flip=True, data_format="channels_last")
    seen = {flips.random_transform(x).tobytes() for _ in range(40)}
    want = {x.tobytes(), x[:, ::-1].tobytes(), x[::-1].tobytes(), x[::-1, ::-1].tobytes()}
    assert seen == want


def test_fit_statistics_match_keras_and_zca_follows_2_0_5():
    data = GOLD["fit_data"]
    gen = image.ImageDataGenerator(featurewise_center=True, featurewise_std_normalization=True)
    gen.fit(data)
    np.testing.assert_allclose(gen.mean, GOLD["fit_mean"], rtol=1e-6)
    np.testing.assert_allclose(gen.std, GOLD["fit_std"], rtol=1e-5)
    one = data[0].copy()
    np.testing.assert_allclose(gen.standardize(one.copy()), (one - gen.mean) / (gen.std + 1e-7), rtol=1e-6)
    zca = image.ImageDataGenerator(featurewise_center=True, zca_whitening=True, zca_epsilon=1e-3)
    zca.fit(data)
    flat = (data - data.mean(axis=(0, 1, 2))).reshape(10, -1).astype(np.float64)
    values, vectors = np.linalg.eigh(flat.T @ flat / 10)
    want = vectors @ np.diag(1 / np.sqrt(np.clip(values, 0, None) + 1e-3)) @ vectors.T
    np.testing.assert_allclose(zca.principal_components, want, atol=2e-3)
    white = zca.standardize(data[1].copy())
    np.testing.assert_allclose(white.ravel(), flat[1] @ zca.principal_components, rtol=1e-4, atol=1e-4)


def test_samplewise_normalization_is_over_the_channel_axis():
    gen = image.ImageDataGenerator(samplewise_center=True, samplewise_std_normalization=True)
    x = GOLD["x"].copy()
    want = (x - x.mean(axis=2, keepdims=True)) / (x.std(axis=2, keepdims=True) + 1e-7)
    np.testing.assert_allclose(gen.standardize(x.copy()), want, rtol=1e-5)
    with pytest.warns(UserWarning, match="fit it first|Fit it first"):
        image.ImageDataGenerator(featurewise_center=True).standardize(x.copy())


def test_image_files_read_as_keras_reads_them(tmp_path):
    path = str(FIXTURES / "preprocessing_image.png")
    np.testing.assert_array_equal(image.img_to_array(image.load_img(path)), GOLD["png_full"])
    np.testing.assert_array_equal(image.img_to_array(image.load_img(path, target_size=(4, 9))), GOLD["png_resized"])
    np.testing.assert_array_equal(image.img_to_array(image.load_img(path, grayscale=True)), GOLD["png_gray"])
    first = image.img_to_array(image.load_img(path), data_format="channels_first")
    assert first.shape == (3, 5, 7)
    back = image.array_to_img(GOLD["png_full"], scale=False)
    np.testing.assert_array_equal(np.asarray(back), GOLD["png_full"].astype(np.uint8))
    scaled = np.asarray(image.array_to_img(np.array([[[-1.0], [1.0]]]), scale=True))
    np.testing.assert_array_equal(scaled, [[0, 255]])
    with pytest.raises(ValueError, match="Unsupported channel number: 2"):
        image.array_to_img(np.zeros((2, 2, 2)))


def test_flow_batches_in_order_then_wraps_and_reshuffles_by_seed():
    x = np.arange(5 * 2 * 2 * 1, dtype=np.float32).reshape(5, 2, 2, 1)
    y = np.arange(5)
    it = image.ImageDataGenerator().flow(x, y, batch_size=2, shuffle=False)
    sizes = []
    for _ in range(4):
        bx, by = next(it)
        np.testing.assert_array_equal(bx, x[by])
        sizes.append(list(by))
    assert sizes == [[0, 1], [2, 3], [4], [0, 1]]
    a = image.ImageDataGenerator().flow(x, y, batch_size=5, shuffle=True, seed=3)
    b = image.ImageDataGenerator().flow(x, y, batch_size=5, shuffle=True, seed=3)
    assert [list(next(a)[1]) for _ in range(3)] == [list(next(b)[1]) for _ in range(3)]
    with pytest.raises(ValueError, match="same length"):
        image.ImageDataGenerator().flow(x, y[:3])
    with pytest.raises(ValueError, match="1, 3 or 4 channels"):
        image.ImageDataGenerator().flow(np.zeros((2, 4, 4, 2)))


def _write_tree(root: Path) -> None:
    for c, shade in (("cats", 40), ("dogs", 200)):
        (root / c / "sub").mkdir(parents=True)
        for i in range(3):
            Image.fromarray(np.full((6, 8, 3), shade + i, np.uint8)).save(root / c / f"{i}.png")
        Image.fromarray(np.full((6, 8, 3), shade, np.uint8)).save(root / c / "sub" / "x.jpg")
        (root / c / "notes.txt").write_text("not a picture")


def test_flow_from_directory_lists_and_labels_like_keras(tmp_path, capsys):
    _write_tree(tmp_path)
    gen = image.ImageDataGenerator(rescale=1 / 255.0)
    it = gen.flow_from_directory(str(tmp_path), target_size=(3, 4), batch_size=8, shuffle=False)
    assert "Found 8 images belonging to 2 classes." in capsys.readouterr().out
    assert it.class_indices == {"cats": 0, "dogs": 1}
    assert it.filenames[:4] == ["cats/0.png", "cats/1.png", "cats/2.png", "cats/sub/x.jpg"]
    bx, by = next(it)
    assert bx.shape == (8, 3, 4, 3)
    np.testing.assert_array_equal(by, np.eye(2)[[0, 0, 0, 0, 1, 1, 1, 1]])
    np.testing.assert_allclose(bx[1, 0, 0, 0], 41 / 255.0, rtol=1e-6)
    def first(class_mode, **kw):
        return next(gen.flow_from_directory(str(tmp_path), target_size=(3, 4), class_mode=class_mode,
                                            batch_size=8, shuffle=False, **kw))  # fmt: skip

    assert first("binary")[1].tolist() == [0, 0, 0, 0, 1, 1, 1, 1]
    assert first("binary")[1].dtype == np.float32
    assert first("sparse")[1].tolist() == [0, 0, 0, 0, 1, 1, 1, 1]
    bx, target = first("input")
    np.testing.assert_array_equal(bx, target)
    assert first(None, color_mode="grayscale").shape == (8, 3, 4, 1)
    flipped = image.ImageDataGenerator(data_format="channels_first")
    assert next(flipped.flow_from_directory(str(tmp_path), target_size=(3, 4), class_mode=None)).shape[1:] == (3, 3, 4)
    with pytest.raises(ValueError, match="Invalid class_mode: 'onehot'"):
        gen.flow_from_directory(str(tmp_path), class_mode="onehot")
    with pytest.raises(ValueError, match="Invalid color mode: 'rgba'"):
        gen.flow_from_directory(str(tmp_path), color_mode="rgba")


def test_augmented_batches_train_a_model_with_fit_generator():
    keras.backend.clear_session()
    rng = np.random.default_rng(0)
    x = rng.random((64, 8, 8, 1)).astype(np.float32)
    y = keras.utils.to_categorical((x.mean(axis=(1, 2, 3)) > 0.5).astype(int), 2)
    model = keras.models.Sequential([keras.layers.Flatten(input_shape=(8, 8, 1)), keras.layers.Dense(2, activation="softmax")])
    model.compile("adam", "categorical_crossentropy")
    gen = image.ImageDataGenerator(horizontal_flip=True, rotation_range=10)
    history = model.fit_generator(gen.flow(x, y, batch_size=16, seed=1), steps_per_epoch=4, epochs=3, verbose=0)
    losses = history.history["loss"]
    assert len(losses) == 3 and all(np.isfinite(losses))


def test_bad_arguments_list_the_valid_choices():
    with pytest.raises(ValueError, match="fill_mode should be one of constant, nearest, reflect, wrap"):
        image.ImageDataGenerator(fill_mode="mirror")
    with pytest.raises(ValueError, match="zoom_range should be a tuple or list of two floats"):
        image.ImageDataGenerator(zoom_range=[0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="data_format should be one of channels_first, channels_last"):
        image.ImageDataGenerator(data_format="nhwc")
    with pytest.raises(ValueError, match="rank 4"):
        image.ImageDataGenerator().fit(np.zeros((4, 4, 3)))
