"""Initializers: distributions, Keras 2.0.5 fans, seeding, serialization, errors."""

from __future__ import annotations

import numpy as np
import pytest

from kgraph import _config, initializers
from kgraph.initializers import _compute_fans
from kgraph.utils import CustomObjectScope, custom_object_scope, get_custom_objects

# The std of a standard normal truncated at +-2: TF's truncated normal shrinks the spread.
TRUNC_STD = 0.87962566

BIG = (1000, 1000)


# -- distributions -----------------------------------------------------------------------


def test_constants():
    assert np.array_equal(initializers.Zeros()((2, 3)), np.zeros((2, 3)))
    assert np.array_equal(initializers.Ones()((4,)), np.ones(4))
    w = initializers.Constant(2.5)((3, 2), dtype="float64")
    assert w.dtype == np.float64 and np.all(w == 2.5)


def test_default_dtype_is_floatx():
    assert initializers.RandomNormal(seed=1)((2, 2)).dtype == np.float32
    assert initializers.glorot_uniform(seed=1)((2, 2), dtype="float64").dtype == np.float64
    saved = _config.floatx()
    _config.set_floatx("float16")
    try:
        assert initializers.Zeros()((2,)).dtype == np.float16
    finally:
        _config.set_floatx(saved)


def test_random_normal_statistics():
    w = initializers.RandomNormal(mean=1.0, stddev=2.0, seed=0)(BIG, dtype="float64")
    assert w.shape == BIG
    assert w.mean() == pytest.approx(1.0, abs=0.01)
    assert w.std() == pytest.approx(2.0, rel=0.01)


def test_random_uniform_statistics():
    w = initializers.RandomUniform(minval=-3.0, maxval=1.0, seed=0)(BIG, dtype="float64")
    assert w.min() >= -3.0 and w.max() < 1.0
    assert w.min() < -2.99 and w.max() > 0.99
    assert w.mean() == pytest.approx(-1.0, abs=0.01)
    assert w.std() == pytest.approx(4.0 / np.sqrt(12.0), rel=0.01)


def test_truncated_normal_redraws_beyond_two_stddev():
    w = initializers.TruncatedNormal(mean=0.5, stddev=0.1, seed=0)(BIG, dtype="float64")
    assert np.all(np.abs(w - 0.5) <= 0.2)
    # Redrawn, not clipped: the band next to the bound holds its normal share (~0.1%),
    # where clipping would pile the 4.6% tail onto it.
    assert np.mean(np.abs(w - 0.5) > 0.199) < 0.002
    assert w.mean() == pytest.approx(0.5, abs=0.001)
    assert w.std() == pytest.approx(0.1 * TRUNC_STD, rel=0.01)


@pytest.mark.parametrize(
    ("make", "shape", "limit"),
    [
        (initializers.glorot_uniform, (300, 200), np.sqrt(6.0 / 500.0)),
        (initializers.he_uniform, (300, 200), np.sqrt(6.0 / 300.0)),
        (initializers.lecun_uniform, (300, 200), np.sqrt(3.0 / 300.0)),
        # Conv2D kernel: fan_in = 3*3*64, fan_out = 3*3*128.
        (initializers.glorot_uniform, (3, 3, 64, 128), np.sqrt(6.0 / (576 + 1152))),
    ],
)
def test_variance_scaling_uniform_limits(make, shape, limit):
    w = make(seed=3)(shape, dtype="float64")
    assert np.abs(w).max() <= limit
    assert np.abs(w).max() > 0.99 * limit
    assert w.std() == pytest.approx(limit / np.sqrt(3.0), rel=0.02)


@pytest.mark.parametrize(
    ("make", "shape", "stddev"),
    [
        (initializers.glorot_normal, (400, 600), np.sqrt(2.0 / 1000.0)),
        (initializers.he_normal, (400, 600), np.sqrt(2.0 / 400.0)),
    ],
)
def test_variance_scaling_normal_is_truncated_without_correction(make, shape, stddev):
    w = make(seed=5)(shape, dtype="float64")
    assert np.abs(w).max() <= 2.0 * stddev
    assert w.mean() == pytest.approx(0.0, abs=0.01 * stddev)
    assert w.std() == pytest.approx(stddev * TRUNC_STD, rel=0.01)


def test_variance_scaling_modes():
    shape = (100, 900)
    for mode, n in [("fan_in", 100), ("fan_out", 900), ("fan_avg", 500)]:
        init = initializers.VarianceScaling(scale=3.0, mode=mode, distribution="uniform", seed=1)
        w = init(shape, dtype="float64")
        assert np.abs(w).max() <= np.sqrt(9.0 / n)
        assert np.abs(w).max() > 0.99 * np.sqrt(9.0 / n)


