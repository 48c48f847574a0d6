"""K.get_session/K.set_session configure the onnxruntime sessions; legacy dim orderings."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

import kgraph as keras
import kgraph.backend as K


def test_set_session_options_reach_new_sessions():
    keras.backend.clear_session()
    model = keras.models.Sequential([keras.layers.Dense(2, input_dim=3, kernel_initializer="ones")])
    x = np.ones((2, 3), np.float32)
    before = model.predict(x)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    try:
        K.set_session(opts)
        assert K.get_session() is opts
        fn = model._make_predict_function()
        np.testing.assert_array_equal(model.predict(x), before)
        sess = fn.executor.session
        assert sess.get_session_options().intra_op_num_threads == 1
        assert sess.get_session_options().graph_optimization_level == ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    finally:
        K.set_session(None)
    assert K.get_session().intra_op_num_threads == 0
    with pytest.raises(TypeError, match="onnxruntime.SessionOptions"):
        K.set_session("a tf.Session")


def test_legacy_image_dim_ordering():
    assert K.image_dim_ordering() == "tf"
    try:
        K.set_image_dim_ordering("th")
        assert K.image_data_format() == "channels_first"
        assert K.image_dim_ordering() == "th"
    finally:
        K.set_image_data_format("channels_last")
    with pytest.raises(ValueError, match="valid choices: 'tf', 'th'"):
        K.set_image_dim_ordering("nchw")
