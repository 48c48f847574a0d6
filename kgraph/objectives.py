"""The Keras 1 name of `kgraph.losses` (`keras.objectives`), kept as an alias.

Keras's `from .losses import *` also brought the short aliases (`mse`, `mae`, ...), since
its losses module had no `__all__`; they are imported by name here.
"""

from __future__ import annotations

from kgraph import losses as _losses
from kgraph.losses import *  # noqa: F403
from kgraph.losses import KLD, MAE, MAPE, MSE, MSLE, cosine, kld, mae, mape, mse, msle

__all__ = [*_losses.__all__,
           "KLD", "MAE", "MAPE", "MSE", "MSLE", "cosine", "kld", "mae", "mape", "mse", "msle"]  # fmt: skip
