"""Utilities of the Keras API (`keras.utils`)."""

from __future__ import annotations

from kgraph.utils import data_utils, generic_utils, io_utils, layer_utils, np_utils
from kgraph.utils.data_utils import GeneratorEnqueuer, OrderedEnqueuer, Sequence, get_file
from kgraph.utils.generic_utils import (
    CustomObjectScope,
    Progbar,
    custom_object_scope,
    deserialize_keras_object,
    get_custom_objects,
    serialize_keras_object,
)
from kgraph.utils.io_utils import HDF5Matrix
from kgraph.utils.layer_utils import convert_all_kernels_in_model, print_summary
from kgraph.utils.np_utils import normalize, to_categorical
from kgraph.utils.vis_utils import model_to_dot, plot_model

__all__ = [
    "model_to_dot",
    "plot_model",
    "CustomObjectScope",
    "GeneratorEnqueuer",
    "HDF5Matrix",
    "OrderedEnqueuer",
    "Progbar",
    "Sequence",
    "convert_all_kernels_in_model",
    "custom_object_scope",
    "data_utils",
    "deserialize_keras_object",
    "generic_utils",
    "get_file",
    "io_utils",
    "get_custom_objects",
    "layer_utils",
    "normalize",
    "np_utils",
    "print_summary",
    "serialize_keras_object",
    "to_categorical",
]
