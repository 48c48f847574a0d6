"""The systems under test: kgraph and its peers, one runner each, in `SYSTEMS`.

A runner takes a model spec and a budget, runs PERF.md's protocol (`protocol.py`) and
returns flat metrics plus free-form info. The Keras-2-API systems (kgraph, tf-keras,
Keras 3 + JAX) share one runner: only the module, the spelling of `lr` and the candidate
direct paths differ.
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from benchmarks import protocol
from benchmarks.floors import update_ms
from benchmarks.flops import training_flops
from benchmarks.protocol import PREDICT_BATCH, Budget
from benchmarks.specs import N_PREDICT, KerasAPI, ModelSpec

Runner = Callable[[ModelSpec, Budget], dict[str, Any]]


@dataclass(frozen=True)
class System:
    name: str
    label: str  # how the tables name it
    requires: tuple[str, ...]  # importable modules; a missing one makes the system "missing"
    distributions: tuple[str, ...]  # whose versions the result records
    run: Runner
    env: dict[str, str] = field(default_factory=dict)  # set in its subprocess only


def _data(spec: ModelSpec, budget: Budget) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n_train = budget.n_train(spec.n_train)
    n_predict = min(budget.n_predict, N_PREDICT)
    x, y = spec.make_data(max(n_train, n_predict))
    return x[:n_train], y[:n_train], x[:n_predict]


# ---------------------------------------------------------------- Keras-2-API systems


def _epoch_timer(keras: Any) -> Any:
    class EpochTimer(keras.callbacks.Callback):
        """Wall clock at each epoch's begin and end."""

        def __init__(self) -> None:
            super().__init__()
            self.begins: list[float] = []
            self.ends: list[float] = []

        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            self.begins.append(time.perf_counter())

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            self.ends.append(time.perf_counter())

    return EpochTimer()


def _run_keras(
    api: KerasAPI,
    spec: ModelSpec,
    budget: Budget,
    direct_paths: Callable[[Any, ModelSpec, np.ndarray], dict[str, Any]],
) -> dict[str, Any]:
    x, y, x_pred = _data(spec, budget)
    t0 = time.perf_counter()
    model, compile_kwargs = spec.build_keras(api)
    t_compile = time.perf_counter()
    model.compile(**compile_kwargs)
    t_fit = time.perf_counter()
    timer = _epoch_timer(api.keras)
    history = model.fit(
        x, y, batch_size=spec.batch_size, epochs=protocol.EPOCHS, verbose=0, callbacks=[timer]
    )
    result = protocol.train_stats(t_compile, timer.ends, len(x))
    result["build_s"] = t_compile - t0
    result["compile_s"] = t_fit - t_compile
    result["fit_setup_s"] = timer.begins[0] - t_fit
    result["loss"] = [float(v) for v in history.history["loss"]]
    result["params"] = int(model.count_params())
    if api.system == "kgraph":  # the same products for every system; counted on kgraph's layers
        result["train_flops"] = training_flops(model)
        result["update_ms"] = update_ms(model, x[: spec.batch_size])

    result["predict_sps"] = protocol.time_predict(
        lambda a: model.predict(a, batch_size=PREDICT_BATCH, verbose=0),
        x_pred,
        budget.predict_passes,
    )
    result["b1_predict_ms"] = protocol.time_latency(
        lambda r: model.predict(r, verbose=0), x_pred, budget
    )
    ms, path, paths = protocol.fastest_latency(direct_paths(model, spec, x_pred), x_pred, budget)
    result.update(b1_direct_ms=ms, b1_direct_path=path, b1_direct_paths=paths)
    return result


def _predict_on_batch(model: Any) -> dict[str, Callable[[np.ndarray], Any]]:
    return {"predict_on_batch": lambda r: model.predict_on_batch(r)}


# kgraph: the Keras 2 API's `predict_on_batch`, and a raw onnxruntime session on the
# model's own exported inference graph (`model.to_onnx()` -> ModelProto, or else
# `model.export(path)`), the "same graph" of PERF.md's batch-1 target.
def _kgraph_direct(model: Any, spec: ModelSpec, x: np.ndarray) -> dict[str, Any]:
    paths: dict[str, Any] = _predict_on_batch(model)
    try:
        if callable(getattr(model, "to_onnx", None)):
            label = "ort of to_onnx()"
            sess, name = _ort_session(model.to_onnx().SerializeToString())
        elif callable(getattr(model, "export", None)):
            label = "ort of export()"
            with tempfile.TemporaryDirectory(prefix="kgraph-bench-") as tmp:
                path = os.path.join(tmp, "model.onnx")
                model.export(path)
                sess, name = _ort_session(path)
        else:
            return paths
    except Exception as exc:  # noqa: BLE001 (an export failure is noted, the rest still runs)
        paths["ort of the export"] = f"{type(exc).__name__}: {exc}"[:200]
        return paths
    paths[label] = lambda r: sess.run(None, {name: r})[0]
    return paths


