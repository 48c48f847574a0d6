"""Keras 1 constructor arguments work, with a warning, as in Keras 2.0.5 (keras/legacy)."""

from __future__ import annotations

import numpy as np
import pytest

import kgraph as keras

L = keras.layers

# (Keras 1 call, the Keras 2 call it means)
PAIRS = [
    (lambda: L.Dense(output_dim=3, init="zero", W_regularizer="l2", b_constraint="non_neg", bias=False),
     lambda: L.Dense(3, kernel_initializer="zero", kernel_regularizer="l2", bias_constraint="non_neg",
                     use_bias=False)),
    (lambda: L.Dropout(p=0.3), lambda: L.Dropout(0.3)),
    (lambda: L.GaussianNoise(sigma=0.2), lambda: L.GaussianNoise(0.2)),
    (lambda: L.GaussianDropout(p=0.2), lambda: L.GaussianDropout(0.2)),
    (lambda: L.SpatialDropout2D(p=0.2, dim_ordering="th"),
     lambda: L.SpatialDropout2D(0.2, data_format="channels_first")),
    (lambda: L.PReLU(init="one"), lambda: L.PReLU(alpha_initializer="one")),
    (lambda: L.Embedding(10, 4, init="normal", W_regularizer="l1", dropout=0.2),
     lambda: L.Embedding(10, 4, embeddings_initializer="normal", embeddings_regularizer="l1")),
    (lambda: L.BatchNormalization(mode=0, beta_init="one", gamma_init="zero"),
     lambda: L.BatchNormalization(beta_initializer="one", gamma_initializer="zero")),
    (lambda: L.MaxPooling1D(pool_length=3, stride=1, border_mode="same"),
     lambda: L.MaxPooling1D(3, 1, "same")),
    (lambda: L.AveragePooling2D((2, 2), border_mode="same", dim_ordering="tf"),
     lambda: L.AveragePooling2D((2, 2), padding="same", data_format="channels_last")),
    (lambda: L.GlobalMaxPooling2D(dim_ordering="th"), lambda: L.GlobalMaxPooling2D("channels_first")),
    (lambda: L.UpSampling1D(length=3), lambda: L.UpSampling1D(3)),
    (lambda: L.UpSampling2D(dim_ordering="default"), lambda: L.UpSampling2D()),
    (lambda: L.ZeroPadding2D({"top_pad": 1, "right_pad": 2}), lambda: L.ZeroPadding2D(((1, 0), (0, 2)))),
    (lambda: L.ZeroPadding2D(padding={"bottom_pad": 3}), lambda: L.ZeroPadding2D(((0, 3), (0, 0)))),
    (lambda: L.Cropping2D(((1, 1), (2, 0)), dim_ordering="th"),
     lambda: L.Cropping2D(((1, 1), (2, 0)), data_format="channels_first")),
    (lambda: L.Conv1D(nb_filter=4, filter_length=3, subsample_length=2, border_mode="same",
                      input_dim=5, input_length=7),
     lambda: L.Conv1D(4, 3, strides=2, padding="same", input_shape=(7, 5))),
    (lambda: L.Conv2D(8, 3, 3, border_mode="same", subsample=(2, 2), dim_ordering="th", init="he_normal"),
     lambda: L.Conv2D(8, (3, 3), padding="same", strides=(2, 2), data_format="channels_first",
                      kernel_initializer="he_normal")),
    (lambda: L.Conv2D(8, 3, nb_col=2), lambda: L.Conv2D(8, (3, 2))),
    (lambda: L.Conv2D(nb_filter=8, nb_row=2, nb_col=4), lambda: L.Conv2D(8, (2, 4))),
    (lambda: L.Conv2DTranspose(4, 3, 3, (None, 8, 8, 4), subsample=(2, 2)),
     lambda: L.Conv2DTranspose(4, (3, 3), strides=(2, 2))),
    (lambda: L.SeparableConv2D(4, 3, 3, init="zero", b_regularizer="l2"),
     lambda: L.SeparableConv2D(4, (3, 3), depthwise_initializer="zero", pointwise_initializer="zero",
                               bias_regularizer="l2")),
    (lambda: L.Conv3D(4, 2, 3, 4, border_mode="same"), lambda: L.Conv3D(4, (2, 3, 4), padding="same")),
    (lambda: L.Conv3D(4, 2, kernel_dim2=3, kernel_dim3=4), lambda: L.Conv3D(4, (2, 3, 4))),
]  # fmt: skip


def _config(layer):
    config = layer.get_config()
    config.pop("name")
    return config


@pytest.mark.parametrize("pair", range(len(PAIRS)))
def test_keras1_arguments_mean_their_keras2_names(pair):
    old, new = PAIRS[pair]
    with pytest.warns(UserWarning):
        legacy = old()
    assert _config(legacy) == _config(new())


def test_keras2_calls_do_not_warn(recwarn):
    for _, new in PAIRS:
        new()
    assert not [w for w in recwarn if "Keras 2 API" in str(w.message)]


def test_legacy_model_constructor_and_training():
    keras.backend.clear_session()
    a = L.Input((3,))
    with pytest.warns(UserWarning, match="output_dim -> units"):
        b = L.Dense(output_dim=2, init="one")(a)
    with pytest.warns(UserWarning, match="input -> inputs"):
        model = keras.models.Model(input=a, output=b)
    model.compile("sgd", "mse")
    x = np.ones((4, 3), np.float32)
    np.testing.assert_allclose(model.predict(x), np.full((4, 2), 3.0))


def test_ambiguous_or_removed_keras1_arguments_raise():
    with pytest.raises(ValueError, match=r"Conv2D.*kernel size.*\['padding'\]"):
        L.Conv2D(8, 3, 3, padding="same")
    with pytest.raises(TypeError, match="both the Keras 1 argument `p` and its Keras 2 name `rate`"):
        L.Dropout(p=0.1, rate=0.2)
    with pytest.raises(TypeError, match="mode=1 or 2"):
        L.BatchNormalization(mode=2)
    with pytest.raises(ValueError, match=r"dim_ordering must be one of \['default', 'tf', 'th'\]"):
        L.MaxPooling2D(dim_ordering="nchw")
