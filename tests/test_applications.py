"""`kgraph.applications` against Keras 2.0.5's architectures and tf-keras golden fixtures
(tools/make_applications_fixtures.py).

* VGG16, VGG19, InceptionV3 and Xception (the same in tf-keras and 2.0.5), built without
  the top at small inputs: every layer's class, explicit name and weights (short names,
  shapes, order) match tf-keras, and with the same deterministic weights loaded
  (tests/applications_cases.py) the predictions match tf-keras's.
* A tf-keras `save_weights` file of VGG16's first block loads into kgraph's VGG16.
* ResNet50 (rewritten in tf-keras, so no tf-keras twin): its 2.0.5 layer names, weight
  shapes and order, written out from the 2.0.5 structure.
* Parameter counts of the full models are Keras 2.0.5's published ones.
* `weights='imagenet'` fetches the right file and hash through `get_file` and loads it;
  `preprocess_input`, `decode_predictions` (class index served from the cache) and the
  argument errors.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from applications_cases import (
    BLOCK1_INPUT,
    GOLDEN,
    deterministic_weight,
    golden_input,
    set_deterministic,
)

import kgraph
from kgraph import applications
from kgraph.applications import imagenet_utils
from kgraph.engine import topology
from kgraph.engine.training import Model
from kgraph.layers import Dense, Flatten, Input

FIXTURES = Path(__file__).parent / "fixtures" / "applications"
STRUCTURE = json.loads((FIXTURES / "structure.json").read_text())
PREDICTIONS = np.load(FIXTURES / "predictions.npz")


def _short(weight) -> str:
    return weight.name.split("/")[-1]


def _notop(name: str) -> Model:
    shape, _ = GOLDEN[name]
    return getattr(applications, name)(include_top=False, weights=None, input_shape=shape)


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_structure_and_predictions_match_tf_keras(name):
    model = _notop(name)
    expected = STRUCTURE[name]
    assert len(model.layers) == len(expected)
    for layer, row in zip(model.layers, expected, strict=True):
        assert type(layer).__name__ == row["class"], layer.name
        if row["name"] is not None:
            assert layer.name == row["name"]
        assert [[_short(w), list(w.shape)] for w in layer.weights] == row["weights"], layer.name
    set_deterministic(model)
    y = model.predict(golden_input(name))
    np.testing.assert_allclose(y, PREDICTIONS[name], rtol=1e-4, atol=1e-4)


def test_tf_keras_vgg16_block1_weights_load():
    model = applications.VGG16(include_top=False, weights=None)
    block1 = Model(model.input, model.get_layer("block1_pool").output)
    block1.load_weights(str(FIXTURES / "vgg16_block1.h5"))
    np.testing.assert_allclose(block1.predict(BLOCK1_INPUT), PREDICTIONS["VGG16_block1"],
                               rtol=1e-5, atol=1e-5)  # fmt: skip
    kernel = model.get_layer("block1_conv1").get_weights()[0]
    np.testing.assert_array_equal(kernel, deterministic_weight(0, "kernel:0", (3, 3, 3, 64)))


def _resnet50_expected() -> list[tuple[str, list[list]]]:
    """Keras 2.0.5's ResNet50 weights in `model.layers` order: within a conv block the
    main branch's last convolution comes before the shortcut's, and so do their
    BatchNormalizations (same depth, main branch reached first)."""

    def conv(k, cin, cout):
        return [["kernel:0", [k, k, cin, cout]], ["bias:0", [cout]]]

    def bn(c):
        return [[f"{w}:0", [c]] for w in ("gamma", "beta", "moving_mean", "moving_variance")]

    rows = [("conv1", conv(7, 3, 64)), ("bn_conv1", bn(64))]
    cin = 64
    stages = [
        ((64, 64, 256), 3),
        ((128, 128, 512), 4),
        ((256, 256, 1024), 6),
        ((512, 512, 2048), 3),
    ]
    for stage, ((f1, f2, f3), blocks) in enumerate(stages, 2):
        for block in "abcdef"[:blocks]:
            c, b = f"res{stage}{block}_branch", f"bn{stage}{block}_branch"
            rows += [(c + "2a", conv(1, cin, f1)), (b + "2a", bn(f1)),
                     (c + "2b", conv(3, f1, f2)), (b + "2b", bn(f2)), (c + "2c", conv(1, f2, f3))]  # fmt: skip
            if block == "a":
                rows += [(c + "1", conv(1, cin, f3)), (b + "2c", bn(f3)), (b + "1", bn(f3))]
            else:
                rows += [(b + "2c", bn(f3))]
            cin = f3
    return rows


def test_resnet50_structure():
    model = applications.ResNet50(include_top=False, weights=None, input_shape=(197, 197, 3))
    assert len(model.layers) == 175
    assert model.layers[-1].name == "avg_pool"
    assert model.output_shape == (None, 1, 1, 2048)
    got = [(layer.name, [[_short(w), list(w.shape)] for w in layer.weights])
           for layer in model.layers if layer.weights]  # fmt: skip
    assert got == _resnet50_expected()
    pooled = applications.ResNet50(include_top=False, weights=None, pooling="max")
    assert pooled.output_shape == (None, 2048)


@pytest.fixture
def cheap_weights(monkeypatch):
    """Zero-initialized weights: the full VGGs hold 140M parameters, which random
    initialization would take seconds to draw."""
    monkeypatch.setattr(
        topology._initializers, "get", lambda _: lambda shape, dtype=None: np.zeros(shape, dtype)
    )


@pytest.mark.parametrize("name, params, layers, output", [
    ("VGG16", 138_357_544, 23, "predictions"),
    ("VGG19", 143_667_240, 26, "predictions"),
    ("ResNet50", 25_636_712, 177, "fc1000"),
    ("InceptionV3", 23_851_784, 313, "predictions"),
    ("Xception", 22_910_480, 134, "predictions"),
])  # fmt: skip
def test_full_models_have_keras_205_parameter_counts(cheap_weights, name, params, layers, output):
    model = getattr(applications, name)(weights=None)
    assert model.count_params() == params
    assert len(model.layers) == layers
    assert model.layers[-1].name == output
    assert model.output_shape == (None, 1000)
    assert model.name == name.lower().replace("inceptionv3", "inception_v3")


def test_classes_and_pooling(cheap_weights):
    assert applications.VGG19(weights=None, classes=7).output_shape == (None, 7)
    model = applications.InceptionV3(include_top=False, weights=None, pooling="avg")
    assert model.output_shape == (None, 2048)


def test_channels_first(cheap_weights, monkeypatch):
    monkeypatch.setattr(kgraph._config, "_IMAGE_DATA_FORMAT", "channels_first")
    model = applications.VGG16(include_top=False, weights=None, input_shape=(3, 64, 64))
    assert model.output_shape == (None, 512, 2, 2)
    assert applications.ResNet50(weights=None).input_shape == (None, 3, 224, 224)
    bn = applications.ResNet50(include_top=False, weights=None).get_layer("bn_conv1")
    assert bn.axis == 1
    with pytest.raises(ValueError, match="3 channels"):
        applications.VGG16(include_top=False, weights=None, input_shape=(64, 64, 3))


def test_input_tensor_keeps_its_source_inputs():
    img = Input(shape=(80, 80, 3))
    model = applications.Xception(include_top=False, weights=None, input_tensor=img)
    assert model.inputs == [img]
    assert model.output_shape == (None, 3, 3, 2048)


def test_xception_builds_channels_last_under_channels_first(monkeypatch):
    monkeypatch.setattr(kgraph._config, "_IMAGE_DATA_FORMAT", "channels_first")
    with pytest.warns(UserWarning, match="channels_last"):
        model = applications.Xception(include_top=False, weights=None, input_shape=(71, 71, 3))
    assert model.output_shape == (None, 3, 3, 2048)
    assert kgraph.backend.image_data_format() == "channels_first"


def test_imagenet_weights_are_fetched_with_keras_file_and_hash(tmp_path, monkeypatch):
    source = applications.VGG16(include_top=False, weights=None, input_shape=(48, 48, 3))
    source.get_layer("block5_conv3").set_weights([np.full((3, 3, 512, 512), 0.5, "float32"),
                                                  np.arange(512, dtype="float32")])  # fmt: skip
    path = str(tmp_path / "vgg16_notop.h5")
    source.save_weights(path)
    calls = []

    def fake_get_file(fname, origin, **kwargs):
        calls.append((fname, origin, kwargs))
        return path

    monkeypatch.setattr(imagenet_utils, "get_file", fake_get_file)
    model = applications.VGG16(include_top=False, input_shape=(64, 64, 3))
    assert calls == [(
        "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
        "https://github.com/fchollet/deep-learning-models/releases/download/v0.1/"
        "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
        {"cache_subdir": "models", "file_hash": "6d6bbae143d832006294945121d1f1fc",
         "hash_algorithm": "md5"},
    )]  # fmt: skip
    np.testing.assert_array_equal(model.get_layer("block5_conv3").get_weights()[1], np.arange(512))


def test_dense_after_flatten_is_reordered_for_channels_first():
    rng = np.random.RandomState(0)
    kernel = rng.standard_normal((2 * 3 * 4, 5)).astype("float32")
    x_last = rng.standard_normal((2, 2, 3, 4)).astype("float32")  # (rows, cols, channels)
    inp = Input(shape=(4, 2, 3), name="features")
    model = Model(inp, Dense(5, name="fc")(Flatten()(inp)))
    model.get_layer("fc").set_weights([kernel, np.zeros(5, "float32")])
    imagenet_utils._dense_to_channels_first(model, "features", "fc")
    x_first = x_last.transpose(0, 3, 1, 2)
    np.testing.assert_allclose(model.predict(x_first), x_last.reshape(2, -1) @ kernel, rtol=1e-5,
                               atol=1e-5)  # fmt: skip


def test_preprocess_input_caffe_mode_both_formats():
    rgb = np.array([10.0, 20.0, 30.0], dtype="float32")
    x = np.tile(rgb, (2, 4, 5, 1))
    expected_pixel = np.array([30 - 103.939, 20 - 116.779, 10 - 123.68], dtype="float32")
    out = imagenet_utils.preprocess_input(x.copy(), data_format="channels_last")
    assert out.shape == (2, 4, 5, 3)
    np.testing.assert_allclose(out, np.broadcast_to(expected_pixel, out.shape), rtol=1e-6)
    out = imagenet_utils.preprocess_input(x.transpose(0, 3, 1, 2).copy(), "channels_first")
    assert out.shape == (2, 3, 4, 5)
    np.testing.assert_allclose(out, np.broadcast_to(expected_pixel[:, None, None], out.shape[1:])[None]
                               .repeat(2, 0), rtol=1e-6)  # fmt: skip
    ints = imagenet_utils.preprocess_input(np.full((1, 2, 2, 3), 200, "uint8"), "channels_last")
    np.testing.assert_allclose(
        ints[0, 0, 0], [200 - 103.939, 200 - 116.779, 200 - 123.68], rtol=1e-6
    )
    with pytest.raises(ValueError, match="3-channel"):
        imagenet_utils.preprocess_input(np.zeros((1, 4, 4, 1)), "channels_last")
    with pytest.raises(ValueError, match="data_format"):
        imagenet_utils.preprocess_input(x, "channels_middle")
    scaled = applications.inception_v3.preprocess_input(np.array([0.0, 127.5, 255.0]))
    np.testing.assert_allclose(scaled, [-1.0, 0.0, 1.0])


def test_decode_predictions_reads_the_cached_class_index(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(imagenet_utils, "CLASS_INDEX", None)
    models_dir = tmp_path / ".keras" / "models"
    models_dir.mkdir(parents=True)
    index = {"3": ["n03", "three"], "7": ["n07", "seven"], "999": ["n999", "last"]}
    (models_dir / "imagenet_class_index.json").write_text(json.dumps(index))
    preds = np.zeros((2, 1000), dtype="float32")
    preds[0, [3, 7, 999]] = [0.2, 0.5, 0.3]
    preds[1, [3, 7]] = [0.9, 0.1]
    result = imagenet_utils.decode_predictions(preds, top=2)
    assert result == [
        [("n07", "seven", pytest.approx(0.5)), ("n999", "last", pytest.approx(0.3))],
        [("n03", "three", pytest.approx(0.9)), ("n07", "seven", pytest.approx(0.1))],
    ]
    with pytest.raises(ValueError, match=r"\(samples, 1000\).*\(2, 10\)"):
        imagenet_utils.decode_predictions(np.zeros((2, 10)))


@pytest.mark.parametrize("name, too_small, minimum", [
    ("VGG16", 47, 48), ("VGG19", 40, 48), ("ResNet50", 196, 197), ("InceptionV3", 138, 139),
    ("Xception", 70, 71),
])  # fmt: skip
def test_too_small_input_names_the_minimum(name, too_small, minimum):
    with pytest.raises(ValueError, match=f"at least {minimum}x{minimum}"):
        getattr(applications, name)(include_top=False, weights=None,
                                    input_shape=(too_small, minimum + 10, 3))  # fmt: skip


def test_argument_errors():
    with pytest.raises(ValueError, match="'imagenet'.*'places365'"):
        applications.ResNet50(weights="places365")
    with pytest.raises(ValueError, match="pooling.*'min'"):
        applications.VGG16(include_top=False, weights=None, pooling="min")
    with pytest.raises(ValueError, match="classes.*1000"):
        applications.InceptionV3(weights="imagenet", classes=10)
    with pytest.raises(ValueError, match=r"include_top=True.*\(299, 299, 3\)"):
        applications.Xception(weights=None, input_shape=(200, 200, 3))
    with pytest.raises(ValueError, match="3 channels"):
        applications.VGG19(include_top=False, weights=None, input_shape=(64, 64, 1))
    with pytest.raises(ValueError, match="three integers"):
        applications.VGG19(include_top=False, weights=None, input_shape=(64, 64))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        applications.VGG16(include_top=False, weights=None, input_shape=(None, None, 3))