def _run_kgraph(spec: ModelSpec, budget: Budget) -> dict[str, Any]:
    import kgraph

    api = KerasAPI("kgraph", kgraph, lr_keyword="lr")
    return _run_keras(api, spec, budget, _kgraph_direct)


def _tf_keras_api() -> KerasAPI:
    import tf_keras

    return KerasAPI("tf-keras", tf_keras, lr_keyword="learning_rate")


def _tf_direct(model: Any, spec: ModelSpec, x: np.ndarray) -> dict[str, Callable]:
    import tensorflow as tf

    signature = [tf.TensorSpec((None, *x.shape[1:]), tf.as_dtype(x.dtype))]
    graph_fn = tf.function(lambda t: model(t, training=False), input_signature=signature)
    return {
        **_predict_on_batch(model),
        "eager __call__": lambda r: model(r, training=False).numpy(),
        "tf.function": lambda r: graph_fn(r).numpy(),
    }


def _run_tf_keras(spec: ModelSpec, budget: Budget) -> dict[str, Any]:
    return _run_keras(_tf_keras_api(), spec, budget, _tf_direct)


def _jax_direct(model: Any, spec: ModelSpec, x: np.ndarray) -> dict[str, Callable]:
    import jax
    import jax.numpy as jnp

    # Copies: Keras's own predict functions may donate the variables' buffers.
    trainable = [jnp.array(np.asarray(v.value)) for v in model.trainable_variables]
    non_trainable = [jnp.array(np.asarray(v.value)) for v in model.non_trainable_variables]
    jitted = jax.jit(lambda tv, ntv, t: model.stateless_call(tv, ntv, t, training=False)[0])
    return {
        **_predict_on_batch(model),
        "jit stateless_call": lambda r: np.asarray(jitted(trainable, non_trainable, r)),
    }


def _run_keras3_jax(spec: ModelSpec, budget: Budget) -> dict[str, Any]:
    import keras

    if keras.backend.backend() != "jax":
        raise RuntimeError(f"Keras 3 runs on {keras.backend.backend()!r}, not jax")
    api = KerasAPI("keras3-jax", keras, lr_keyword="learning_rate")
    return _run_keras(api, spec, budget, _jax_direct)


# ---------------------------------------------------------------- PyTorch


