"""The reference models of PERF.md: one `ModelSpec` each, in `MODELS`.

A spec holds everything a system needs to run the protocol on one model: the synthetic
data, the Keras 2 definition (written once, against whichever Keras-2-API module a
system passes in) and the PyTorch equivalent. Adding a model is adding one spec.

The synthetic data is learnable, so the loss falls during the benchmark's four epochs:
a system whose `fit` does no real work shows up in the loss column, not as a
suspiciously fast row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

Array = np.ndarray


@dataclass(frozen=True)
class KerasAPI:
    """A Keras-2-API module (kgraph, tf_keras, keras 3) and how it spells arguments."""

    system: str
    keras: Any
    lr_keyword: str  # "lr" in Keras 2.0 (kgraph); "learning_rate" in tf-keras and Keras 3

    def optimizer(self, name: str, lr: float, **kwargs: Any) -> Any:
        cls = getattr(self.keras.optimizers, name)
        return cls(**{self.lr_keyword: lr}, **kwargs)


@dataclass
class TorchRecipe:
    """The PyTorch equivalent of a Keras model: logits module, loss, optimizer, head."""

    module: Any  # torch.nn.Module producing logits (the Keras model's pre-activation)
    loss: Callable[[Any, Any], Any]  # (logits, y) -> scalar
    make_optimizer: Callable[[Any], Any]  # parameters -> torch.optim.Optimizer
    head: Callable[[Any], Any]  # logits -> what the Keras model outputs (softmax, sigmoid)
    correct: Callable[[Any, Any], Any]  # (logits, y) -> number right, for the accuracy metric


@dataclass(frozen=True)
class ModelSpec:
    name: str
    n_train: int
    batch_size: int
    make_data: Callable[[int], tuple[Array, Array]]  # n -> (x, y) in Keras layout
    build_keras: Callable[[KerasAPI], tuple[Any, dict[str, Any]]]  # (model, compile kwargs)
    build_torch: Callable[[Any], TorchRecipe] | None  # torch module -> recipe
    torch_x: Callable[[Array], Array] = lambda x: x  # Keras-layout x -> torch-layout x
    gemm_target: bool = False  # PERF.md sets a training-efficiency target on this model


SEED = 1234
N_PREDICT = 10_000


# ---------------------------------------------------------------------------- data


def _images(n: int, shape: tuple[int, ...]) -> tuple[Array, Array]:
    """Noise in [0, 1) over one of 10 fixed random prototypes; the label names it."""
    rng = np.random.default_rng(SEED)
    prototypes = rng.random((10, *shape), dtype=np.float32)
    labels = rng.integers(0, 10, size=n)
    x = 0.7 * rng.random((n, *shape), dtype=np.float32) + 0.3 * prototypes[labels]
    return x.astype(np.float32), np.eye(10, dtype=np.float32)[labels]


def _sequences(n: int) -> tuple[Array, Array]:
    """Tokens in [0, 20000); positives draw 3/4 of them from the lower half of the range."""
    rng = np.random.default_rng(SEED)
    labels = rng.integers(0, 2, size=n)
    low = rng.random((n, 80)) < np.where(labels[:, None] == 1, 0.75, 0.25)
    x = np.where(low, rng.integers(0, 10_000, (n, 80)), rng.integers(10_000, 20_000, (n, 80)))
    return x.astype(np.int32), labels.astype(np.float32)[:, None]


# ---------------------------------------------------------------------------- mlp


def _mlp_keras(api: KerasAPI) -> tuple[Any, dict[str, Any]]:
    k = api.keras
    model = k.models.Sequential()
    model.add(k.layers.Dense(512, activation="relu", input_shape=(784,)))
    model.add(k.layers.Dropout(0.2))
    model.add(k.layers.Dense(512, activation="relu"))
    model.add(k.layers.Dropout(0.2))
    model.add(k.layers.Dense(10, activation="softmax"))
    compile_kwargs = {
        "optimizer": api.optimizer("RMSprop", 1e-3),
        "loss": "categorical_crossentropy",
        "metrics": ["accuracy"],
    }
    return model, compile_kwargs


def _glorot(torch: Any, module: Any) -> Any:
    """Keras initialisation (glorot_uniform kernels, zero biases) for a torch module."""
    for m in module.modules():
        if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d)):
            torch.nn.init.xavier_uniform_(m.weight)
            torch.nn.init.zeros_(m.bias)
    return module


def _softmax_ce(torch: Any) -> Callable[[Any, Any], Any]:
    log_softmax = torch.nn.functional.log_softmax

    def loss(logits: Any, y: Any) -> Any:
        return -(y * log_softmax(logits, dim=1)).sum(dim=1).mean()

    return loss


def _argmax_correct(logits: Any, y: Any) -> Any:
    return (logits.argmax(dim=1) == y.argmax(dim=1)).sum()


def _mlp_torch(torch: Any) -> TorchRecipe:
    nn = torch.nn
    module = _glorot(
        torch,
        nn.Sequential(
            nn.Linear(784, 512),
            nn.ReLU(),
            nn.Dropout(0.2),
            nn.Linear(512, 512),
            nn.ReLU(),
            nn.Dropout(0.2),
            nn.Linear(512, 10),
        ),
    )
    return TorchRecipe(
        module=module,
        loss=_softmax_ce(torch),
        # Keras's RMSprop: rho 0.9, epsilon 1e-7 outside the square root.
        make_optimizer=lambda p: torch.optim.RMSprop(p, lr=1e-3, alpha=0.9, eps=1e-7),
        head=lambda z: torch.softmax(z, dim=1),
        correct=_argmax_correct,
    )


# ---------------------------------------------------------------------------- cnn


def _cnn_keras(api: KerasAPI) -> tuple[Any, dict[str, Any]]:
    k = api.keras
    model = k.models.Sequential()
    model.add(k.layers.Conv2D(32, kernel_size=(3, 3), activation="relu", input_shape=(28, 28, 1)))
    model.add(k.layers.Conv2D(64, (3, 3), activation="relu"))
    model.add(k.layers.MaxPooling2D(pool_size=(2, 2)))
    model.add(k.layers.Dropout(0.25))
    model.add(k.layers.Flatten())
    model.add(k.layers.Dense(128, activation="relu"))
    model.add(k.layers.Dropout(0.5))
    model.add(k.layers.Dense(10, activation="softmax"))
    compile_kwargs = {
        "optimizer": api.optimizer("Adadelta", 1.0, rho=0.95),
        "loss": "categorical_crossentropy",
        "metrics": ["accuracy"],
    }
    return model, compile_kwargs


def _cnn_torch(torch: Any) -> TorchRecipe:
    nn = torch.nn
    module = _glorot(
        torch,
        nn.Sequential(
            nn.Conv2d(1, 32, 3),
            nn.ReLU(),
            nn.Conv2d(32, 64, 3),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Dropout(0.25),
            nn.Flatten(),
            nn.Linear(64 * 12 * 12, 128),
            nn.ReLU(),
            nn.Dropout(0.5),
            nn.Linear(128, 10),
        ),
    )
    return TorchRecipe(
        module=module,
        loss=_softmax_ce(torch),
        make_optimizer=lambda p: torch.optim.Adadelta(p, lr=1.0, rho=0.95, eps=1e-7),
        head=lambda z: torch.softmax(z, dim=1),
        correct=_argmax_correct,
    )


# ---------------------------------------------------------------------------- lstm


def _lstm_keras(recurrent_dropout: float) -> Callable[[KerasAPI], tuple[Any, dict[str, Any]]]:
    def build(api: KerasAPI) -> tuple[Any, dict[str, Any]]:
        k = api.keras
        model = k.models.Sequential()
        model.add(k.layers.Embedding(20_000, 128, input_length=80))
        # The gate activation and the implementation are named so every system computes
        # the same function: Keras 2.0.5 defaults to hard_sigmoid, tf-keras and Keras 3 to
        # sigmoid, and PyTorch's LSTM has only sigmoid; Keras 2.0.5's implementation 0 draws
        # an input dropout mask per gate, while implementation 2 (tf-keras's and Keras 3's
        # default, and the PyTorch recipe) draws one mask that all four gates share.
        model.add(k.layers.LSTM(128, dropout=0.2, recurrent_dropout=recurrent_dropout,
                                recurrent_activation="sigmoid", implementation=2))
        model.add(k.layers.Dense(1, activation="sigmoid"))
        compile_kwargs = {
            "optimizer": api.optimizer("Adam", 1e-3),
            "loss": "binary_crossentropy",
            "metrics": ["accuracy"],
        }
        return model, compile_kwargs

    return build


def _keras_lstm_init(torch: Any, module: Any) -> None:
    """Keras's defaults: uniform(+-0.05) embeddings, glorot kernels, orthogonal recurrent
    kernels, zero biases but 1 for the forget gate (same slot in both gate orders)."""
    init = torch.nn.init
    for name, p in module.named_parameters():
        if name.startswith("embedding"):
            init.uniform_(p, -0.05, 0.05)
        elif "weight_hh" in name:
            init.orthogonal_(p)
        elif "weight" in name:
            init.xavier_uniform_(p)
        else:
            init.zeros_(p)
            if "bias_ih" in name:
                with torch.no_grad():
                    p[p.shape[0] // 4 : p.shape[0] // 2] = 1.0


def _lstm_torch(recurrent_dropout: float) -> Callable[[Any], TorchRecipe]:
    """Keras's LSTM dropout: one mask per sequence on the inputs (and on h), not per step."""

    def build(torch: Any) -> TorchRecipe:
        nn = torch.nn

        class LstmClassifier(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.embedding = nn.Embedding(20_000, 128)
                if recurrent_dropout:
                    self.cell = nn.LSTMCell(128, 128)
                else:
                    self.lstm = nn.LSTM(128, 128, batch_first=True)
                self.dense = nn.Linear(128, 1)

            def _mask(self, like: Any, rate: float) -> Any:
                keep = torch.empty_like(like).bernoulli_(1.0 - rate)
                return keep / (1.0 - rate)

            def forward(self, tokens: Any) -> Any:
                e = self.embedding(tokens)  # (batch, time, 128)
                if self.training:
                    e = e * self._mask(e[:, :1, :], 0.2)
                if not recurrent_dropout:
                    _, (h, _) = self.lstm(e)
                    return self.dense(h[-1])
                h = e.new_zeros(e.shape[0], 128)
                c = e.new_zeros(e.shape[0], 128)
                h_mask = self._mask(h, recurrent_dropout) if self.training else None
                for t in range(e.shape[1]):
                    h_in = h * h_mask if h_mask is not None else h
                    h, c = self.cell(e[:, t, :], (h_in, c))
                return self.dense(h)

        module = LstmClassifier()
        _keras_lstm_init(torch, module)
        bce = nn.functional.binary_cross_entropy_with_logits
        return TorchRecipe(
            module=module,
            loss=lambda z, y: bce(z, y),
            make_optimizer=lambda p: torch.optim.Adam(p, lr=1e-3, eps=1e-7),
            head=torch.sigmoid,
            correct=lambda z, y: ((z > 0).to(y.dtype) == y).sum(),
        )

    return build


# ---------------------------------------------------------------------------- registry

MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="mlp",
            n_train=12_800,
            batch_size=128,
            make_data=lambda n: _images(n, (784,)),
            build_keras=_mlp_keras,
            build_torch=_mlp_torch,
            gemm_target=True,
        ),
        ModelSpec(
            name="cnn",
            n_train=2_560,
            batch_size=128,
            make_data=lambda n: _images(n, (28, 28, 1)),
            build_keras=_cnn_keras,
            build_torch=_cnn_torch,
            torch_x=lambda x: np.ascontiguousarray(x.transpose(0, 3, 1, 2)),
        ),
        ModelSpec(
            name="lstm",
            n_train=2_560,
            batch_size=32,
            make_data=_sequences,
            build_keras=_lstm_keras(0.2),
            build_torch=_lstm_torch(0.2),
            torch_x=lambda x: x.astype(np.int64),
        ),
        ModelSpec(
            name="lstm_nord",
            n_train=2_560,
            batch_size=32,
            make_data=_sequences,
            build_keras=_lstm_keras(0.0),
            build_torch=_lstm_torch(0.0),
            torch_x=lambda x: x.astype(np.int64),
        ),
    )
}
