"""`import kgraph.backend as K`: Keras 2's backend functions, building IR ops."""

from __future__ import annotations

from kgraph._config import (
    epsilon,
    floatx,
    image_data_format,
    set_epsilon,
    set_floatx,
    set_image_data_format,
)
from kgraph.backend._control import *  # noqa: F403
from kgraph.backend._control import __all__ as _control_all
from kgraph.backend._conv import *  # noqa: F403
from kgraph.backend._conv import __all__ as _conv_all
from kgraph.backend._ctc import *  # noqa: F403
from kgraph.backend._ctc import __all__ as _ctc_all
from kgraph.backend._function import *  # noqa: F403
from kgraph.backend._function import __all__ as _function_all
from kgraph.backend._layers_extra import *  # noqa: F403
from kgraph.backend._layers_extra import __all__ as _layers_extra_all
from kgraph.backend._nn import *  # noqa: F403
from kgraph.backend._nn import __all__ as _nn_all
from kgraph.backend._ops import *  # noqa: F403
from kgraph.backend._ops import __all__ as _ops_all
from kgraph.backend._ops_extra import *  # noqa: F403
from kgraph.backend._ops_extra import __all__ as _ops_extra_all
from kgraph.backend._random import *  # noqa: F403
from kgraph.backend._random import __all__ as _random_all
from kgraph.backend._session import *  # noqa: F403
from kgraph.backend._session import __all__ as _session_all
from kgraph.backend._sparse import *  # noqa: F403
from kgraph.backend._sparse import __all__ as _sparse_all


def cast_to_floatx(x):
    import numpy as np

    return np.asarray(x, dtype=floatx())


__all__ = [
    *_session_all,
    *_ops_all,
    *_nn_all,
    *_function_all,
    *_conv_all,
    *_layers_extra_all,
    *_ops_extra_all,
    *_random_all,
    *_control_all,
    *_sparse_all,
    *_ctc_all,
    "epsilon",
    "floatx",
    "image_data_format",
    "set_epsilon",
    "set_floatx",
    "set_image_data_format",
    "cast_to_floatx",
]