def _run_torch(spec: ModelSpec, budget: Budget) -> dict[str, Any]:
    import torch

    if spec.build_torch is None:
        raise NotImplementedError(f"no PyTorch equivalent of {spec.name}")
    x_np, y_np, x_pred_np = _data(spec, budget)
    x = torch.from_numpy(spec.torch_x(x_np))
    y = torch.from_numpy(y_np)
    x_pred = spec.torch_x(x_pred_np)
    n, bs = len(x), spec.batch_size

    t0 = time.perf_counter()
    recipe = spec.build_torch(torch)
    module = recipe.module
    # Built before the clock starts, as the Keras systems build theirs with the model (the
    # first torch optimizer also imports torch._dynamo: about a second, once per process).
    optimizer = recipe.make_optimizer(module.parameters())
    t_start = time.perf_counter()
    module.train()
    ends, losses = [], []
    for _ in range(protocol.EPOCHS):
        order = torch.randperm(n)
        total = torch.zeros(())
        correct = torch.zeros((), dtype=torch.int64)
        for i in range(0, n, bs):
            idx = order[i : i + bs]
            xb, yb = x[idx], y[idx]
            optimizer.zero_grad(set_to_none=True)
            logits = module(xb)
            loss = recipe.loss(logits, yb)
            loss.backward()
            optimizer.step()
            with torch.no_grad():
                total += loss.detach() * len(idx)
                correct += recipe.correct(logits, yb)
        losses.append(float(total) / n)
        ends.append(time.perf_counter())
    result = protocol.train_stats(t_start, ends, n)
    result["build_s"] = t_start - t0
    result["loss"] = losses
    result["accuracy"] = float(correct) / n
    result["params"] = sum(p.numel() for p in module.parameters())

    module.eval()

    def predict(a: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            outs = [
                recipe.head(module(torch.from_numpy(a[i : i + PREDICT_BATCH])))
                for i in range(0, len(a), PREDICT_BATCH)
            ]
        return torch.cat(outs).numpy()

    def forward(r: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return recipe.head(module(torch.from_numpy(r))).numpy()

    result["predict_sps"] = protocol.time_predict(predict, x_pred, budget.predict_passes)
    result["b1_predict_ms"] = None  # PyTorch has no predict()
    ms, path, paths = protocol.fastest_latency({"forward under no_grad": forward}, x_pred, budget)
    result.update(b1_direct_ms=ms, b1_direct_path=path, b1_direct_paths=paths)
    return result


# ---------------------------------------------------------------- onnxruntime (tf2onnx)


def _ort_session(model: Any) -> tuple[Any, str]:
    """A default CPU InferenceSession (path or serialized bytes) and its input's name."""
    import onnxruntime as ort

    sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    return sess, sess.get_inputs()[0].name


def _run_ort_tf2onnx(spec: ModelSpec, budget: Budget) -> dict[str, Any]:
    import tensorflow as tf
    import tf2onnx

    _, _, x_pred = _data(spec, budget)
    model, _ = spec.build_keras(_tf_keras_api())
    # A fresh model's biases are zeros, and tf2onnx folds Add(x, 0) away: the export would
    # skip the bias adds that every trained model (and kgraph's, measured after fit) has.
    rng = np.random.default_rng(0)
    for w in model.weights:
        if "bias" in w.name:
            w.assign(rng.uniform(-0.05, 0.05, w.shape).astype(w.dtype.as_numpy_dtype))
    signature = [tf.TensorSpec((None, *x_pred.shape[1:]), tf.as_dtype(x_pred.dtype), name="x")]
    t0 = time.perf_counter()
    try:
        proto, _ = tf2onnx.convert.from_keras(model, input_signature=signature, opset=18)
    except Exception:  # noqa: BLE001 (tf2onnx's Keras entry lags Keras; a tf.function works)
        fn = tf.function(lambda t: model(t, training=False), input_signature=signature)
        proto, _ = tf2onnx.convert.from_function(fn, input_signature=signature, opset=18)
    t_export = time.perf_counter()
    sess, name = _ort_session(proto.SerializeToString())
    t_session = time.perf_counter()

    def predict(a: np.ndarray) -> np.ndarray:
        return np.concatenate(
            [
                sess.run(None, {name: a[i : i + PREDICT_BATCH]})[0]
                for i in range(0, len(a), PREDICT_BATCH)
            ]
        )

    check = x_pred[:256]
    result: dict[str, Any] = {
        "export_s": t_export - t0,
        "session_s": t_session - t_export,
        "onnx_ops": sorted({node.op_type for node in proto.graph.node}),
        "max_abs_diff_vs_tf_keras": float(
            np.max(np.abs(predict(check) - model.predict(check, verbose=0)))
        ),
        "predict_sps": protocol.time_predict(predict, x_pred, budget.predict_passes),
        "b1_predict_ms": None,
    }
    ms, path, paths = protocol.fastest_latency(
        {"InferenceSession.run": lambda r: sess.run(None, {name: r})[0]}, x_pred, budget
    )
    result.update(b1_direct_ms=ms, b1_direct_path=path, b1_direct_paths=paths)
    return result


# ---------------------------------------------------------------- registry

_QUIET_TF = {"TF_CPP_MIN_LOG_LEVEL": "2"}

SYSTEMS: dict[str, System] = {
    s.name: s
    for s in (
        System(
            "kgraph",
            "kgraph",
            ("kgraph", "onnxruntime"),
            ("kgraph", "onnxruntime", "onnx"),
            _run_kgraph,
        ),
        System(
            "tf-keras",
            "tf-keras",
            ("tensorflow", "tf_keras"),
            ("tensorflow-cpu", "tensorflow", "tf-keras"),
            _run_tf_keras,
            env={"TF_USE_LEGACY_KERAS": "1", **_QUIET_TF},
        ),
        System("torch", "PyTorch eager", ("torch",), ("torch",), _run_torch),
        System(
            "ort-tf2onnx",
            "onnxruntime (tf2onnx)",
            ("tensorflow", "tf_keras", "tf2onnx", "onnxruntime"),
            ("onnxruntime", "tf2onnx", "onnx", "tensorflow-cpu", "tensorflow"),
            _run_ort_tf2onnx,
            env={"TF_USE_LEGACY_KERAS": "1", **_QUIET_TF},
        ),
        System(
            "keras3-jax",
            "Keras 3 + JAX",
            ("keras", "jax"),
            ("keras", "jax", "jaxlib"),
            _run_keras3_jax,
            env={"KERAS_BACKEND": "jax", **_QUIET_TF},
        ),
    )
}

PEERS = tuple(name for name in SYSTEMS if name != "kgraph")


def missing_modules(system: System) -> list[str]:
    return [m for m in system.requires if importlib.util.find_spec(m) is None]
