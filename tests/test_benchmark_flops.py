"""The benchmark's FLOP count, which sets the ceiling its report compares targets with."""

from __future__ import annotations

import pytest

import kgraph as keras
from benchmarks.flops import training_flops


def test_dense_stack_counts_forward_weight_and_input_gradient_products():
    model = keras.models.Sequential(
        [keras.layers.Dense(5, input_shape=(3,)), keras.layers.Dropout(0.5), keras.layers.Dense(2)]
    )
    # first layer: forward + weight gradient; second: also the input gradient
    assert training_flops(model) == 2 * (2 * 3 * 5 + 3 * 5 * 2)


def test_convolution_counts_every_output_position_in_both_data_formats():
    for fmt, shape in (("channels_last", (7, 6, 2)), ("channels_first", (2, 7, 6))):
        model = keras.models.Sequential(
            [keras.layers.Conv2D(4, (3, 2), data_format=fmt, input_shape=shape)]
        )
        assert training_flops(model) == 2 * 2 * (5 * 5) * (3 * 2 * 2 * 4)


def test_recurrent_kernels_run_every_step_and_embedding_is_a_lookup():
    model = keras.models.Sequential(
        [
            keras.layers.Embedding(50, 4, input_length=6),
            keras.layers.LSTM(3),
            keras.layers.Dense(1),
        ]
    )
    lstm = 6 * (4 * 12 + 3 * 12)  # kernel and recurrent kernel at each of 6 steps
    assert training_flops(model) == 2 * 3 * (lstm + 3 * 1)


def test_a_layer_it_cannot_count_is_named():
    model = keras.models.Sequential(
        [keras.layers.LocallyConnected1D(2, 3, input_shape=(8, 2))]
    )
    with pytest.raises(ValueError, match="locally_connected1d_1.*LocallyConnected1D"):
        training_flops(model)
