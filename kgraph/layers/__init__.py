"""Keras 2 layers."""

from __future__ import annotations

from kgraph.engine.topology import Input, InputLayer, InputSpec, Layer
from kgraph.layers.advanced_activations import ELU, LeakyReLU, PReLU, ThresholdedReLU
from kgraph.layers.core import Activation, Dense, Dropout, Flatten
from kgraph.layers.core_extra import (
    ActivityRegularization,
    Lambda,
    Masking,
    Permute,
    RepeatVector,
    Reshape,
)
from kgraph.layers.embeddings import Embedding
from kgraph.layers.local import LocallyConnected1D, LocallyConnected2D
from kgraph.layers.merge import (
    Add,
    Average,
    Concatenate,
    Dot,
    Maximum,
    Multiply,
    add,
    average,
    concatenate,
    dot,
    maximum,
    multiply,
)
from kgraph.layers.noise import (
    AlphaDropout,
    GaussianDropout,
    GaussianNoise,
    SpatialDropout1D,
    SpatialDropout2D,
    SpatialDropout3D,
)
from kgraph.layers.normalization import BatchNormalization

__all__ = ["Activation", "Dense", "Dropout", "Flatten", "Input", "InputLayer", "InputSpec", "Layer"]
__all__ += ["ActivityRegularization", "Lambda", "Masking", "Permute", "RepeatVector", "Reshape"]
__all__ += ["Add", "Average", "Concatenate", "Dot", "Maximum", "Multiply"]
__all__ += ["add", "average", "concatenate", "dot", "maximum", "multiply"]
__all__ += ["ELU", "LeakyReLU", "PReLU", "ThresholdedReLU", "Embedding", "BatchNormalization"]
__all__ += ["LocallyConnected1D", "LocallyConnected2D"]
__all__ += ["AlphaDropout", "GaussianDropout", "GaussianNoise"]
__all__ += ["SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D"]

from kgraph.layers.convolutional import *  # noqa: E402, F403
from kgraph.layers.convolutional import __all__ as _convolutional_all  # noqa: E402
from kgraph.layers.pooling import *  # noqa: E402, F403
from kgraph.layers.pooling import __all__ as _pooling_all  # noqa: E402

__all__ += [*_convolutional_all, *_pooling_all]

from kgraph.layers.serialization import deserialize, serialize  # noqa: E402

__all__ += ["deserialize", "serialize"]

from kgraph.layers.recurrent import GRU, LSTM, Recurrent, SimpleRNN  # noqa: E402
from kgraph.layers.wrappers import Bidirectional, TimeDistributed, Wrapper  # noqa: E402

__all__ += ["Recurrent", "SimpleRNN", "GRU", "LSTM", "Wrapper", "TimeDistributed", "Bidirectional"]

from kgraph.layers.legacy import Highway, MaxoutDense  # noqa: E402

__all__ += ["MaxoutDense", "Highway"]

from kgraph.layers.convolutional_recurrent import ConvLSTM2D  # noqa: E402

__all__ += ["ConvLSTM2D"]

# After the `merge` module's names: `kgraph.layers.merge` is Keras 1's function, as in 2.0.5.
from kgraph.layers.legacy_merge import Merge, merge  # noqa: E402

__all__ += ["Merge", "merge"]