def test_variance_scaling_small_fans_do_not_amplify():
    # s = scale / max(1, n): a fan below 1 (a scalar weight) does not blow the scale up.
    w = initializers.VarianceScaling(distribution="uniform", seed=0)((), dtype="float64")
    assert w.shape == () and abs(float(w)) <= np.sqrt(3.0)


# -- fans --------------------------------------------------------------------------------


def test_fans_dense():
    assert _compute_fans((784, 128)) == (784, 128)


def test_fans_conv2d():
    assert _compute_fans((3, 5, 16, 32)) == (3 * 5 * 16, 3 * 5 * 32)
    assert _compute_fans((32, 16, 3, 5), data_format="channels_first") == (240, 480)


def test_fans_conv1d_keeps_the_2_0_5_quirk():
    # Keras 2.0.5 takes the receptive field as prod(shape[:2]) = kernel_size * in.
    assert _compute_fans((5, 16, 32)) == (16 * 5 * 16, 32 * 5 * 16)


def test_fans_conv3d_misses_third_spatial_dim():
    assert _compute_fans((2, 3, 4, 8, 16)) == (8 * 6, 16 * 6)


def test_fans_other_ranks():
    assert _compute_fans((9,)) == (3.0, 3.0)
    fi, fo = _compute_fans((2, 2, 2, 2, 2, 2))
    assert fi == fo == pytest.approx(8.0)


def test_fans_bad_data_format():
    with pytest.raises(ValueError, match="channels_last, channels_first"):
        _compute_fans((3, 3, 3), data_format="nhwc")


def test_variance_scaling_uses_quirky_conv1d_fans():
    w = initializers.he_uniform(seed=0)((5, 16, 32), dtype="float64")
    limit = np.sqrt(6.0 / 1280.0)  # not sqrt(6 / 80) as 2.0.6 would give
    assert np.abs(w).max() <= limit and np.abs(w).max() > 0.99 * limit


# -- Orthogonal and Identity -------------------------------------------------------------


@pytest.mark.parametrize("shape", [(64, 32), (32, 64), (40, 40)])
def test_orthogonal_is_orthogonal(shape):
    w = initializers.Orthogonal(gain=2.0, seed=1)(shape, dtype="float64")
    assert w.shape == shape
    small = min(shape)
    gram = w.T @ w if shape[0] >= shape[1] else w @ w.T
    np.testing.assert_allclose(gram, 4.0 * np.eye(small), atol=1e-10)


def test_orthogonal_flattens_leading_dims():
    w = initializers.Orthogonal(seed=2)((3, 3, 4, 36), dtype="float64")
    flat = w.reshape(36, 36)
    np.testing.assert_allclose(flat.T @ flat, np.eye(36), atol=1e-10)


def test_orthogonal_first_draw_matches_keras_global_reseed():
    # Keras 2.0.5 calls np.random.seed(seed) then np.random.normal; same first draw.
    a = np.random.RandomState(7).normal(0.0, 1.0, (6, 4))
    u, _, _ = np.linalg.svd(a, full_matrices=False)
    w = initializers.Orthogonal(seed=7)((6, 4), dtype="float64")
    np.testing.assert_allclose(w, u)


def test_identity():
    np.testing.assert_array_equal(initializers.Identity(gain=3.0)((3, 3)), 3.0 * np.eye(3))
    with pytest.raises(ValueError, match="2D square"):
        initializers.Identity()((3, 4))
    with pytest.raises(ValueError, match="2D square"):
        initializers.Identity()((3, 3, 3))


# -- seeding -----------------------------------------------------------------------------

SEEDED = [
    lambda seed: initializers.RandomNormal(seed=seed),
    lambda seed: initializers.RandomUniform(seed=seed),
    lambda seed: initializers.TruncatedNormal(seed=seed),
    lambda seed: initializers.Orthogonal(seed=seed),
    initializers.glorot_uniform,
    initializers.he_normal,
]


@pytest.mark.parametrize("make", SEEDED)
def test_seeded_instances_reproduce_their_stream(make):
    a, b = make(11), make(11)
    first_a, second_a = a((8, 8)), a((8, 8))
    first_b, second_b = b((8, 8)), b((8, 8))
    np.testing.assert_array_equal(first_a, first_b)
    np.testing.assert_array_equal(second_a, second_b)
    assert not np.array_equal(first_a, second_a)  # the stream goes on
    assert not np.array_equal(first_a, make(12)((8, 8)))


@pytest.mark.parametrize("make", SEEDED)
def test_seeded_instances_leave_global_state_alone(make):
    np.random.seed(0)
    expected = np.random.uniform(size=3)
    np.random.seed(0)
    make(5)((4, 4))
    np.testing.assert_array_equal(np.random.uniform(size=3), expected)


@pytest.mark.parametrize("make", SEEDED)
def test_unseeded_follow_global_seed(make):
    np.random.seed(42)
    a = make(None)((5, 5))
    np.random.seed(42)
    b = make(None)((5, 5))
    np.testing.assert_array_equal(a, b)


