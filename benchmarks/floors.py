"""The least a kgraph training step can cost on stock onnxruntime, measured on this machine.

Two parts of a step cannot shrink, whatever the rest of the graph does:

- its matrix products (`flops.training_flops`), timed at onnxruntime's own best GEMM rate
  (a 1024^3 MatMul, best of several rounds);
- the optimizer's update of every weight, which onnxruntime's standard build runs as one
  elementwise kernel per operation of the Keras formula, since it has no fused optimizer
  kernel. The update is lowered by kgraph exactly as in training (an Embedding table's
  gradient in its row-sparse form, with the rows of one real batch) and timed alone.

Their sum, run back to back on the same cores by onnxruntime's sequential executor, bounds
the training throughput from above: `batch / (gemm + update)`. Everything else a step does
(activations, their gradients, dropout, the loss, the per-step work of a recurrence) only
adds. `run.py`'s report holds the measured throughputs and targets to set beside it.

    python benchmarks/floors.py --models mlp,lstm_nord
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROUNDS = 7


def _best_ms(run: Any, rounds: int = ROUNDS, reps: int = 20) -> float:
    """Median over `rounds` of the best-of-`reps` time, in ms (the machine's capability)."""
    run()
    best = []
    for _ in range(rounds):
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            run()
            times.append(time.perf_counter() - t0)
        best.append(min(times))
    return float(np.median(best)) * 1e3


def _session(model_bytes: bytes) -> Any:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    return ort.InferenceSession(model_bytes, opts, providers=["CPUExecutionProvider"])


def _bound_runner(sess: Any, feeds: dict[str, np.ndarray]) -> Any:
    """A no-argument callable running `sess` over pre-bound inputs and outputs."""
    import onnxruntime as ort

    io = sess.io_binding()
    for name, value in feeds.items():
        io.bind_ortvalue_input(name, ort.OrtValue.ortvalue_from_numpy(value))
    for out in sess.get_outputs():
        io.bind_output(out.name)
    sess.run_with_iobinding(io)  # outputs now hold buffers of the right shapes
    for out, value in zip(sess.get_outputs(), io.get_outputs(), strict=True):
        io.bind_ortvalue_output(out.name, value)
    return lambda: sess.run_with_iobinding(io)


def ort_gemm_gflops(n: int = 1024) -> float:
    """onnxruntime's float32 MatMul rate at n^3, GFLOP/s."""
    from onnx import TensorProto, helper

    vi = [helper.make_tensor_value_info(k, TensorProto.FLOAT, [n, n]) for k in "abc"]
    graph = helper.make_graph([helper.make_node("MatMul", ["a", "b"], ["c"])], "gemm", vi[:2], vi[2:])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    rng = np.random.default_rng(0)
    feeds = {k: rng.standard_normal((n, n), dtype=np.float32) for k in "ab"}
    ms = _best_ms(_bound_runner(_session(model.SerializeToString()), feeds), reps=5)
    return 2.0 * n**3 / (ms * 1e-3) / 1e9


def _update_program(model: Any, x_batch: np.ndarray) -> tuple[bytes, dict[str, np.ndarray]]:
    """The compiled model's optimizer update, lowered alone with its gradients as inputs.

    A fresh optimizer of the same class and configuration builds it, so the model's own
    optimizer and its state are left as they are."""
    from onnx import helper

    import kgraph.backend as K
    from kgraph.ir import build as B
    from kgraph.ir import get_default_graph
    from lowering import lower

    params = list(model.trainable_weights)
    graph = get_default_graph()
    rng = np.random.default_rng(0)
    feeds: list[tuple[str, Any]] = []
    values: dict[str, np.ndarray] = {}
    grads = []
    tables = {id(layer.embeddings) for layer in model.layers if type(layer).__name__ == "Embedding"}
    for i, p in enumerate(params):
        shape = tuple(int(d) for d in p.shape)
        if id(p) in tables:  # the Gather VJP's form, which the lowering makes row-sparse
            flat = x_batch.reshape(-1).astype(np.int64)
            rows = K.placeholder((flat.size, 1), dtype="int64")
            upd = K.placeholder((flat.size, *shape[1:]))
            zeros = B.apply1("ConstantOfShape", graph.constant(np.asarray(shape, np.int64)),
                             value=np.zeros((), np.float32))  # fmt: skip
            grads.append(B.apply1("ScatterND", zeros, rows, upd, reduction="add"))
            feeds += [(f"rows_{i}", rows), (f"upd_{i}", upd)]
            values[f"rows_{i}"] = flat[:, None]
            values[f"upd_{i}"] = rng.standard_normal((flat.size, *shape[1:]), dtype=np.float32) * 1e-3
        else:
            grads.append(K.placeholder(shape))
            feeds.append((f"grad_{i}", grads[-1]))
            values[f"grad_{i}"] = rng.standard_normal(shape, dtype=np.float32) * 1e-3
    opt = type(model.optimizer).from_config(model.optimizer.get_config())
    opt.get_gradients = lambda loss, params: grads
    updates = opt.get_updates(params, {}, None)
    program = lower(graph, feeds, [], training=True, name="update", state_updates=updates)
    for inp in program.model.graph.input:
        if inp.name not in values:  # the weights, the optimizer's slots and hyper-parameters
            dims = [d.dim_value for d in inp.type.tensor_type.shape.dim]
            dtype = helper.tensor_dtype_to_np_dtype(inp.type.tensor_type.elem_type)
            values[inp.name] = np.asarray(np.abs(rng.standard_normal(dims)) * 1e-3).astype(dtype)
    return program.model.SerializeToString(), values


def step_bound_ms(flops_per_sample: float, batch: int, gemm_gflops: float, update: float) -> float:
    """The shortest step: the batch's products at `gemm_gflops`, then the `update` (ms)."""
    return flops_per_sample * batch / (gemm_gflops * 1e9) * 1e3 + update


def update_ms(model: Any, x_batch: np.ndarray) -> float:
    """Milliseconds of one optimizer update of the compiled `model` in onnxruntime, its
    Embedding tables' gradients touching the rows `x_batch` looks up."""
    model_bytes, values = _update_program(model, x_batch)
    return _best_ms(_bound_runner(_session(model_bytes), values))


def floor(name: str, gemm_gflops: float) -> dict[str, float]:
    import kgraph
    from benchmarks.flops import training_flops
    from benchmarks.specs import MODELS, KerasAPI

    spec = MODELS[name]
    kgraph.backend.clear_session()
    model, compile_kwargs = spec.build_keras(KerasAPI("kgraph", kgraph, "lr"))
    model.compile(**compile_kwargs)
    x, _ = spec.make_data(spec.batch_size)
    flops = training_flops(model)
    update = update_ms(model, x)
    step = step_bound_ms(flops, spec.batch_size, gemm_gflops, update)
    return {"gemm_ms": step - update, "update_ms": update, "step_ms": step,
            "max_train_per_s": spec.batch_size / step * 1e3, "batch": spec.batch_size}  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="mlp,lstm_nord")
    args = parser.parse_args(argv)
    rate = ort_gemm_gflops()
    print(f"onnxruntime MatMul 1024^3: {rate:.0f} GFLOP/s")
    print(f"{'model':10s} {'batch':>5s} {'GEMMs ms':>9s} {'update ms':>10s} {'floor ms':>9s} {'train/s at most':>16s}")
    for name in args.models.split(","):
        r = floor(name, rate)
        print(f"{name:10s} {r['batch']:5d} {r['gemm_ms']:9.2f} {r['update_ms']:10.2f} {r['step_ms']:9.2f} "
              f"{r['max_train_per_s']:16,.0f}")  # fmt: skip


if __name__ == "__main__":
    root = str(Path(__file__).resolve().parent.parent)  # run as a script: import this checkout
    if root not in sys.path:
        sys.path.insert(0, root)
    main()
