"""Optimizer configs as tf-keras 2.21 serializes them, for the config-mapping tests.

Writes ``tests/fixtures/tf_keras_optimizer_configs.json``: ``{case: serialized config}``
from ``tf_keras.optimizers.serialize`` for the current optimizers, the legacy ones and a
few settings kgraph must refuse. The tests (tests/test_optimizers_reference.py) load each
config with ``kgraph.optimizers.deserialize`` and check the mapped 2.0.5 arguments.

Run (TensorFlow is needed only here)::

    cd <repo root> && /work/venv-tf/bin/python tools/make_optimizer_configs.py
"""

from __future__ import annotations

import json
import os

import tf_keras as keras

O = keras.optimizers  # noqa: E741
L = keras.optimizers.legacy


def cases() -> dict:
    schedule = O.schedules.InverseTimeDecay(0.01, decay_steps=10, decay_rate=0.5)
    exponential = O.schedules.ExponentialDecay(0.01, decay_steps=10, decay_rate=0.5)
    made = {
        "sgd": O.SGD(learning_rate=0.05, momentum=0.9, nesterov=True, global_clipnorm=1.0),
        "rmsprop": O.RMSprop(learning_rate=0.002, rho=0.8, epsilon=1e-6, clipvalue=0.5),
        "adagrad": O.Adagrad(learning_rate=0.02),
        "adadelta": O.Adadelta(learning_rate=1.0, rho=0.9),
        "adam_inverse_time": O.Adam(learning_rate=schedule),
        "adamax": O.Adamax(learning_rate=0.003, beta_1=0.8),
        "nadam": O.Nadam(learning_rate=0.004),
        "legacy_sgd": L.SGD(learning_rate=0.05, decay=0.01, momentum=0.5),
        "legacy_rmsprop": L.RMSprop(),
        "legacy_adagrad": L.Adagrad(initial_accumulator_value=0.0, epsilon=1e-8),
        "legacy_adam": L.Adam(learning_rate=0.01, clipvalue=0.1),
        "legacy_nadam": L.Nadam(),
        "refuse_amsgrad": O.Adam(amsgrad=True),
        "refuse_clipnorm": O.SGD(clipnorm=1.0),
        "refuse_centered": O.RMSprop(centered=True),
        "refuse_rmsprop_momentum": O.RMSprop(momentum=0.9),
        "refuse_weight_decay": O.Adam(weight_decay=0.004),
        "refuse_ema": O.SGD(use_ema=True),
        "refuse_exponential_decay": O.SGD(learning_rate=exponential),
    }
    return {name: O.serialize(opt) for name, opt in made.items()}


def main() -> None:
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    path = os.path.join(root, "tests", "fixtures", "tf_keras_optimizer_configs.json")
    with open(path, "w") as f:
        json.dump(cases(), f, indent=1, sort_keys=True)
        f.write("\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
