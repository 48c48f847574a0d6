"""Utilities of the Keras API (`keras.utils`)."""

from __future__ import annotations

from kgraph.utils import data_utils, generic_utils, layer_utils, np_utils
from kgraph.utils.data_utils import GeneratorEnqueuer, OrderedEnqueuer, Sequence
from kgraph.utils.generic_utils import (
    CustomObjectScope,
    Progbar,
    custom_object_scope,
    deserialize_keras_object,
    get_custom_objects,
    serialize_keras_object,
)
from kgraph.utils.layer_utils import print_summary
from kgraph.utils.np_utils import normalize, to_categorical
from kgraph.utils.vis_utils import model_to_dot, plot_model

__all__ = [
    "model_to_dot",
    "plot_model",
    "CustomObjectScope",
    "GeneratorEnqueuer",
    "OrderedEnqueuer",
    "Progbar",
    "Sequence",
    "custom_object_scope",
    "data_utils",
    "deserialize_keras_object",
    "generic_utils",
    "get_custom_objects",
    "layer_utils",
    "normalize",
    "np_utils",
    "print_summary",
    "serialize_keras_object",
    "to_categorical",
]
