"""Weight and activity regularizers: penalties added to the total loss."""

from __future__ import annotations

from typing import Any

from kgraph import backend as K
from kgraph.utils.generic_utils import deserialize_keras_object, serialize_keras_object

__all__ = ["Regularizer", "L1L2", "l1", "l2", "l1_l2", "get", "serialize", "deserialize"]


class Regularizer:
    """Base class: `__call__(x)` returns a scalar penalty tensor."""

    def __call__(self, x: Any):
        return 0.0

    @classmethod
    def from_config(cls, config: dict) -> Regularizer:
        return cls(**config)


class L1L2(Regularizer):
    """`sum(l1 * |x|) + sum(l2 * x^2)`."""

    def __init__(self, l1: float = 0.0, l2: float = 0.0) -> None:
        self.l1 = float(l1)
        self.l2 = float(l2)

    def __call__(self, x: Any):
        penalty = None
        if self.l1:
            penalty = K.sum(self.l1 * K.abs(x))
        if self.l2:
            term = K.sum(self.l2 * K.square(x))
            penalty = term if penalty is None else penalty + term
        return penalty if penalty is not None else K.constant(0.0)

    def get_config(self) -> dict:
        return {"l1": self.l1, "l2": self.l2}


def l1(l: float = 0.01) -> L1L2:  # noqa: E741 - Keras's argument name
    return L1L2(l1=l)


def l2(l: float = 0.01) -> L1L2:  # noqa: E741
    return L1L2(l2=l)


def l1_l2(l1: float = 0.01, l2: float = 0.01) -> L1L2:
    return L1L2(l1=l1, l2=l2)


_ALL = {"Regularizer": Regularizer, "L1L2": L1L2, "l1": l1, "l2": l2, "l1_l2": l1_l2}


def serialize(regularizer: Any):
    return serialize_keras_object(regularizer)


def deserialize(config: Any, custom_objects: dict | None = None):
    return deserialize_keras_object(config, _ALL, custom_objects, "regularizer")


def get(identifier: Any):
    if identifier is None:
        return None
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        return deserialize(identifier)()
    if callable(identifier):
        return identifier
    raise ValueError(f"Could not interpret regularizer identifier: {identifier!r}")
