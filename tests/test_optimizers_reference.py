"""Optimizers against an independent float64 numpy transcription of Keras 2.0.5's update
rules (KERAS_API.md §4.3), config round trips, slot weights, and tf-keras configs.

The model is one linear Dense layer trained with mse, so its gradients are analytic:
with P = XW + b and G = 2 (P - Y) / (N * units), dL/dW = X^T G and dL/db = sum_rows G.
"""

from __future__ import annotations

import json
import math
import os
import re
import warnings

import numpy as np
import pytest

from kgraph import backend as K
from kgraph import optimizers
from kgraph.layers import Dense
from kgraph.models import Sequential

STEPS, BATCH, IN, UNITS = 5, 8, 3, 2
FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")


def f32(v: float) -> float:
    """Hyper-parameters live in float32 variables or constants in the graph."""
    return float(np.float32(v))


class Reference:
    """Keras 2.0.5's optimizers in float64 numpy, transcribed from KERAS_API.md §4.3.

    `params` is the list [bias, kernel]: the model's trainable weights sorted by name, the
    order 2.0.5 hands them to `get_updates`.
    """

    DEFAULTS = {
        "SGD": {"lr": 0.01, "momentum": 0.0, "decay": 0.0, "nesterov": False},
        "RMSprop": {"lr": 0.001, "rho": 0.9, "epsilon": 1e-8, "decay": 0.0},
        "Adagrad": {"lr": 0.01, "epsilon": 1e-8, "decay": 0.0, "initial_accumulator_value": 0.0},
        "Adadelta": {"lr": 1.0, "rho": 0.95, "epsilon": 1e-8, "decay": 0.0},
        "Adam": {"lr": 0.001, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-8, "decay": 0.0},
        "Adamax": {"lr": 0.002, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-8, "decay": 0.0},
        "Nadam": {
            "lr": 0.002,
            "beta_1": 0.9,
            "beta_2": 0.999,
            "epsilon": 1e-8,
            "schedule_decay": 0.004,
        },
    }

    def __init__(self, name: str, shapes: list[tuple[int, ...]], **config):
        self.name = name
        hp = {**self.DEFAULTS[name], **config}
        self.clipnorm = hp.pop("clipnorm", 0.0)
        self.clipvalue = hp.pop("clipvalue", 0.0)
        self.hp = {k: v if isinstance(v, bool) else f32(v) for k, v in hp.items()}
        self.iterations = 0
        self.m_schedule = 1.0
        self.clipped = 0  # steps where clipping changed a gradient
        init = self.hp.get("initial_accumulator_value", 0.0)
        self.a = [np.full(s, init) for s in shapes]  # first slot: moments / accumulators / ms
        self.b = [np.zeros(s) for s in shapes]  # second slot: delta accumulators / vs / us

    def _clip(self, grads):
        clipped = False
        if self.clipnorm > 0:
            norm = math.sqrt(sum(float(np.sum(g * g)) for g in grads))
            if norm >= self.clipnorm:
                grads = [g * self.clipnorm / norm for g in grads]
                clipped = True
        if self.clipvalue > 0:
            clipped = clipped or any(np.abs(g).max() > self.clipvalue for g in grads)
            grads = [np.clip(g, -self.clipvalue, self.clipvalue) for g in grads]
        self.clipped += clipped
        return grads

    def _lr(self, always_count: bool = False):
        hp = self.hp
        lr = hp["lr"]
        if hp.get("decay", 0.0) > 0:
            lr = lr * (1.0 / (1.0 + hp["decay"] * self.iterations))
        if hp.get("decay", 0.0) > 0 or always_count:
            self.iterations += 1
        return lr

    def step(self, params, grads):
        grads = self._clip(grads)
        return getattr(self, "_" + self.name.lower())(params, grads)

    def _sgd(self, params, grads):
        hp, lr = self.hp, self._lr()
        out = []
        for i, (p, g) in enumerate(zip(params, grads, strict=True)):
            v = hp["momentum"] * self.a[i] - lr * g
            self.a[i] = v
            out.append(p + hp["momentum"] * v - lr * g if hp["nesterov"] else p + v)
        return out

    def _rmsprop(self, params, grads):
        hp, lr = self.hp, self._lr()
        out = []
        for i, (p, g) in enumerate(zip(params, grads, strict=True)):
            self.a[i] = hp["rho"] * self.a[i] + (1 - hp["rho"]) * g**2
            out.append(p - lr * g / (np.sqrt(self.a[i]) + hp["epsilon"]))
        return out

    def _adagrad(self, params, grads):
        hp, lr = self.hp, self._lr()
        out = []
        for i, (p, g) in enumerate(zip(params, grads, strict=True)):
            self.a[i] = self.a[i] + g**2
            out.append(p - lr * g / (np.sqrt(self.a[i]) + hp["epsilon"]))
        return out

    def _adadelta(self, params, grads):
        hp, lr = self.hp, self._lr()
        rho, eps = hp["rho"], hp["epsilon"]
        out = []
        for i, (p, g) in enumerate(zip(params, grads, strict=True)):
            self.a[i] = rho * self.a[i] + (1 - rho) * g**2
            update = g * np.sqrt(self.b[i] + eps) / np.sqrt(self.a[i] + eps)
            out.append(p - lr * update)
            self.b[i] = rho * self.b[i] + (1 - rho) * update**2
        return out

    def _adam(self, params, grads):
        hp = self.hp
        t = self.iterations + 1
        lr = self._lr(always_count=True)
        lr_t = lr * math.sqrt(1 - hp["beta_2"] ** t) / (1 - hp["beta_1"] ** t)
        out = []
        for i, (p, g) in enumerate(zip(params, grads, strict=True)):
            self.a[i] = hp["beta_1"] * self.a[i] + (1 - hp["beta_1"]) * g
            self.b[i] = hp["beta_2"] * self.b[i] + (1 - hp["beta_2"]) * g**2
            out.append(p - lr_t * self.a[i] / (np.sqrt(self.b[i]) + hp["epsilon"]))
        return out

    def _adamax(self, params, grads):
        hp = self.hp
        t = self.iterations + 1
        lr_t = self._lr(always_count=True) / (1 - hp["beta_1"] ** t)
        out = []
        for i, (p, g) in enumerate(zip(params, grads, strict=True)):
            self.a[i] = hp["beta_1"] * self.a[i] + (1 - hp["beta_1"]) * g
            self.b[i] = np.maximum(hp["beta_2"] * self.b[i], np.abs(g))
            out.append(p - lr_t * self.a[i] / (self.b[i] + hp["epsilon"]))
        return out

    def _nadam(self, params, grads):
        hp = self.hp
        b1, b2, sd = hp["beta_1"], hp["beta_2"], hp["schedule_decay"]
        self.iterations += 1
        t = self.iterations
        mu_t = b1 * (1 - 0.5 * 0.96 ** (t * sd))
        mu_t1 = b1 * (1 - 0.5 * 0.96 ** ((t + 1) * sd))
        ms_new = self.m_schedule * mu_t
        ms_next = ms_new * mu_t1
        self.m_schedule = ms_new
        out = []
        for i, (p, g) in enumerate(zip(params, grads, strict=True)):
            g_hat = g / (1 - ms_new)
            self.a[i] = b1 * self.a[i] + (1 - b1) * g
            m_hat = self.a[i] / (1 - ms_next)
            self.b[i] = b2 * self.b[i] + (1 - b2) * g**2
            v_hat = self.b[i] / (1 - b2**t)
            m_bar = (1 - mu_t) * g_hat + mu_t1 * m_hat
            out.append(p - hp["lr"] * m_bar / (np.sqrt(v_hat) + hp["epsilon"]))
        return out

    def slot_weights(self) -> list[np.ndarray]:
        """The optimizer's `weights` in 2.0.5's order (§4.3)."""
        it = [np.array(self.iterations)]
        return {
            "SGD": it + self.a,
            "RMSprop": self.a,
            "Adagrad": self.a,
            "Adadelta": self.a + self.b,
            "Adam": it + self.a + self.b,
            "Adamax": it + self.a + self.b,
            "Nadam": it + self.a + self.b,
        }[self.name]


