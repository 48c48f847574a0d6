"""K.function and K.stop_gradient."""

from __future__ import annotations

import numpy as np
import pytest

import kgraph.backend as K
from kgraph.layers import Dense, Dropout
from kgraph.models import Sequential


def test_function_feeds_the_learning_phase_to_pick_the_program():
    model = Sequential([Dense(3, input_dim=2, kernel_initializer="ones"), Dropout(0.5, seed=3), Dense(1)])
    f = K.function([model.input, K.learning_phase()], [model.layers[0].output, model.layers[1].output])
    x = np.ones((4, 2), "float32")
    dense, dropped = f([x, 0])
    np.testing.assert_array_equal(dense, np.full((4, 3), 2.0))
    np.testing.assert_array_equal(dropped, dense)
    _, dropped = f([x, 1])
    assert set(np.unique(dropped)) <= {0.0, 4.0} and 0 < (dropped == 0).sum() < dropped.size


def test_function_applies_updates_after_computing_outputs():
    v = K.variable(np.array([1.0, 2.0], "float32"))
    x = K.placeholder(shape=(2,))
    f = K.function([x], [x * v], updates=[K.update_add(v, x)])
    np.testing.assert_allclose(f([np.array([1.0, 1.0], "float32")])[0], [1.0, 2.0])
    np.testing.assert_allclose(K.get_value(v), [2.0, 3.0])
    np.testing.assert_allclose(f([np.array([1.0, 1.0], "float32")])[0], [2.0, 3.0])


def test_stop_gradient_blocks_the_backward_pass():
    y = K.placeholder(shape=(None, 3))
    z = K.sum(K.square(y) * K.stop_gradient(y))
    (g,) = K.gradients(z, [y])
    out = K.function([y], [g])([np.full((1, 3), 2.0, "float32")])[0]
    np.testing.assert_allclose(out, np.full((1, 3), 8.0))  # 2*y*y, not 3*y^2


def test_function_names_outputs_that_are_none():
    x, y = K.placeholder((None, 3)), K.placeholder((None, 3))
    grads = K.gradients(K.sum(x * 2), [x, y])
    assert grads[1] is None
    with pytest.raises(ValueError, match=r"output\(s\) \[1\] are None.*does not depend on that tensor"):
        K.function([x, y], grads)
