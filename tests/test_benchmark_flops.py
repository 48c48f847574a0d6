"""The benchmark's FLOP count and optimizer-update program, which set the ceiling and the floor
its report compares targets with."""

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


def test_update_program_is_the_optimizers_update_with_a_row_sparse_table():
    import numpy as np
    import onnx
    import onnxruntime as ort

    from benchmarks.floors import _update_program, update_ms

    model = keras.models.Sequential(
        [keras.layers.Embedding(50, 4, input_length=6), keras.layers.LSTM(3), keras.layers.Dense(1)]
    )
    model.compile(optimizer=keras.optimizers.Adam(lr=0.01), loss="mse")
    before = [w.copy() for w in model.get_weights()]
    x = np.array([[1, 2, 2, 0, 7, 7], [3, 3, 3, 3, 3, 49]])
    model_bytes, values = _update_program(model, x)
    sess = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    ops = {n.op_type for n in onnx.load_from_string(model_bytes).graph.node}
    assert "ScatterND" in ops and "MatMul" not in ops  # the table's rows, and no product
    outs = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, values), strict=True))
    # Adam: each of the 6 weights gets a new value, a new m and a new v; plus the step count
    assert len(outs) == 3 * len(model.trainable_weights) + 1 == 19
    table = next(v for k, v in outs.items() if k.startswith("embedding") and k.endswith("__new"))
    assert table.shape == (50, 4)
    assert update_ms(model, x) > 0
    # the model's own optimizer and weights are untouched
    for w, b in zip(model.get_weights(), before, strict=True):
        np.testing.assert_array_equal(w, b)
