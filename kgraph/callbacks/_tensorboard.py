"""TensorBoard: epoch scalars and weight/activation histograms as event files, without
TensorFlow."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from kgraph import backend as K
from kgraph.callbacks import Callback, Logs
from kgraph.callbacks._event_file import EventFileWriter, histogram

__all__ = ["TensorBoard"]


class TensorBoard(Callback):
    """Writes the epoch logs, and optionally histograms, for TensorBoard.

    Each epoch's logs (except 'batch' and 'size') become scalars at step `epoch`.
    Every `histogram_freq` epochs it also writes a histogram of each layer weight (tag
    `<weight name with ':' as '_'>`) and, when `fit` has validation arrays, of each
    layer's output over the validation inputs (tag `<layer>_out`), bucketed as
    TensorFlow buckets them. Run `tensorboard --logdir <log_dir>` to view them.

    Args:
        log_dir: the directory of the event files.
        histogram_freq: epochs between histograms (0: none).
        batch_size: the batch size used to compute layer outputs for histograms.
        write_graph: accepted for compatibility; TensorBoard's graph view needs a TensorFlow
            GraphDef, which kgraph does not produce (export the model with
            `model.export('model.onnx')` and view it in an ONNX viewer instead).
        write_grads, write_images, embeddings_freq, embeddings_layer_names,
        embeddings_metadata: TensorFlow-only features; a warning says they are not
            written.

    Example:
        ```python
        model.fit(x, y, validation_split=0.1, callbacks=[TensorBoard('./logs', histogram_freq=1)])
        ```
    """

    def __init__(self, log_dir: str = "./logs", histogram_freq: int = 0, batch_size: int = 32,
                 write_graph: bool = True, write_grads: bool = False, write_images: bool = False,
                 embeddings_freq: int = 0, embeddings_layer_names: Any = None,
                 embeddings_metadata: Any = None) -> None:  # fmt: skip
        super().__init__()
        self.log_dir = log_dir
        self.histogram_freq = histogram_freq
        self.batch_size = batch_size
        self.write_graph = write_graph
        self.write_grads = write_grads
        self.write_images = write_images
        self.embeddings_freq = embeddings_freq
        self.embeddings_layer_names = embeddings_layer_names
        self.embeddings_metadata = embeddings_metadata
        unsupported = [n for n, v in (("write_grads", write_grads), ("write_images", write_images),
                                      ("embeddings_freq", embeddings_freq)) if v]  # fmt: skip
        if unsupported:
            warnings.warn(
                f"TensorBoard: {', '.join(unsupported)} need TensorFlow and are not written by "
                "kgraph; only scalars and histograms are.",
                stacklevel=2,
            )
        self.writer: EventFileWriter | None = None
        self._outputs_fn: Any = None

    def set_model(self, model: Any) -> None:
        self.model = model
        self._outputs_fn = None

    def on_train_begin(self, logs: Logs | None = None) -> None:
        if self.writer is None:
            self.writer = EventFileWriter(self.log_dir)

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        if self.writer is None:
            self.writer = EventFileWriter(self.log_dir)
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            self.writer.add_histograms(self._histograms(), epoch)
        scalars = {
            name: float(np.asarray(value)) for name, value in (logs or {}).items()
            if name not in ("batch", "size")
        }  # fmt: skip
        self.writer.add_scalars(scalars, epoch)
        self.writer.flush()

    def on_train_end(self, logs: Logs | None = None) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    def _layers(self) -> list[Any]:
        return [la for la in getattr(self.model, "layers", []) if type(la).__name__ != "InputLayer"]

    def _histograms(self) -> dict[str, Any]:
        out = {}
        for layer in self._layers():
            for weight in layer.weights:
                out[weight.name.replace(":", "_")] = histogram(K.get_value(weight))
        if self.validation_data:
            n_inputs = len(self.model.inputs)
            for name, values in self._layer_outputs(self.validation_data[:n_inputs]).items():
                out[f"{name}_out"] = histogram(values)
        return out

    def _layer_outputs(self, inputs: list[np.ndarray]) -> dict[str, np.ndarray]:
        """Each single-output layer's output over `inputs`, in batches of `batch_size`."""
        from kgraph.engine.functions import CompiledFunction
        from kgraph.ir import get_default_graph
        from lowering import lower

        if self._outputs_fn is None:
            fetches = []
            for layer in self._layers():
                try:
                    fetches.append((layer.name, layer.output))
                except AttributeError:  # shared layers have no single output
                    continue
            model = self.model
            program = lower(get_default_graph(), list(zip(model.input_names, model.inputs, strict=True)), fetches,
                            training=False, name=f"{model.name}_tensorboard")  # fmt: skip
            self._outputs_fn = (
                CompiledFunction(program, model.input_names),
                [n for n, _ in fetches],
            )
        fn, names = self._outputs_fn
        n = inputs[0].shape[0]
        chunks: list[list[np.ndarray]] = [[] for _ in names]
        for start in range(0, n, self.batch_size):
            outs = fn([a[start : start + self.batch_size] for a in inputs])
            for chunk, o in zip(chunks, outs, strict=True):
                chunk.append(np.asarray(o))
        return {name: np.concatenate(c) for name, c in zip(names, chunks, strict=True) if c}