def loss_and_grads(params, x, y):
    """mse of the linear model and its gradients with respect to [bias, kernel]."""
    b, w = params
    err = x @ w + b - y
    g = 2.0 * err / err.size
    return float(np.mean(err**2)), [g.sum(axis=0), x.T @ g]


def _batches(seed: int = 0):
    rng = np.random.RandomState(seed)
    return [(rng.uniform(-1, 1, (BATCH, IN)).astype("float32"),
             rng.uniform(-1, 1, (BATCH, UNITS)).astype("float32")) for _ in range(STEPS)]  # fmt: skip


def _model(optimizer) -> Sequential:
    np.random.seed(3)
    model = Sequential([Dense(UNITS, input_dim=IN)])
    model.compile(optimizer, "mse")
    return model


BASES = [
    ("SGD", {"lr": 0.1}),
    ("SGD", {"lr": 0.1, "momentum": 0.9}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
    ("SGD", {"lr": 0.1, "momentum": 0.5, "decay": 0.1, "nesterov": True}),
    ("RMSprop", {"lr": 0.01}),
    ("RMSprop", {"lr": 0.01, "rho": 0.8, "decay": 0.05}),
    ("Adagrad", {"lr": 0.1}),
    ("Adagrad", {"lr": 0.1, "decay": 0.05}),
    ("Adadelta", {}),
    ("Adadelta", {"lr": 0.5, "rho": 0.9, "decay": 0.05}),
    ("Adam", {"lr": 0.01}),
    ("Adam", {"lr": 0.01, "beta_1": 0.8, "decay": 0.05}),
    ("Adamax", {"lr": 0.02}),
    ("Adamax", {"lr": 0.02, "beta_2": 0.99, "decay": 0.05}),
    ("Nadam", {"lr": 0.01}),
    ("Nadam", {"lr": 0.01, "schedule_decay": 0.01}),
]
# The first setting of each optimizer also runs with an active clipnorm and clipvalue, and
# SGD with a clipnorm above the gradient norm (no clipping).
CLIPS = [{"clipnorm": 0.1}, {"clipvalue": 0.05}]
CASES = [(n, c) for n, c in BASES]
CASES += [
    (n, {**c, **clip})
    for i, (n, c) in enumerate(BASES)
    if i == 0 or BASES[i - 1][0] != n
    for clip in CLIPS
]
CASES += [("SGD", {"lr": 0.1, "momentum": 0.9, "clipnorm": 100.0})]


def _case_id(case) -> str:
    name, config = case
    return name + "".join(f"-{k}={v}" for k, v in config.items())


def _run(name, config, batches):
    model = _model(getattr(optimizers, name)(**config))
    kernel, bias = model.get_weights()
    params = [bias.astype(np.float64), kernel.astype(np.float64)]
    ref = Reference(name, [p.shape for p in params], **config)
    for x, y in batches:
        loss = model.train_on_batch(x, y)
        ref_loss, grads = loss_and_grads(params, x.astype(np.float64), y.astype(np.float64))
        params = ref.step(params, grads)
        np.testing.assert_allclose(loss, ref_loss, rtol=1e-5)
    return model, ref, params


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_updates_match_the_reference(case):
    name, config = case
    model, ref, params = _run(name, config, _batches())
    kernel, bias = model.get_weights()
    np.testing.assert_allclose(bias, params[0], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(kernel, params[1], rtol=1e-5, atol=1e-7)
    clips = config.get("clipnorm", 0) not in (0, 100.0) or "clipvalue" in config
    assert ref.clipped == (STEPS if clips else 0)
    slots = model.optimizer.get_weights()
    expected = ref.slot_weights()
    assert [s.shape for s in slots] == [e.shape for e in expected]
    for s, e in zip(slots, expected, strict=True):
        np.testing.assert_allclose(s, e, rtol=1e-5, atol=1e-9)


def test_lr_set_between_steps_is_used_without_recompiling():
    batches = _batches()
    model, ref, params = _run("SGD", {"lr": 0.1, "momentum": 0.9}, batches[:2])
    program = model._make_train_function()
    K.set_value(model.optimizer.lr, 0.025)
    ref.hp["lr"] = 0.025
    x, y = batches[2]
    model.train_on_batch(x, y)
    params = ref.step(params, loss_and_grads(params, x.astype(np.float64), y.astype(np.float64))[1])
    assert model._make_train_function() is program
    np.testing.assert_allclose(model.get_weights()[0], params[1], rtol=1e-5, atol=1e-7)


RESUMABLE = [("SGD", {"lr": 0.1, "momentum": 0.9, "decay": 0.1}), ("RMSprop", {"lr": 0.01}),
             ("Adagrad", {"lr": 0.1}), ("Adadelta", {}), ("Adam", {"lr": 0.01, "decay": 0.05}),
             ("Adamax", {"lr": 0.02})]  # fmt: skip


@pytest.mark.parametrize("case", RESUMABLE, ids=_case_id)
def test_set_weights_resumes_training(case):
    """A second optimizer given the first one's weights continues identically. (Nadam's
    m_schedule, and the iteration count of RMSprop/Adagrad/Adadelta, are not among the
    weights in 2.0.5, so those resume only in the settings above.)"""
    name, config = case
    batches = _batches(seed=1)
    first, _, _ = _run(name, config, batches[:3])
    second = _model(getattr(optimizers, name)(**config))
    second._make_train_function()
    second.set_weights(first.get_weights())
    second.optimizer.set_weights(first.optimizer.get_weights())
    for x, y in batches[3:]:
        np.testing.assert_allclose(
            second.train_on_batch(x, y), first.train_on_batch(x, y), rtol=1e-6
        )
    for a, b in zip(first.get_weights(), second.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_set_weights_checks_count_and_shapes():
    model, _, _ = _run("Adam", {}, _batches()[:1])
    weights = model.optimizer.get_weights()
    with pytest.raises(
        ValueError, match=r"Length of the specified weight list \(4\) does not match .* \(5\)"
    ):
        model.optimizer.set_weights(weights[:4])
    with pytest.raises(
        ValueError, match=r"shape \(2,\) not compatible with provided weight shape \(3,\)"
    ):
        model.optimizer.set_weights([weights[0], np.zeros(3), *weights[2:]])


# -- configs -------------------------------------------------------------------------------


ROUND_TRIP = [
    (optimizers.SGD(lr=0.05, momentum=0.9, decay=1e-3, nesterov=True, clipnorm=1.0),
     {"lr": f32(0.05), "momentum": f32(0.9), "decay": f32(1e-3), "nesterov": True, "clipnorm": 1.0}),
    (optimizers.RMSprop(lr=0.002, rho=0.8, epsilon=1e-6, clipvalue=0.5),
     {"lr": f32(0.002), "rho": f32(0.8), "decay": 0.0, "epsilon": 1e-6, "clipvalue": 0.5}),
    (optimizers.Adagrad(), {"lr": f32(0.01), "decay": 0.0, "epsilon": 1e-8}),
    (optimizers.Adadelta(rho=0.9), {"lr": 1.0, "decay": 0.0, "rho": 0.9, "epsilon": 1e-8}),
    (optimizers.Adam(), {"lr": 0.0010000000474974513, "beta_1": f32(0.9), "beta_2": f32(0.999),
                         "decay": 0.0, "epsilon": 1e-8}),
    (optimizers.Adamax(beta_1=0.8), {"lr": f32(0.002), "beta_1": f32(0.8), "beta_2": f32(0.999),
                                     "decay": 0.0, "epsilon": 1e-8}),
    (optimizers.Nadam(), {"lr": f32(0.002), "beta_1": f32(0.9), "beta_2": f32(0.999),
                          "epsilon": 1e-8, "schedule_decay": 0.004}),
]  # fmt: skip


@pytest.mark.parametrize(
    "opt,expected", ROUND_TRIP, ids=lambda v: type(v).__name__ if not isinstance(v, dict) else ""
)
def test_config_round_trip(opt, expected):
    config = opt.get_config()
    assert config == expected
    again = type(opt).from_config(config)
    assert again.get_config() == config
    restored = optimizers.deserialize(optimizers.serialize(opt))
    assert type(restored) is type(opt) and restored.get_config() == config
    assert optimizers.serialize(opt) == {"class_name": type(opt).__name__, "config": config}


def test_get_is_case_insensitive_for_builtins():
    for name in ("adam", "Adam", "ADAM"):
        assert type(optimizers.get(name)) is optimizers.Adam
    assert (
        type(optimizers.get("sgd")) is optimizers.SGD
        and type(optimizers.get("RMSprop")) is optimizers.RMSprop
    )
    opt = optimizers.Nadam()
    assert optimizers.get(opt) is opt
    got = optimizers.get({"class_name": "SGD", "config": {"lr": 0.5}})
    assert got.get_config()["lr"] == 0.5
    with pytest.raises(ValueError, match="adamw"):
        optimizers.get("adamw")
    with pytest.raises(TypeError, match=r"Unexpected keyword argument passed to optimizer: rate"):
        optimizers.get({"class_name": "SGD", "config": {"rate": 0.5}})


def _tf_keras_configs() -> dict:
    with open(os.path.join(FIXTURES, "tf_keras_optimizer_configs.json")) as f:
        return json.load(f)


TF_KERAS_EXPECTED = {
    "sgd": ("SGD", {"lr": f32(0.05), "momentum": f32(0.9), "decay": 0.0, "nesterov": True, "clipnorm": 1.0}),
    "rmsprop": ("RMSprop", {"lr": f32(0.002), "rho": f32(0.8), "decay": 0.0, "epsilon": 1e-6, "clipvalue": 0.5}),
    "adagrad": ("Adagrad", {"lr": f32(0.02), "decay": 0.0, "epsilon": 1e-7, "initial_accumulator_value": 0.1}),
    "adadelta": ("Adadelta", {"lr": 1.0, "decay": 0.0, "rho": 0.9, "epsilon": 1e-7}),
    "adam_inverse_time": ("Adam", {"lr": f32(0.01), "beta_1": f32(0.9), "beta_2": f32(0.999),
                                   "decay": f32(0.05), "epsilon": 1e-7}),
    "adamax": ("Adamax", {"lr": f32(0.003), "beta_1": f32(0.8), "beta_2": f32(0.999), "decay": 0.0,
                          "epsilon": 1e-7}),
    # tf-keras's current Nadam: momentum schedule beta_1 * (1 - 0.5 * 0.96 ** t).
    "nadam": ("Nadam", {"lr": f32(0.004), "beta_1": f32(0.9), "beta_2": f32(0.999), "epsilon": 1e-7,
                        "schedule_decay": 1.0}),
    "legacy_sgd": ("SGD", {"lr": f32(0.05), "momentum": f32(0.5), "decay": f32(0.01), "nesterov": False}),
    "legacy_rmsprop": ("RMSprop", {"lr": f32(0.001), "rho": f32(0.9), "decay": 0.0, "epsilon": 1e-7}),
    "legacy_adagrad": ("Adagrad", {"lr": f32(0.001), "decay": 0.0, "epsilon": 1e-8}),
    "legacy_adam": ("Adam", {"lr": f32(0.01), "beta_1": f32(0.9), "beta_2": f32(0.999), "decay": 0.0,
                             "epsilon": 1e-7, "clipvalue": 0.1}),
    "legacy_nadam": ("Nadam", {"lr": f32(0.001), "beta_1": f32(0.9), "beta_2": f32(0.999), "epsilon": 1e-7,
                               "schedule_decay": 0.004}),
}  # fmt: skip


# Current tf-keras optimizers whose formula 2.0.5's reproduces only in part.
TF_KERAS_WARNED = {
    "nadam": r"current Nadam: kgraph continues with Keras 2\.0\.5's Nadam with schedule_decay=1",
    "rmsprop": r"current \(or Keras 3's\) RMSprop, which divides the gradient by sqrt\(velocity \+ epsilon\); "
               r"kgraph continues with Keras 2\.0\.5's RMSprop, which divides by sqrt\(velocity\) \+ epsilon",
    "adagrad": r"current \(or Keras 3's\) Adagrad, which divides the gradient by sqrt\(accumulator \+ epsilon\).*"
               r"initial accumulator value \(tf-keras's 0\.1; 2\.0\.5 starts from 0\) is the config's, 0\.1",
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(TF_KERAS_EXPECTED))
def test_tf_keras_configs_load(case):
    config = _tf_keras_configs()[case]
    name, expected = TF_KERAS_EXPECTED[case]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        opt = optimizers.deserialize(config)
        assert type(optimizers.get(config)) is type(opt)
    pattern = TF_KERAS_WARNED.get(case)
    assert [re.search(pattern, str(w.message)) is not None for w in caught] == [True] * 2 * bool(pattern)
    assert type(opt).__name__ == name
    assert opt.get_config() == expected


def test_tf_keras_adagrad_trains_from_its_initial_accumulator():
    with pytest.warns(UserWarning, match="current \\(or Keras 3's\\) Adagrad"):
        opt = optimizers.deserialize(_tf_keras_configs()["adagrad"])
    model = _model(opt)
    kernel, bias = model.get_weights()
    params = [bias.astype(np.float64), kernel.astype(np.float64)]
    ref = Reference(
        "Adagrad", [p.shape for p in params], lr=0.02, epsilon=1e-7, initial_accumulator_value=0.1
    )
    for x, y in _batches()[:3]:
        model.train_on_batch(x, y)
        params = ref.step(
            params, loss_and_grads(params, x.astype(np.float64), y.astype(np.float64))[1]
        )
    np.testing.assert_allclose(model.get_weights()[0], params[1], rtol=1e-5, atol=1e-7)


REFUSED = {
    "refuse_amsgrad": r"amsgrad=True",
    "refuse_clipnorm": r"clipnorm=1\.0 .*global_clipnorm",
    "refuse_centered": r"centered=True",
    "refuse_rmsprop_momentum": r"momentum=0\.9",
    "refuse_weight_decay": r"weight_decay=0\.004",
    "refuse_ema": r"use_ema=True",
    "refuse_exponential_decay": r"learning_rate='ExponentialDecay'.*InverseTimeDecay",
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_tf_keras_settings_without_a_2_0_5_equivalent_are_refused(case):
    with pytest.raises(ValueError, match=r"Cannot load the tf-keras \w+ config: " + REFUSED[case]):
        optimizers.deserialize(_tf_keras_configs()[case])


def test_every_fixture_case_is_checked():
    assert set(_tf_keras_configs()) == set(TF_KERAS_EXPECTED) | set(REFUSED)
