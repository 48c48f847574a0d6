"""Losses and metrics inside models: Keras 2.0.5's per-output loss formula (KERAS_API.md
section 2.4) with masks, 1-D and temporal sample weights, per-output and custom metrics and
their names, all against numpy.

Per output:  score = loss(y, p) [* mask / mean(mask)];  mean over the axes the weights do
not have;  * w / mean(w != 0);  mean.  Metrics use the mask, never the weights.
"""

from __future__ import annotations

import numpy as np
import pytest

import kgraph.backend as K
from kgraph import metrics as kmetrics
from kgraph.engine.topology import Input
from kgraph.engine.training import Model
from kgraph.layers import Dense
from kgraph.layers.core_extra import Masking
from kgraph.optimizers import SGD

LR = 0.1
B, T, F, C = 8, 4, 3, 2


def _data(seed=0, masked=False):
    rng = np.random.RandomState(seed)
    x = rng.normal(size=(B, T, F)).astype(np.float32)
    y = rng.normal(size=(B, T, C)).astype(np.float32)
    if masked:  # whole timesteps of zeros are masked out by Masking(0.)
        x[0, 3] = x[2, 0] = x[2, 1] = x[5, 2] = 0.0
    return x, y


def _model(masked=False, mode=None, metrics=None):
    inp = Input(shape=(T, F))
    h = Masking(0.0)(inp) if masked else inp
    out = Dense(C, name="out")(h)  # Dense contracts the last axis: (batch, T, C)
    model = Model(inp, out)
    model.compile(SGD(lr=LR), "mse", sample_weight_mode=mode, metrics=metrics)
    return model


def _coefficients(x, w, masked):
    """The loss is linear in the per-step scores s[b, t]: loss = sum(coef * s)."""
    mask = np.any(x != 0, axis=-1).astype(np.float64) if masked else np.ones(x.shape[:2])
    wb = w if w.ndim == 2 else np.broadcast_to(w[:, None], mask.shape)
    return mask / mask.mean() * wb / (w != 0).mean() / mask.size


def _loss_and_step(weights, x, y, w, masked):
    """Keras 2.0.5's weighted, masked mse of a linear Dense and one SGD step, in float64."""
    kernel, bias = (a.astype(np.float64) for a in weights)
    p = x.astype(np.float64) @ kernel + bias
    diff = p - y
    coef = _coefficients(x, w, masked)
    loss = (coef * (diff**2).mean(-1)).sum()
    g = coef[..., None] * 2.0 * diff / C
    grads = [np.einsum("btf,btc->fc", x, g), g.sum((0, 1))]
    return loss, [a - LR * gr for a, gr in zip((kernel, bias), grads, strict=True)]


def _masked_mae(weights, x, y, masked):
    kernel, bias = (a.astype(np.float64) for a in weights)
    score = np.abs(x @ kernel + bias - y).mean(-1)
    mask = np.any(x != 0, axis=-1) if masked else np.ones(score.shape)
    return (score * mask).mean() / mask.mean()


