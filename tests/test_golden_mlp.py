"""MLPs against golden fixtures made by real Keras (tf-keras; tools/make_fixtures.py).

For each case (an optimizer, a loss, several activations, regularizers and constraints):
losses and metrics of five train_on_batch steps, the weights after one and after five
steps, predict and evaluate all match Keras; for one case a whole `fit` with a validation
split matches Keras's History and final weights.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import kgraph.backend as K
from kgraph import optimizers, regularizers
from kgraph.layers import Dense
from kgraph.models import Sequential

FIXTURES = Path(__file__).parent / "fixtures"
CASES = json.loads((FIXTURES / "mlp_cases.json").read_text())
RTOL, ATOL = 1e-5, 1e-6


def _regularizer(spec):
    return None if spec is None else regularizers.L1L2(**spec)


def build(case: dict) -> Sequential:
    K.clear_session()
    model = Sequential()
    for i, spec in enumerate(case["layers"]):
        extra = {"input_dim": case["input_dim"]} if i == 0 else {}
        model.add(
            Dense(
                spec["units"],
                activation=spec["activation"],
                kernel_regularizer=_regularizer(spec["kernel_regularizer"]),
                bias_regularizer=_regularizer(spec["bias_regularizer"]),
                activity_regularizer=_regularizer(spec["activity_regularizer"]),
                kernel_constraint=spec["kernel_constraint"],
                bias_constraint=spec["bias_constraint"],
                **extra,
            )
        )
    opt = optimizers.deserialize(case["optimizer"])
    model.compile(opt, case["loss"], metrics=case["metrics"])
    return model


def _load(case: dict):
    data = np.load(FIXTURES / case["npz"])
    n = len(case["weight_shapes"])
    return data, [data[f"init_{i}"] for i in range(n)]


def _weights(data, prefix: str, n: int):
    return [data[f"{prefix}_{i}"] for i in range(n)]


@pytest.mark.parametrize("name", sorted(CASES))
def test_train_on_batch_steps_match_keras(name):
    case = CASES[name]
    data, init = _load(case)
    model = build(case)
    assert [tuple(w.shape) for w in model.weights] == [tuple(s) for s in case["weight_shapes"]]
    assert model.metrics_names == case["metrics_names"]
    model.set_weights(init)
    x, y = data["x"][: case["batch"]], data["y"][: case["batch"]]
    for step in range(case["steps"]):
        out = np.atleast_1d(model.train_on_batch(x, y))
        expected = np.concatenate([[data["loss_steps"][step]], data["metric_steps"][step]])
        np.testing.assert_allclose(out, expected, rtol=RTOL, atol=ATOL, err_msg=f"step {step + 1}")
        if step == 0:
            for got, want in zip(model.get_weights(), _weights(data, "after1", len(init))):
                np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)
    for got, want in zip(model.get_weights(), _weights(data, "afterK", len(init))):
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(
        model.predict(data["x_test"], batch_size=case["predict_batch_size"]),
        data["predict"], rtol=RTOL, atol=ATOL,
    )  # fmt: skip
    if case["has_evaluate"]:
        got = np.atleast_1d(
            model.evaluate(data["x_test"], data["y_test"], batch_size=case["evaluate_batch_size"], verbose=0)
        )
        np.testing.assert_allclose(got, data["evaluate"], rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("name", sorted(n for n, c in CASES.items() if c["fit"]))
def test_fit_history_matches_keras(name):
    case = CASES[name]
    data, init = _load(case)
    model = build(case)
    model.set_weights(init)
    history = model.fit(data["x"], data["y"], verbose=0, **case["fit"])
    assert sorted(history.history) == sorted(case["history_keys"])
    for key in case["history_keys"]:
        np.testing.assert_allclose(history.history[key], data[f"fit_{key}"], rtol=RTOL, atol=ATOL, err_msg=key)
    assert history.epoch == list(range(case["fit"]["epochs"]))
    for got, want in zip(model.get_weights(), _weights(data, "fit_weights", len(init))):
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)