# -- serialization -----------------------------------------------------------------------


def test_glorot_uniform_serializes_as_variance_scaling():
    init = initializers.get("glorot_uniform")
    assert type(init) is initializers.VarianceScaling
    assert initializers.serialize(init) == {
        "class_name": "VarianceScaling",
        "config": {"scale": 1.0, "mode": "fan_avg", "distribution": "uniform", "seed": None},
    }


@pytest.mark.parametrize(
    "init",
    [
        initializers.Zeros(),
        initializers.Ones(),
        initializers.Constant(0.3),
        initializers.RandomNormal(0.1, 0.2, seed=1),
        initializers.RandomUniform(-1.0, 2.0, seed=2),
        initializers.TruncatedNormal(0.0, 0.5, seed=3),
        initializers.VarianceScaling(2.0, "fan_out", "normal", seed=4),
        initializers.Orthogonal(gain=1.5, seed=5),
        initializers.Identity(gain=0.5),
        initializers.he_normal(seed=6),
    ],
)
def test_serialization_round_trip(init):
    config = initializers.serialize(init)
    assert config["class_name"] == type(init).__name__
    again = initializers.deserialize(config)
    assert type(again) is type(init)
    assert again.get_config() == init.get_config()
    assert initializers.get(config).get_config() == init.get_config()
    np.testing.assert_array_equal(again((4, 4)), type(init).from_config(init.get_config())((4, 4)))


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("zero", initializers.Zeros),
        ("zeros", initializers.Zeros),
        ("Zeros", initializers.Zeros),
        ("one", initializers.Ones),
        ("constant", initializers.Constant),
        ("normal", initializers.RandomNormal),
        ("random_normal", initializers.RandomNormal),
        ("uniform", initializers.RandomUniform),
        ("random_uniform", initializers.RandomUniform),
        ("truncated_normal", initializers.TruncatedNormal),
        ("orthogonal", initializers.Orthogonal),
        ("identity", initializers.Identity),
        ("VarianceScaling", initializers.VarianceScaling),
        ("he_uniform", initializers.VarianceScaling),
        ("lecun_uniform", initializers.VarianceScaling),
    ],
)
def test_get_resolves_names(name, cls):
    assert type(initializers.get(name)) is cls


def test_get_passes_callables_through():
    def my_init(shape, dtype=None):
        return np.zeros(shape)

    assert initializers.get(my_init) is my_init
    assert initializers.serialize(my_init) == "my_init"


def test_custom_objects():
    class MyInit(initializers.Initializer):
        def __init__(self, value=1.0):
            self.value = value

        def __call__(self, shape, dtype=None):
            return np.full(shape, self.value)

        def get_config(self):
            return {"value": self.value}

    config = {"class_name": "MyInit", "config": {"value": 4.0}}
    assert initializers.deserialize(config, custom_objects={"MyInit": MyInit}).value == 4.0
    with CustomObjectScope({"MyInit": MyInit}):
        assert initializers.get(config).value == 4.0
        assert initializers.get("MyInit").value == 1.0
    assert "MyInit" not in get_custom_objects()
    with custom_object_scope({"MyInit": MyInit}):
        get_custom_objects()["Other"] = MyInit  # changes inside the scope do not escape
    assert "Other" not in get_custom_objects()
    with pytest.raises(ValueError, match="Unknown initializer: MyInit"):
        initializers.get(config)


# -- bad arguments -----------------------------------------------------------------------


def test_unknown_name_lists_sorted_choices():
    with pytest.raises(ValueError) as info:
        initializers.get("glorot_uniformm")
    message = str(info.value)
    assert message.startswith("Unknown initializer: glorot_uniformm. Valid choices: ")
    choices = message.split("Valid choices: ")[1].split(". ")[0].split(", ")
    assert choices == sorted(choices)
    assert {"glorot_uniform", "Orthogonal", "zeros", "he_normal"} <= set(choices)


def test_bad_identifier_type():
    with pytest.raises(ValueError, match="Could not interpret initializer identifier: 42"):
        initializers.get(42)
    with pytest.raises(ValueError, match="Improper config format"):
        initializers.deserialize({"config": {}})


def test_variance_scaling_bad_arguments():
    with pytest.raises(ValueError, match=r"mode.*'fan_x'.*valid choices: fan_in, fan_out, fan_avg"):
        initializers.VarianceScaling(mode="fan_x")
    with pytest.raises(ValueError, match=r"distribution.*'gauss'.*valid choices: normal, uniform"):
        initializers.VarianceScaling(distribution="gauss")
    with pytest.raises(ValueError, match="positive"):
        initializers.VarianceScaling(scale=0.0)
    # Keras lower-cases both arguments.
    assert initializers.VarianceScaling(mode="FAN_AVG", distribution="Uniform").mode == "fan_avg"