@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("temporal", [False, True])
def test_train_and_test_on_batch_follow_the_weighted_masked_loss(masked, temporal):
    x, y = _data(masked=masked)
    rng = np.random.RandomState(1)
    w = rng.uniform(0.5, 2.0, size=(B, T) if temporal else (B,)).astype(np.float32)
    w[1] = 0.0  # zero weights shrink the normalizer mean(w != 0)
    if temporal:
        w[4, 2] = 0.0
    model = _model(masked, "temporal" if temporal else None, metrics=["mae"])
    start = model.get_weights()
    loss, new = _loss_and_step(start, x, y, w, masked)
    test = model.test_on_batch(x, y, sample_weight=w)
    assert test[0] == pytest.approx(loss, rel=1e-5)
    # The metric is masked but ignores the sample weights.
    assert test[1] == pytest.approx(_masked_mae(start, x, y, masked), rel=1e-5)
    outs = model.train_on_batch(x, y, sample_weight=w)
    assert outs[0] == pytest.approx(loss, rel=1e-5)
    for got, want in zip(model.get_weights(), new, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_fit_with_temporal_weights_matches_numpy_sgd():
    x, y = _data(seed=3, masked=True)
    w = np.random.RandomState(4).uniform(0.0, 2.0, size=(B, T)).astype(np.float32)
    w[w < 0.4] = 0.0
    model = _model(masked=True, mode="temporal")
    weights = [a.astype(np.float64) for a in model.get_weights()]
    history = model.fit(x, y, batch_size=3, epochs=2, shuffle=False, sample_weight=w, verbose=0)
    for epoch in range(2):
        total = 0.0
        for start in range(0, B, 3):
            sl = slice(start, start + 3)
            loss, weights = _loss_and_step(weights, x[sl], y[sl], w[sl], True)
            total += loss * len(x[sl])
        assert history.history["loss"][epoch] == pytest.approx(total / B, rel=1e-5)
    for got, want in zip(model.get_weights(), weights, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    loss, _ = _loss_and_step(weights, x, y, w, True)
    assert model.evaluate(x, y, sample_weight=w, batch_size=B, verbose=0) == pytest.approx(
        loss, rel=1e-5
    )


def test_temporal_mode_needs_two_dimensional_weights():
    x, y = _data()
    model = _model(mode="temporal")
    with pytest.raises(ValueError, match="expected 2 dimension"):
        model.train_on_batch(x, y, sample_weight=np.ones(B, np.float32))
    # Without sample weights, temporal outputs get ones of shape (samples, timesteps).
    assert np.isfinite(model.train_on_batch(x, y))


def my_metric(y_true, y_pred):
    return K.max(K.abs(y_true - y_pred), axis=-1)


def top2(y_true, y_pred):
    return kmetrics.top_k_categorical_accuracy(y_true, y_pred, k=2)


def _two_outputs(metrics, loss_weights=None):
    inp = Input(shape=(6,))
    cls = Dense(4, activation="softmax", name="cls")(inp)
    reg = Dense(2, name="reg")(inp)
    model = Model(inp, [cls, reg])
    model.compile("sgd", loss={"cls": "categorical_crossentropy", "reg": "mse"},
                  loss_weights=loss_weights, metrics=metrics)  # fmt: skip
    return model


def _two_output_data(n=10):
    rng = np.random.RandomState(5)
    x = rng.normal(size=(n, 6)).astype(np.float32)
    y_cls = np.eye(4, dtype=np.float32)[rng.randint(0, 4, size=n)]
    y_reg = rng.normal(size=(n, 2)).astype(np.float32)
    return x, y_cls, y_reg


def _in_top_k(p, labels, k):
    return ((p > p[np.arange(len(p)), labels][:, None]).sum(-1) < k).astype(np.float64)


def test_per_output_and_custom_metrics_values_and_names():
    model = _two_outputs(
        {"cls": ["acc", top2], "reg": ["mae", my_metric]}, {"cls": 1.0, "reg": 0.5}
    )
    assert model.metrics_names == [
        "loss", "cls_loss", "reg_loss", "cls_acc", "cls_top2", "reg_mean_absolute_error",
        "reg_my_metric",
    ]  # fmt: skip
    x, y_cls, y_reg = _two_output_data()
    p_cls, p_reg = (a.astype(np.float64) for a in model.predict(x))
    labels = y_cls.argmax(-1)
    clipped = np.clip(p_cls / p_cls.sum(-1, keepdims=True), 1e-7, 1 - 1e-7)
    cls_loss = -(y_cls * np.log(clipped)).sum(-1).mean()
    reg_loss = ((p_reg - y_reg) ** 2).mean()
    want = [
        cls_loss + 0.5 * reg_loss, cls_loss, reg_loss,
        (p_cls.argmax(-1) == labels).mean(), _in_top_k(p_cls, labels, 2).mean(),
        np.abs(p_reg - y_reg).mean(), np.abs(p_reg - y_reg).max(-1).mean(),
    ]  # fmt: skip
    got = model.evaluate(x, [y_cls, y_reg], batch_size=len(x), verbose=0)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    # Sample weights change the losses, never the metrics.
    sw = np.linspace(0.0, 2.0, len(x)).astype(np.float32)
    weighted = model.evaluate(
        x, [y_cls, y_reg], batch_size=len(x), sample_weight=[sw, sw], verbose=0
    )
    np.testing.assert_allclose(weighted[3:], want[3:], rtol=1e-5, atol=1e-6)
    assert abs(weighted[1] - want[1]) > 1e-3
    history = model.fit(x, [y_cls, y_reg], epochs=1, verbose=0, validation_data=(x, [y_cls, y_reg]))
    assert sorted(history.history) == sorted(
        model.metrics_names + ["val_" + n for n in model.metrics_names]
    )


def test_a_metrics_list_applies_to_every_output():
    model = _two_outputs(["mse", "accuracy"])
    assert model.metrics_names == [
        "loss", "cls_loss", "reg_loss", "cls_mean_squared_error", "cls_acc",
        "reg_mean_squared_error", "reg_acc",
    ]  # fmt: skip
    x, y_cls, y_reg = _two_output_data()
    p_cls, p_reg = model.predict(x)
    got = model.evaluate(x, [y_cls, y_reg], batch_size=len(x), verbose=0)
    # 'acc' on the mse output with 2 units resolves to categorical_accuracy.
    want_reg_acc = (p_reg.argmax(-1) == y_reg.argmax(-1)).mean()
    assert got[3] == pytest.approx(((p_cls - y_cls) ** 2).mean(), rel=1e-5)
    assert got[6] == pytest.approx(want_reg_acc)


@pytest.mark.parametrize("name", ["kld", "categorical_hinge", "nope"])
def test_metric_names_keras_205_does_not_accept(name):
    with pytest.raises(ValueError, match=f"Unknown metric function: '{name}'"):
        _two_outputs([name])


def test_top_k_on_sequences_uses_the_output_mask():
    x, _ = _data(seed=6, masked=True)
    labels = np.random.RandomState(7).randint(0, 3, size=(B, T))
    inp = Input(shape=(T, F))
    out = Dense(3, activation="softmax")(Masking(0.0)(inp))
    model = Model(inp, out)
    model.compile("sgd", "categorical_crossentropy", metrics=[top2])
    p = model.predict(x).astype(np.float64)
    picked = np.take_along_axis(p, labels[..., None], -1)
    hits = ((p > picked).sum(-1) < 2).astype(np.float64)
    mask = np.any(x != 0, axis=-1)
    got = model.evaluate(x, np.eye(3, dtype=np.float32)[labels], batch_size=B, verbose=0)
    assert got[1] == pytest.approx((hits * mask).mean() / mask.mean(), rel=1e-6)
