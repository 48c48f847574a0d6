"""Row-sparse embedding gradients: same numbers as the dense formulas, fewer table passes."""

from __future__ import annotations

import numpy as np
import pytest

import kgraph as keras
import lowering.sparse
from kgraph import backend as K

VOCAB, DIM = 3000, 8


def _train(optimizer, sparse: bool, monkeypatch, regularizer=None, steps=3, shared=False):
    monkeypatch.setattr(lowering.sparse, "MIN_ELEMENTS", 1 if sparse else 1 << 62)
    K.clear_session()
    rng = np.random.default_rng(0)
    tokens = keras.layers.Input((6,), dtype="int32")
    emb = keras.layers.Embedding(VOCAB, DIM, embeddings_regularizer=regularizer,
                                 embeddings_initializer=keras.initializers.RandomUniform(seed=1))
    h = keras.layers.Flatten()(emb(tokens))
    if shared:
        other = keras.layers.Input((6,), dtype="int32")
        h = keras.layers.concatenate([h, keras.layers.Flatten()(emb(other))])
        inputs = [tokens, other]
    else:
        inputs = tokens
    out = keras.layers.Dense(1, activation="sigmoid",
                             kernel_initializer=keras.initializers.RandomUniform(seed=2))(h)
    model = keras.models.Model(inputs, out)
    model.compile(optimizer, "binary_crossentropy")
    losses = []
    for step in range(steps):
        # Repeated tokens within and across samples: duplicates must be summed first.
        x = rng.integers(0, 40, size=(16, 6)).astype("int32")
        x[:, 0] = 7
        y = rng.integers(0, 2, size=(16, 1)).astype("float32")
        feed = [x, x[::-1].copy()] if shared else x
        losses.append(model.train_on_batch(feed, y))
    ops = [n.op_type for n in model._train_fn.program.model.graph.node]
    return losses, model.get_weights(), ops


OPTIMIZERS = {
    "sgd": lambda: keras.optimizers.SGD(lr=0.5),
    "sgd_momentum": lambda: keras.optimizers.SGD(lr=0.3, momentum=0.9, nesterov=True),
    "rmsprop": lambda: keras.optimizers.RMSprop(lr=0.01),
    "adagrad": lambda: keras.optimizers.Adagrad(lr=0.1),
    "adadelta": lambda: keras.optimizers.Adadelta(),
    "adam": lambda: keras.optimizers.Adam(lr=0.01),
    "adamax": lambda: keras.optimizers.Adamax(),
    "nadam": lambda: keras.optimizers.Nadam(),
}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_sparse_rows_give_the_dense_results(name, monkeypatch):
    dense_losses, dense_weights, dense_ops = _train(OPTIMIZERS[name](), False, monkeypatch)
    sparse_losses, sparse_weights, sparse_ops = _train(OPTIMIZERS[name](), True, monkeypatch)
    assert "NonZero" not in dense_ops and "NonZero" in sparse_ops
    # Each touched row sees the same float operations in the same order: equal bit for bit.
    np.testing.assert_array_equal(sparse_losses, dense_losses)
    for a, b in zip(sparse_weights, dense_weights):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", ["sgd", "adam", "rmsprop", "adagrad"])
def test_small_tables_stay_dense_by_default(name, monkeypatch):
    monkeypatch.setattr(lowering.sparse, "MIN_ELEMENTS", VOCAB * DIM + 1)
    K.clear_session()
    model = keras.models.Sequential([keras.layers.Embedding(VOCAB, DIM, input_length=3),
                                     keras.layers.Flatten(), keras.layers.Dense(1)])
    model.compile(OPTIMIZERS[name](), "mse")
    model.train_on_batch(np.zeros((2, 3), "int32"), np.zeros((2, 1), "float32"))
    assert "NonZero" not in [n.op_type for n in model._train_fn.program.model.graph.node]


def test_regularized_and_shared_tables_stay_exact(monkeypatch):
    for kw in ({"regularizer": keras.regularizers.l2(0.01)}, {"shared": True}):
        d = _train(keras.optimizers.Adam(lr=0.01), False, monkeypatch, **kw)
        s = _train(keras.optimizers.Adam(lr=0.01), True, monkeypatch, **kw)
        assert "NonZero" in s[2]
        np.testing.assert_array_equal(s[0], d[0])
        for a, b in zip(s[1], d[1]):
            np.testing.assert_array_equal(a, b)
