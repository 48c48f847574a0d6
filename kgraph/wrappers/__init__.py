"""Wrappers that let Keras models serve other libraries (`keras.wrappers`)."""

from __future__ import annotations

from kgraph.wrappers import scikit_learn

__all__ = ["scikit_learn"]
