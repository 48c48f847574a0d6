"""Keeps training a model exported by kgraph, with nothing but onnxruntime and numpy.

Export the train step once, where kgraph is installed::

    model.compile('adam', 'categorical_crossentropy', metrics=['accuracy'])
    model.fit(x, y, epochs=5)                      # optional: start from trained weights
    model.export('train_step.onnx', training=True)
    np.savez('data.npz', dense_1_input=x, dense_2_target=y)   # keyed by the file's inputs

then, on any machine with onnxruntime (no kgraph, no TensorFlow)::

    python train_with_onnxruntime_only.py train_step.onnx --data data.npz --epochs 5 \\
        --save weights.npz

One run of the file is one `train_on_batch` step. Its naming convention (documented in
kgraph's README, "Training export"):

* batch inputs: the model's inputs, `<output>_target` and `<output>_sample_weights`
  (the only graph inputs without a default value: `session.get_inputs()`);
* results: `loss` and the other `model.metrics_names`, computed before the update;
* state: every weight, optimizer slot, counter and hyper-parameter is an input with its
  exported value as default (`session.get_overridable_initializers()`); each state input
  `S` the step changes has an output `S__new`, fed back as `S` on the next step.

Without `--data` the script trains on random arrays shaped like the batch inputs.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import onnxruntime as ort

NEW = "__new"


def open_step(path: str) -> ort.InferenceSession:
    options = ort.SessionOptions()
    # The state initializers are graph inputs on purpose (so feeds override them); this
    # silences onnxruntime's warning that it will not constant-fold them.
    options.log_severity_level = 3
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def batch_inputs(session: ort.InferenceSession) -> list[ort.NodeArg]:
    return list(session.get_inputs())


def random_data(session: ort.InferenceSession, samples: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Arrays shaped like the batch inputs (sample weights are filled in by `train`)."""
    rng = np.random.RandomState(seed)
    data = {}
    for arg in batch_inputs(session):
        if arg.name.endswith("_sample_weights"):
            continue
        shape = [samples] + [d if isinstance(d, int) else 1 for d in arg.shape[1:]]
        kind = np.int64 if "int64" in arg.type else np.int32 if "int32" in arg.type else np.float32
        data[arg.name] = (rng.randint(0, 2, shape) if kind is not np.float32 else rng.rand(*shape)).astype(kind)
    return data


def train(session: ort.InferenceSession, data: dict[str, np.ndarray], epochs: int, batch_size: int,
          state: dict[str, np.ndarray] | None = None, shuffle: bool = False, seed: int = 0):  # fmt: skip
    """Runs `epochs` passes over `data`; returns (per-epoch averaged results, final state).

    Results are averaged over batches weighted by batch size, as Keras's `fit` reports them.
    """
    inputs = [a.name for a in batch_inputs(session)]
    outputs = [o.name for o in session.get_outputs()]
    results = [n for n in outputs if not n.endswith(NEW)]
    samples = len(next(iter(data.values())))
    for name in inputs:
        if name.endswith("_sample_weights") and name not in data:
            data[name] = np.ones(samples, np.float32)  # unweighted training
    missing = [n for n in inputs if n not in data]
    if missing:
        raise SystemExit(f"the data has no arrays for inputs {missing} (it has {sorted(data)})")
    state = dict(state or {})
    rng = np.random.RandomState(seed)
    history = []
    for epoch in range(epochs):
        order = rng.permutation(samples) if shuffle else np.arange(samples)
        totals = np.zeros(len(results))
        for start in range(0, samples, batch_size):
            index = order[start : start + batch_size]
            feeds = {n: data[n][index] for n in inputs}
            values = dict(zip(outputs, session.run(None, {**feeds, **state})))
            # Overrides of read-only state (a learning rate) stay; changed state moves on.
            state.update({n[: -len(NEW)]: v for n, v in values.items() if n.endswith(NEW)})
            totals += np.array([float(values[n]) for n in results]) * len(index)
        history.append(dict(zip(results, totals / samples)))
        print(f"epoch {epoch + 1} " + " ".join(f"{k}={v:.6g}" for k, v in history[-1].items()))
    return history, state


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model", help="a train step exported with model.export(path, training=True)")
    parser.add_argument("--data", help="an .npz with one array per batch input (by input name)")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, help="override the exported learning rate (optimizer/lr)")
    parser.add_argument("--save", help="write the trained state (weights, optimizer slots) to this .npz")
    args = parser.parse_args()

    session = open_step(args.model)
    meta = session.get_modelmeta().custom_metadata_map
    if "kgraph_training" in meta:
        layout = json.loads(meta["kgraph_training"])
        print(f"train step: inputs {layout['inputs']}, results {layout['outputs']}, "
              f"{len(layout['state'])} state tensors")  # fmt: skip
    data = dict(np.load(args.data)) if args.data else random_data(session, samples=64)
    state = {}
    if args.lr is not None:
        state["optimizer/lr"] = np.asarray(args.lr, np.float32)
    _, state = train(session, data, args.epochs, args.batch_size, state)
    if args.save:
        np.savez(args.save, **state)
        print(f"saved {len(state)} state tensors to {args.save}")


if __name__ == "__main__":
    main()
