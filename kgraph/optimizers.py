"""Optimizers with Keras 2.0.5's exact update formulas, as IR update expressions.

Hyper-parameters are variables, so `K.set_value(opt.lr, v)` takes effect at the next step
without recompiling. `get_updates` returns `(variable, new value)` pairs.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from kgraph import backend as K
from kgraph.ir import build as B
from kgraph.utils.generic_utils import deserialize_keras_object, serialize_keras_object

__all__ = [
    "Optimizer", "SGD", "RMSprop", "Adagrad", "Adadelta", "Adam", "Adamax", "Nadam",
    "get", "serialize", "deserialize",
]  # fmt: skip


class Optimizer:
    """Base class. Subclasses implement `get_updates(params, constraints, loss)`."""

    def __init__(self, **kwargs: Any) -> None:
        allowed = {"clipnorm", "clipvalue"}
        for k in kwargs:
            if k not in allowed:
                raise TypeError(
                    f"Unexpected keyword argument passed to optimizer: {k}; valid choices: "
                    "clipnorm, clipvalue"
                )
        self.__dict__.update(kwargs)
        self.updates: list = []
        self.weights: list = []

    def _hyper(self, name: str, value: float) -> Any:
        return K.variable(value, name=name)

    def get_updates(self, params, constraints, loss):
        raise NotImplementedError(f"{type(self).__name__} must implement get_updates")

    def get_gradients(self, loss, params):
        grads = K.gradients(loss, params)
        missing = [p.name for p, g in zip(params, grads) if g is None]
        if missing:
            raise ValueError(
                f"An operation has `None` for gradient: {', '.join(missing)} do not influence "
                "the loss. Make them non-trainable or connect them to the model's outputs."
            )
        if getattr(self, "clipnorm", 0) and self.clipnorm > 0:
            norm = K.sqrt(sum(K.sum(K.square(g)) for g in grads))
            grads = [K.switch(K.greater_equal(norm, self.clipnorm), g * self.clipnorm / norm, g) for g in grads]
        if getattr(self, "clipvalue", 0) and self.clipvalue > 0:
            grads = [K.clip(g, -self.clipvalue, self.clipvalue) for g in grads]
        return grads

    def _decayed_lr(self):
        """lr / (1 + decay * iterations), counting iterations only when decay > 0 (2.0.5)."""
        lr = self.lr
        if self.initial_decay > 0:
            lr = lr * (1.0 / (1.0 + self.decay * K.cast(self.iterations, K.floatx())))
            self.updates.append(K.update_add(self.iterations, 1))
        return lr

    def get_weights(self) -> list[np.ndarray]:
        return K.batch_get_value(self.weights)

    def set_weights(self, weights: list) -> None:
        if len(weights) != len(self.weights):
            raise ValueError(
                f"Length of the specified weight list ({len(weights)}) does not match the "
                f"number of weights of the optimizer ({len(self.weights)})"
            )
        for w, v in zip(self.weights, weights):
            if tuple(np.shape(v)) != tuple(w.shape):
                raise ValueError(f"Optimizer weight shape {w.shape} not compatible with provided weight shape {np.shape(v)}")
        K.batch_set_value(list(zip(self.weights, weights)))

    def get_config(self) -> dict:
        config = {}
        for k in ("clipnorm", "clipvalue"):
            if hasattr(self, k):
                config[k] = getattr(self, k)
        return config

    @classmethod
    def from_config(cls, config: dict) -> Optimizer:
        """The optimizer a config describes: one written by `get_config` (Keras 2.0.x), or
        by tf-keras 2.x / Keras 3, whose settings are mapped onto the 2.0.5 arguments
        (see `_from_tf_keras`)."""
        return cls(**_from_tf_keras(cls, dict(config)))

    def _floats(self, *names: str) -> dict:
        return {n: float(K.get_value(getattr(self, n))) for n in names}


class SGD(Optimizer):
    def __init__(self, lr=0.01, momentum=0.0, decay=0.0, nesterov=False, **kwargs):
        super().__init__(**kwargs)
        self.iterations = K.variable(0, dtype="int64", name="iterations")
        self.lr = self._hyper("lr", lr)
        self.momentum = self._hyper("momentum", momentum)
        self.decay = self._hyper("decay", decay)
        self.initial_decay = decay
        self.nesterov = nesterov

    def get_updates(self, params, constraints, loss):
        grads = self.get_gradients(loss, params)
        self.updates = []
        lr = self._decayed_lr()
        moments = [K.zeros(p.shape) for p in params]
        self.weights = [self.iterations] + moments
        for p, g, m in zip(params, grads, moments):
            v = self.momentum * m - lr * g
            self.updates.append(K.update(m, v))
            new_p = p + self.momentum * v - lr * g if self.nesterov else p + v
            self.updates.append(K.update(p, _constrain(new_p, p, constraints)))
        return self.updates

    def get_config(self):
        return {**self._floats("lr", "momentum", "decay"), "nesterov": self.nesterov, **super().get_config()}


class RMSprop(Optimizer):
    def __init__(self, lr=0.001, rho=0.9, epsilon=1e-8, decay=0.0, **kwargs):
        super().__init__(**kwargs)
        self.lr = self._hyper("lr", lr)
        self.rho = self._hyper("rho", rho)
        self.decay = self._hyper("decay", decay)
        self.iterations = K.variable(0, dtype="int64", name="iterations")
        self.epsilon = epsilon
        self.initial_decay = decay

    def get_updates(self, params, constraints, loss):
        grads = self.get_gradients(loss, params)
        accumulators = [K.zeros(p.shape) for p in params]
        self.weights = accumulators
        self.updates = []
        lr = self._decayed_lr()
        for p, g, a in zip(params, grads, accumulators):
            new_a = self.rho * a + (1.0 - self.rho) * K.square(g)
            self.updates.append(K.update(a, new_a))
            new_p = p - lr * g / (_sqrt(new_a) + self.epsilon)
            self.updates.append(K.update(p, _constrain(new_p, p, constraints)))
        return self.updates

    def get_config(self):
        return {**self._floats("lr", "rho", "decay"), "epsilon": self.epsilon, **super().get_config()}


class Adagrad(Optimizer):
    """Adagrad. `initial_accumulator_value` (0 in Keras 2.0.5) exists so that tf-keras
    configs, whose default is 0.1, load with the same starting state."""

    def __init__(self, lr=0.01, epsilon=1e-8, decay=0.0, *, initial_accumulator_value=0.0,
                 **kwargs):  # fmt: skip
        super().__init__(**kwargs)
        self.lr = self._hyper("lr", lr)
        self.decay = self._hyper("decay", decay)
        self.iterations = K.variable(0, dtype="int64", name="iterations")
        self.epsilon = epsilon
        self.initial_decay = decay
        self.initial_accumulator_value = initial_accumulator_value

    def get_updates(self, params, constraints, loss):
        grads = self.get_gradients(loss, params)
        init = self.initial_accumulator_value
        accumulators = [
            K.variable(np.full(p.shape, init)) if init else K.zeros(p.shape) for p in params
        ]
        self.weights = accumulators
        self.updates = []
        lr = self._decayed_lr()
        for p, g, a in zip(params, grads, accumulators):
            new_a = a + K.square(g)
            self.updates.append(K.update(a, new_a))
            new_p = p - lr * g / (_sqrt(new_a) + self.epsilon)
            self.updates.append(K.update(p, _constrain(new_p, p, constraints)))
        return self.updates

    def get_config(self):
        init = self.initial_accumulator_value
        extra = {"initial_accumulator_value": init} if init else {}
        return {**self._floats("lr", "decay"), "epsilon": self.epsilon, **extra,
                **super().get_config()}  # fmt: skip


class Adadelta(Optimizer):
    def __init__(self, lr=1.0, rho=0.95, epsilon=1e-8, decay=0.0, **kwargs):
        super().__init__(**kwargs)
        self.lr = self._hyper("lr", lr)
        self.decay = self._hyper("decay", decay)
        self.iterations = K.variable(0, dtype="int64", name="iterations")
        self.rho = rho
        self.epsilon = epsilon
        self.initial_decay = decay

    def get_updates(self, params, constraints, loss):
        grads = self.get_gradients(loss, params)
        accumulators = [K.zeros(p.shape) for p in params]
        delta_accumulators = [K.zeros(p.shape) for p in params]
        self.weights = accumulators + delta_accumulators
        self.updates = []
        lr = self._decayed_lr()
        for p, g, a, d_a in zip(params, grads, accumulators, delta_accumulators):
            new_a = self.rho * a + (1.0 - self.rho) * K.square(g)
            self.updates.append(K.update(a, new_a))
            step = g * _sqrt(d_a + self.epsilon) / _sqrt(new_a + self.epsilon)
            new_p = p - lr * step
            self.updates.append(K.update(p, _constrain(new_p, p, constraints)))
            self.updates.append(K.update(d_a, self.rho * d_a + (1 - self.rho) * K.square(step)))
        return self.updates

    def get_config(self):
        return {**self._floats("lr", "decay"), "rho": self.rho, "epsilon": self.epsilon, **super().get_config()}


class Adam(Optimizer):
    def __init__(self, lr=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-8, decay=0.0, **kwargs):
        super().__init__(**kwargs)
        self.iterations = K.variable(0, dtype="int64", name="iterations")
        self.lr = self._hyper("lr", lr)
        self.beta_1 = self._hyper("beta_1", beta_1)
        self.beta_2 = self._hyper("beta_2", beta_2)
        self.decay = self._hyper("decay", decay)
        self.epsilon = epsilon
        self.initial_decay = decay

    def _step(self):
        """lr_t and t for this step; Adam-family optimizers always count iterations."""
        lr = self.lr
        if self.initial_decay > 0:
            lr = lr * (1.0 / (1.0 + self.decay * K.cast(self.iterations, K.floatx())))
        self.updates = [K.update_add(self.iterations, 1)]
        t = K.cast(self.iterations, K.floatx()) + 1.0
        return lr, t

    def get_updates(self, params, constraints, loss):
        grads = self.get_gradients(loss, params)
        lr, t = self._step()
        lr_t = lr * (K.sqrt(1.0 - K.pow(self.beta_2, t)) / (1.0 - K.pow(self.beta_1, t)))
        ms = [K.zeros(p.shape) for p in params]
        vs = [K.zeros(p.shape) for p in params]
        self.weights = [self.iterations] + ms + vs
        for p, g, m, v in zip(params, grads, ms, vs):
            m_t = self.beta_1 * m + (1.0 - self.beta_1) * g
            v_t = self.beta_2 * v + (1.0 - self.beta_2) * K.square(g)
            new_p = p - lr_t * m_t / (_sqrt(v_t) + self.epsilon)
            self.updates += [K.update(m, m_t), K.update(v, v_t)]
            self.updates.append(K.update(p, _constrain(new_p, p, constraints)))
        return self.updates

    def get_config(self):
        return {**self._floats("lr", "beta_1", "beta_2", "decay"), "epsilon": self.epsilon, **super().get_config()}


class Adamax(Adam):
    def __init__(self, lr=0.002, beta_1=0.9, beta_2=0.999, epsilon=1e-8, decay=0.0, **kwargs):
        super().__init__(lr, beta_1, beta_2, epsilon, decay, **kwargs)

    def get_updates(self, params, constraints, loss):
        grads = self.get_gradients(loss, params)
        lr, t = self._step()
        lr_t = lr / (1.0 - K.pow(self.beta_1, t))
        ms = [K.zeros(p.shape) for p in params]
        us = [K.zeros(p.shape) for p in params]
        self.weights = [self.iterations] + ms + us
        for p, g, m, u in zip(params, grads, ms, us):
            m_t = self.beta_1 * m + (1.0 - self.beta_1) * g
            u_t = K.maximum(self.beta_2 * u, K.abs(g))
            new_p = p - lr_t * m_t / (u_t + self.epsilon)
            self.updates += [K.update(m, m_t), K.update(u, u_t)]
            self.updates.append(K.update(p, _constrain(new_p, p, constraints)))
        return self.updates


class Nadam(Optimizer):
    def __init__(self, lr=0.002, beta_1=0.9, beta_2=0.999, epsilon=1e-8, schedule_decay=0.004, **kwargs):
        super().__init__(**kwargs)
        self.iterations = K.variable(0, dtype="int64", name="iterations")
        self.m_schedule = K.variable(1.0, name="m_schedule")
        self.lr = self._hyper("lr", lr)
        self.beta_1 = self._hyper("beta_1", beta_1)
        self.beta_2 = self._hyper("beta_2", beta_2)
        self.epsilon = epsilon
        self.schedule_decay = schedule_decay

    def get_updates(self, params, constraints, loss):
        grads = self.get_gradients(loss, params)
        self.updates = [K.update_add(self.iterations, 1)]
        t = K.cast(self.iterations, K.floatx()) + 1.0
        mu_t = self.beta_1 * (1.0 - 0.5 * K.pow(0.96, t * self.schedule_decay))
        mu_t1 = self.beta_1 * (1.0 - 0.5 * K.pow(0.96, (t + 1.0) * self.schedule_decay))
        m_schedule_new = self.m_schedule * mu_t
        m_schedule_next = m_schedule_new * mu_t1
        self.updates.append((self.m_schedule, m_schedule_new))
        ms = [K.zeros(p.shape) for p in params]
        vs = [K.zeros(p.shape) for p in params]
        self.weights = [self.iterations] + ms + vs
        for p, g, m, v in zip(params, grads, ms, vs):
            g_prime = g / (1.0 - m_schedule_new)
            m_t = self.beta_1 * m + (1.0 - self.beta_1) * g
            m_t_prime = m_t / (1.0 - m_schedule_next)
            v_t = self.beta_2 * v + (1.0 - self.beta_2) * K.square(g)
            v_t_prime = v_t / (1.0 - K.pow(self.beta_2, t))
            m_t_bar = (1.0 - mu_t) * g_prime + mu_t1 * m_t_prime
            new_p = p - self.lr * m_t_bar / (_sqrt(v_t_prime) + self.epsilon)
            self.updates += [K.update(m, m_t), K.update(v, v_t)]
            self.updates.append(K.update(p, _constrain(new_p, p, constraints)))
        return self.updates

    def get_config(self):
        return {**self._floats("lr", "beta_1", "beta_2"), "epsilon": self.epsilon,
                "schedule_decay": self.schedule_decay, **super().get_config()}  # fmt: skip


# tf-keras 2.x / Keras 3 config keys that never change the updates, and keys that
# change them unless absent or at one of the listed values.
_TF_KERAS_IGNORED = {"name", "jit_compile", "is_legacy_optimizer", "ema_momentum",
                     "ema_overwrite_frequency", "loss_scale_factor"}  # fmt: skip
_TF_KERAS_NEUTRAL = {
    "use_ema": (None, False), "weight_decay": (None, 0.0), "amsgrad": (None, False),
    "centered": (None, False), "gradient_accumulation_steps": (None, 1),
}  # fmt: skip
_TF_KERAS_KEYS = {"learning_rate", "global_clipnorm", *_TF_KERAS_IGNORED, *_TF_KERAS_NEUTRAL}
# What tf-keras's current RMSprop and Adagrad (and Keras 3's) divide by: sqrt(slot + epsilon),
# where 2.0.5 and the legacy optimizers divide by sqrt(slot) + epsilon.
_EPSILON_INSIDE_ROOT = {"RMSprop": "velocity", "Adagrad": "accumulator"}


def _warn_tf_keras_nadam() -> None:
    warnings.warn(
        "The optimizer config is tf-keras's current Nadam: kgraph continues with Keras "
        "2.0.5's Nadam with schedule_decay=1, the momentum schedule beta_1 * (1 - 0.5 * "
        "0.96 ** t) that Nadam defines, its running product recomputed from the step count "
        "(tf-keras does not save it). tf-keras's compiled train steps advance that product "
        "once per weight instead of once per step, so steps there differ from these unless "
        "it runs eagerly.",
        stacklevel=4,
    )


def _warn_epsilon_inside_root(name: str, config: dict) -> None:
    slot = _EPSILON_INSIDE_ROOT[name]
    initial = ""
    if name == "Adagrad":
        initial = (" The initial accumulator value (tf-keras's 0.1; 2.0.5 starts from 0) is "
                   f"the config's, {config.get('initial_accumulator_value', 0.1)}.")  # fmt: skip
    warnings.warn(
        f"The optimizer config is tf-keras's current (or Keras 3's) {name}, which divides "
        f"the gradient by sqrt({slot} + epsilon); kgraph continues with Keras 2.0.5's "
        f"{name}, which divides by sqrt({slot}) + epsilon, so its steps differ where the "
        f"{slot} is not much larger than epsilon ({config.get('epsilon', 1e-7)}).{initial}",
        stacklevel=4,
    )


def _from_tf_keras(cls: type, config: dict) -> dict:
    """Maps a tf-keras 2.x or Keras 3 optimizer config onto 2.0.5 constructor arguments.

    `learning_rate` becomes `lr` (an `InverseTimeDecay` schedule without staircase becomes
    `lr` and `decay`, the same formula); `global_clipnorm` becomes `clipnorm` (2.0.5 clips
    by the global norm); a legacy Nadam's `decay` is its `schedule_decay`, and a current
    Nadam (tf-keras's non-legacy one, Keras 3's: no `decay`), whose momentum schedule is
    `beta_1 * (1 - 0.5 * 0.96 ** t)`, gets `schedule_decay=1`, the same formula. Keys with
    no effect (`name`, `jit_compile`, `is_legacy_optimizer`, unused EMA settings...) are
    dropped. Settings 2.0.5 cannot reproduce raise instead of training differently; a
    current RMSprop or Adagrad, which adds epsilon inside the square root, warns that
    kgraph continues with 2.0.5's formula.

    Raises:
        ValueError: a setting with no 2.0.5 equivalent (per-tensor `clipnorm`, `amsgrad`,
            `centered`, RMSprop `momentum`, `weight_decay`, `use_ema`, gradient
            accumulation, a schedule other than InverseTimeDecay).
    """
    if not _TF_KERAS_KEYS & set(config):
        return config
    name = cls.__name__
    # Legacy tf-keras optimizers always list `decay`; current ones say they are not legacy.
    tf_keras_current = config.get("is_legacy_optimizer") is False
    current = tf_keras_current or "decay" not in config

    def refuse(key: str, value: Any, hint: str = "") -> ValueError:
        return ValueError(
            f"Cannot load the tf-keras {name} config: {key}={value!r} has no equivalent in "
            f"kgraph's {name} (Keras 2.0.5's).{' ' + hint if hint else ''}"
        )

    for key in _TF_KERAS_IGNORED:
        config.pop(key, None)
    for key, neutral in _TF_KERAS_NEUTRAL.items():
        value = config.pop(key, None)
        if value not in neutral:
            raise refuse(key, value)
    if config.get("clipnorm") is not None:
        hint = "tf-keras clips each gradient by its own norm; 2.0.5's is its global_clipnorm."
        raise refuse("clipnorm", config["clipnorm"], hint)
    global_clipnorm = config.pop("global_clipnorm", None)
    if global_clipnorm is not None:
        config["clipnorm"] = global_clipnorm
    for key in ("clipnorm", "clipvalue"):
        if key in config and config[key] is None:
            del config[key]
    if name == "RMSprop" and config.get("momentum", 0.0):
        raise refuse("momentum", config["momentum"])
    if name == "RMSprop":
        config.pop("momentum", None)
    if name == "Nadam" and "decay" in config:
        config["schedule_decay"] = config.pop("decay")
    elif name == "Nadam" and current:
        config.setdefault("schedule_decay", 1.0)
        if tf_keras_current:
            _warn_tf_keras_nadam()
    if name in _EPSILON_INSIDE_ROOT and current:
        _warn_epsilon_inside_root(name, config)
    if "learning_rate" in config:
        lr = config.pop("learning_rate")
        if isinstance(lr, dict):
            lr = _inverse_time_decay(lr, config, refuse, has_decay=name != "Nadam")
        config["lr"] = lr
    return config


def _inverse_time_decay(
    schedule: dict, config: dict, refuse: Callable[..., ValueError], has_decay: bool
) -> float:
    """`initial / (1 + rate * step / steps)` is 2.0.5's `lr / (1 + decay * iterations)`."""
    cfg = schedule.get("config", {})
    if (schedule.get("class_name") != "InverseTimeDecay" or cfg.get("staircase") or not has_decay
            or config.get("decay")):  # fmt: skip
        hint = "Only InverseTimeDecay without staircase maps onto 2.0.5's lr decay."
        raise refuse("learning_rate", schedule.get("class_name"), hint)
    config["decay"] = float(cfg["decay_rate"]) / float(cfg["decay_steps"])
    return float(cfg["initial_learning_rate"])


def _sqrt(x):
    """Square root of a non-negative accumulator. K.sqrt first clips at zero, a no-op here
    that would cost one more pass over every weight per step."""
    return B.unary("Sqrt", x)


def _constrain(new_p, p, constraints):
    return constraints[p](new_p) if constraints and p in constraints else new_p


sgd, rmsprop, adagrad, adadelta, adam, adamax, nadam = SGD, RMSprop, Adagrad, Adadelta, Adam, Adamax, Nadam
_ALL = {c.__name__.lower(): c for c in (SGD, RMSprop, Adagrad, Adadelta, Adam, Adamax, Nadam)}


def serialize(optimizer: Optimizer) -> dict:
    return serialize_keras_object(optimizer)


def deserialize(config: dict, custom_objects: dict | None = None) -> Optimizer:
    config = dict(config)
    config["class_name"] = config["class_name"].lower() if config["class_name"].lower() in _ALL else config["class_name"]
    return deserialize_keras_object(config, _ALL, custom_objects, "optimizer")


def get(identifier: Any) -> Optimizer:
    """A name (case-insensitive), a config dict or an Optimizer instance."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        return deserialize({"class_name": identifier, "config": {}})
    raise ValueError(f"Could not interpret optimizer identifier: {identifier!r}")
