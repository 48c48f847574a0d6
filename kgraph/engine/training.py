"""Model: a Container that compiles to ONNX programs and trains with Keras 2 semantics."""

from __future__ import annotations

import numpy as np

from kgraph import backend as K
from kgraph import losses as _losses
from kgraph import metrics as _metrics
from kgraph import optimizers as _optimizers
from kgraph.backend._function import SESSION_KWARGS
from kgraph.engine import loops
from kgraph.engine.data import check_array_lengths, check_loss_and_target, standardize_input_data
from kgraph.engine.functions import CompiledFunction
from kgraph.engine.network import Container
from kgraph.engine.topology import to_list
from kgraph.ir import get_default_graph, provenance_scope
from lowering import lower

__all__ = ["Model"]

_ACC = ("acc", "accuracy")


def _weighted_loss(fn):
    """Keras 2.0.5's per-output loss: mean over non-sample axes, weighted, normalized by the
    fraction of non-zero weights, then averaged over the batch."""

    def weighted(y_true, y_pred, weights, mask=None):
        score = fn(y_true, y_pred)
        if mask is not None:
            # Masked steps do not count: zero them and renormalize by the kept fraction.
            mask = K.cast(mask, K.floatx())
            score = score * mask
            score = score / K.mean(mask)
        extra = list(range(K.ndim(weights), K.ndim(score)))
        if extra:
            score = K.mean(score, axis=extra)
        score = score * weights
        score = score / K.mean(K.cast(K.not_equal(weights, 0.0), K.floatx()))
        return K.mean(score)

    return weighted


def _unique(name: str, taken: list[str]) -> str:
    out, k = name, 1
    while out in taken:
        out, k = f"{name}_{k}", k + 1
    return out


class Model(Container):
    """A functional model with `compile`, `fit`, `evaluate` and `predict`."""

    _compiled = False

    def compile(self, optimizer, loss=None, metrics=None, loss_weights=None, sample_weight_mode=None,
                steps_per_execution=1, **kwargs):  # fmt: skip
        """Configures training: resolves the optimizer, losses and metrics and builds the
        loss graph. Programs are lowered lazily, on first use. With `steps_per_execution=N`,
        `fit` runs N train steps per onnxruntime call (an ONNX `Loop`), with the same results.

        Raises:
            ValueError: an unknown optimizer, loss or metric name (the valid ones are listed),
                a loss/loss_weights structure that does not fit the outputs, or a
                `steps_per_execution` that is not a positive integer.
            TypeError: a keyword argument K.function does not take.
        """
        # Keras 2.0.5 passes them on to K.function: only TensorFlow's tracing options fit.
        unknown = sorted(set(kwargs) - set(SESSION_KWARGS))
        if unknown:
            raise TypeError(f"Invalid argument(s) to compile: {unknown}; its extra keyword arguments "
                            f"go to K.function, which takes {list(SESSION_KWARGS)}")  # fmt: skip
        spe = steps_per_execution
        if isinstance(spe, bool) or not isinstance(spe, (int, np.integer)) or spe < 1:
            raise ValueError(f"steps_per_execution must be a positive integer, got {spe!r}")
        self.steps_per_execution = int(spe)
        # A compile that fails part-way must not leave the previous programs running under
        # the new (partial) loss and metric names.
        self._compiled = False
        self._train_fn = self._test_fn = None
        self.optimizer = _optimizers.get(optimizer)
        self.sample_weight_mode = sample_weight_mode
        self.loss = loss
        self.loss_weights = loss_weights
        n = len(self.outputs)
        self.loss_functions = self._per_output(loss, "loss", _losses.get, skip_missing=True)
        weights = self._per_output(loss_weights, "loss_weights", float, default=1.0)
        modes = self._per_output(sample_weight_mode, "sample_weight_mode", lambda m: m)
        if loss is None and not self.losses:
            raise RuntimeError("The model cannot be compiled because it has no loss to optimize.")
        with provenance_scope("loss"):
            self._build_loss(weights, modes)
        with provenance_scope("metrics"):
            self._build_metrics(metrics, n)
        self._collected_trainable_weights = sorted(self.trainable_weights, key=lambda w: w.name)
        self._train_fn = self._test_fn = None
        self._compiled = True

    def _per_output(self, value, what, convert, default=None, skip_missing=False):
        n = len(self.outputs)
        if isinstance(value, dict):
            unknown = [k for k in value if k not in self.output_names]
            if unknown:
                raise ValueError(
                    f"Unknown entry in {what} dictionary: {unknown[0]!r}. Only expected the "
                    f"following keys: {self.output_names}"
                )
            return [convert(value[k]) if k in value else default for k in self.output_names]
        if isinstance(value, (list, tuple)):
            if len(value) != n:
                raise ValueError(
                    f"When passing a list as {what}, it should have one entry per model output. "
                    f"The model has {n} outputs, but you passed {what}={value!r}"
                )
            return [convert(v) if v is not None else default for v in value]
        return [convert(value) if value is not None else default] * n

    def _build_loss(self, loss_weights, modes):
        self.targets, self.sample_weights = [], []
        self._target_names, self._weight_names = [], []
        self._output_losses = []  # a re-compile replaces the previous losses
        total = None
        self.metrics_names = ["loss"]
        for i, (y_pred, fn, w, mode) in enumerate(zip(self.outputs, self.loss_functions, loss_weights, modes)):
            if fn is None:
                self.targets.append(None)
                self.sample_weights.append(None)
                continue
            name = self.output_names[i]
            # Feed names must be unique even when one layer produces several outputs.
            target_name = _unique(f"{name}_target", self.input_names + self._target_names)
            weight_name = _unique(f"{name}_sample_weights", self.input_names + self._weight_names)
            target = K.placeholder(ndim=K.ndim(y_pred), dtype=y_pred.dtype, name=target_name)
            weight = K.placeholder(ndim=2 if mode == "temporal" else 1, name=weight_name)
            self.targets.append(target)
            self.sample_weights.append(weight)
            self._target_names.append(target_name)
            self._weight_names.append(weight_name)
            out_loss = _weighted_loss(fn)(target, y_pred, weight, getattr(y_pred, "_keras_mask", None))
            if len(self.outputs) > 1:
                self.metrics_names.append(f"{name}_loss")
            term = out_loss * w if w != 1.0 else out_loss
            total = term if total is None else total + term
            self._output_losses.append(out_loss)
        for extra in self.losses:
            total = extra if total is None else total + extra
        self.total_loss = total

    def _build_metrics(self, metrics, n):
        if metrics is None:
            metrics = []
        if isinstance(metrics, dict):
            per_output = [to_list(metrics.get(name, [])) for name in self.output_names]
        elif isinstance(metrics, (list, tuple)):
            per_output = [list(metrics)] * n
        else:
            raise TypeError(f"Type of `metrics` argument not understood. Expected a list or dictionary, found: {metrics!r}")
        self.metrics = metrics
        self.metrics_tensors = []
        for i, names in enumerate(per_output):
            fn_loss, target = self.loss_functions[i], self.targets[i]
            if target is None:
                continue
            prefix = f"{self.output_names[i]}_" if n > 1 else ""
            for metric in names:
                fn, label = self._resolve_metric(metric, fn_loss, self.outputs[i])
                value = fn(target, self.outputs[i])
                mask = getattr(self.outputs[i], "_keras_mask", None)
                if mask is not None:
                    # Metrics use the mask but not the sample weights (Keras 2.0.5).
                    mask = K.cast(mask, K.floatx())
                    value = K.mean(value * mask) / K.mean(mask)
                self.metrics_tensors.append(K.mean(value))
                self.metrics_names.append(prefix + label)

    @staticmethod
    def _resolve_metric(metric, loss_fn, output):
        if metric in _ACC:
            last = K.int_shape(output)[-1]
            name = getattr(loss_fn, "__name__", "")
            if last == 1 or name == "binary_crossentropy":
                return _metrics.binary_accuracy, "acc"
            if name == "sparse_categorical_crossentropy":
                return _metrics.sparse_categorical_accuracy, "acc"
            return _metrics.categorical_accuracy, "acc"
        if isinstance(metric, str):
            try:
                fn = _metrics.get(metric)
            except ValueError:
                valid = sorted({"acc", "accuracy", *_metrics.ALL})
                raise ValueError(f"Unknown metric function: {metric!r}. Valid choices: {', '.join(valid)}") from None
            return fn, fn.__name__
        if callable(metric):
            return metric, metric.__name__
        raise ValueError(f"Could not interpret metric identifier: {metric!r}")

    # -- programs -------------------------------------------------------------------------
    def _check_compiled(self, what: str) -> None:
        if not self._compiled:
            raise RuntimeError(f"You must compile your model before {what}. Use `model.compile(optimizer, loss)`.")

    @property
    def _feed_names(self) -> list[str]:
        return self.input_names + self._target_names + self._weight_names

    def _fetches(self):
        outs = [("loss", self.total_loss)]
        outs += [(f"loss_{i}", t) for i, t in enumerate(self._output_losses)] if len(self.outputs) > 1 else []
        outs += [(f"metric_{i}", t) for i, t in enumerate(self.metrics_tensors)]
        return outs

    def _feeds(self):
        ts = self.inputs + [t for t in self.targets if t is not None] + [w for w in self.sample_weights if w is not None]
        return list(zip(self._feed_names, ts))

    def _make_train_function(self) -> CompiledFunction:
        self._check_compiled("training")
        if self._train_fn is None:
            params = self._collected_trainable_weights

            def make_updates(loss):
                updates = list(self.optimizer.get_updates(params=params, constraints={}, loss=loss))
                step = K.rng_step()
                return updates + [(step, get_default_graph().read(step) + 1)]

            program = lower(
                get_default_graph(), self._feeds(), self._fetches(), training=True,
                name=f"{self.name}_train", loss=self.total_loss, make_updates=make_updates,
                state_updates=[u for u in self.updates if isinstance(u, tuple)],
            )  # fmt: skip
            self._train_fn = CompiledFunction(program, self._feed_names)
        return self._train_fn

    def _make_test_function(self) -> CompiledFunction:
        self._check_compiled("evaluating")
        if self._test_fn is None:
            program = lower(get_default_graph(), self._feeds(), self._fetches(), training=False, name=f"{self.name}_test",
                            state_updates=self.state_updates)  # fmt: skip
            self._test_fn = CompiledFunction(program, self._feed_names)
        return self._test_fn

    def _make_predict_function(self) -> CompiledFunction:
        fn = getattr(self, "_predict_fn", None)
        if fn is None:
            names: list[str] = []
            for name in self.output_names:  # one layer may give several outputs (shared layers),
                names.append(_unique(name, names + list(self.input_names)))  # an input may be one
            fetches = list(zip(names, self.outputs))
            program = lower(get_default_graph(), list(zip(self.input_names, self.inputs)), fetches,
                            training=False, name=f"{self.name}_predict", state_updates=self.state_updates)  # fmt: skip
            fn = self._predict_fn = CompiledFunction(program, self.input_names)
        return fn

    # -- data ---------------------------------------------------------------------------
    def _standardize_inputs(self, x, check_batch_axis: bool) -> list[np.ndarray]:
        shapes = [tuple(t._keras_shape) for t in self.inputs]
        owners = [self._input_owner(i) for i in range(len(self.inputs))]
        x = standardize_input_data(x, self.input_names, shapes, check_batch_axis, "input", owners)
        checked = dict(self._float_index_inputs())
        for i, t in enumerate(self.inputs):  # integer inputs: floats would be truncated
            if t.dtype.is_integer and owners[i] is not None:
                checked.setdefault(i, owners[i])
        for i, layer in checked.items():
            _check_whole_numbers(x[i], self.input_names[i], layer)
        return x

    def _float_index_inputs(self) -> list[tuple[int, str]]:
        """(input position, layer name) for each float model input that an Embedding casts."""
        found = []
        for layer in self.layers:
            for t in getattr(layer, "float_index_inputs", ()):
                for i, inp in enumerate(self.inputs):
                    if inp == t:
                        found.append((i, layer.name))
        return found

    def _standardize_user_data(self, x, y, sample_weight=None, class_weight=None, check_batch_axis=True):
        self._check_compiled("training/testing")
        # A stateful model's inputs fix the batch size; whole arrays are checked per batch.
        check_batch_axis = check_batch_axis and not self.stateful
        x = self._standardize_inputs(x, check_batch_axis)
        kept = [i for i, fn in enumerate(self.loss_functions) if fn is not None]
        out_names = [self.output_names[i] for i in kept]
        out_shapes = []
        for i in kept:
            shape = tuple(self.outputs[i]._keras_shape)
            if getattr(self.loss_functions[i], "__name__", "") == "sparse_categorical_crossentropy":
                shape = shape[:-1] + (1,)
            out_shapes.append(shape)
        y = standardize_input_data(y, out_names, None, False, "target")
        check_loss_and_target(y, [self.loss_functions[i] for i in kept], out_shapes)
        y = standardize_input_data(y, out_names, out_shapes, False, "target")
        weights = loops.standardize_weights(y, sample_weight, class_weight, out_names, [self.sample_weight_mode] * len(y))
        check_array_lengths(x, y, weights)
        return x, y, weights

    def _check_stateful_batches(self, n: int, batch_size: int, what: str) -> None:
        """Every batch must have the batch size a stateful layer (one state per sample) or an
        `Input(batch_shape=...)` fixes: whole arrays are not checked against it, as in
        Keras 2.0.5's fit/evaluate/predict, so the batches are checked here instead."""
        for name, fixed, why in self._fixed_batch_sizes():
            if min(batch_size, n) != fixed or n % fixed:
                raise ValueError(
                    f"{what}: {name} {why} a fixed batch size of {fixed}, but got "
                    f"{n} samples in batches of {min(batch_size, n)}. Pass "
                    f"batch_size={fixed} and a number of samples that can be divided by it."
                )

    def _fixed_batch_sizes(self) -> list[tuple[str, int, str]]:
        """(what, size, how) for each stateful layer and each input with a fixed batch size."""
        found = []
        for layer in self.layers:
            states = getattr(layer, "states", None) if getattr(layer, "stateful", False) else None
            if states and states[0] is not None:
                found.append((f"layer {layer.name}", states[0].shape[0], "is stateful with"))
        for name, t in zip(self.input_names, self.inputs):
            fixed = tuple(t._keras_shape)[0] if t._keras_shape else None
            if fixed is not None:
                found.append((f"input {name}", fixed, "has"))
        return found

    def _input_owner(self, i: int) -> str | None:
        layer = self.input_layers[i]
        for node in layer.outbound_nodes:
            return node.outbound_layer.name
        return None

    # -- public API -----------------------------------------------------------------------
    def fit(self, x=None, y=None, batch_size=32, epochs=1, verbose=1, callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, class_weight=None,
            sample_weight=None, initial_epoch=0, **kwargs):  # fmt: skip
        """Trains for `epochs` epochs (an index: training runs from `initial_epoch` to
        `epochs`) and returns the History callback."""
        if "nb_epoch" in kwargs:
            epochs = kwargs.pop("nb_epoch")
        if kwargs:
            raise TypeError(f"Unrecognized keyword arguments: {sorted(kwargs)}")
        return loops.fit(self, x, y, batch_size, epochs, verbose, callbacks, validation_split,
                         validation_data, shuffle, class_weight, sample_weight, initial_epoch)  # fmt: skip

    def evaluate(self, x, y, batch_size=32, verbose=1, sample_weight=None):
        """Loss and metrics on (x, y), averaged over batches weighted by batch size."""
        x, y, w = self._standardize_user_data(x, y, sample_weight=sample_weight, check_batch_axis=False)
        self._check_stateful_batches(x[0].shape[0], batch_size, "evaluate")
        outs = loops.test_loop(self._make_test_function(), x + y + w, batch_size, verbose)
        return outs[0] if len(outs) == 1 else outs

    def predict(self, x, batch_size=32, verbose=0):
        """Output arrays for `x`, computed batch by batch."""
        x = self._standardize_inputs(x, False)
        if len({a.shape[0] for a in x}) > 1:
            raise ValueError(f"All input arrays should have the same number of samples. Got array shapes: {[a.shape for a in x]}")
        self._check_stateful_batches(x[0].shape[0], batch_size, "predict")
        outs = loops.predict_loop(self._make_predict_function(), x, batch_size, verbose)
        return outs[0] if len(outs) == 1 else outs

    def train_on_batch(self, x, y, sample_weight=None, class_weight=None):
        """One gradient step on one batch; returns the loss (and metrics) before the update."""
        x, y, w = self._standardize_user_data(x, y, sample_weight=sample_weight, class_weight=class_weight)
        self._check_stateful_batches(x[0].shape[0], x[0].shape[0], "train_on_batch")
        outs = self._make_train_function()(x + y + w)
        outs = [float(o) for o in outs]
        return outs[0] if len(outs) == 1 else outs

    def test_on_batch(self, x, y, sample_weight=None):
        x, y, w = self._standardize_user_data(x, y, sample_weight=sample_weight)
        self._check_stateful_batches(x[0].shape[0], x[0].shape[0], "test_on_batch")
        outs = [float(o) for o in self._make_test_function()(x + y + w)]
        return outs[0] if len(outs) == 1 else outs

    def to_onnx(self, opset=None, training=False):
        """The model as an `onnx.ModelProto`: the inference graph (weights as initializers)
        or, with `training=True`, the train step (see `kgraph.engine.export`)."""
        from kgraph.engine.export import to_onnx

        return to_onnx(self, opset, training=training)

    def export(self, filepath, format="onnx", opset=None, training=False):  # noqa: A002
        """Writes an `.onnx` file that plain onnxruntime runs: the inference graph, or with
        `training=True` the train step, whose naming convention `kgraph.engine.export`
        documents (batch and state in, loss, metrics and new state out)."""
        from kgraph.engine.export import export

        export(self, filepath, format=format, opset=opset, training=training)

    def predict_on_batch(self, x):
        x = self._standardize_inputs(x, False)
        self._check_stateful_batches(x[0].shape[0], x[0].shape[0], "predict_on_batch")
        outs = self._make_predict_function()(x)
        return outs[0] if len(outs) == 1 else outs

    def fit_generator(self, generator, steps_per_epoch=None, epochs=1, verbose=1, callbacks=None,
                      validation_data=None, validation_steps=None, class_weight=None,
                      max_queue_size=10, workers=1, use_multiprocessing=False, initial_epoch=0,
                      **kwargs):  # fmt: skip
        """Trains on batches from a generator or a `kgraph.utils.Sequence`, epoch by epoch
        (`steps_per_epoch` batches each; default `len(sequence)`), while `workers` threads
        prefetch up to `max_queue_size` batches. `validation_data` is a tuple of arrays, a
        generator (with `validation_steps`) or a Sequence. Accepts the Keras 2.0.5 names
        `max_q_size`/`pickle_safe` and Keras 1's `samples_per_epoch`, `nb_epoch`, ...
        Returns the History callback."""
        from kgraph.engine import generators

        return generators.fit_generator(
            self, generator, steps_per_epoch, epochs, verbose, callbacks, validation_data,
            validation_steps, class_weight, max_queue_size, workers, use_multiprocessing,
            initial_epoch, **kwargs,
        )  # fmt: skip

    def evaluate_generator(self, generator, steps=None, max_queue_size=10, workers=1,
                           use_multiprocessing=False, **kwargs):  # fmt: skip
        """Loss and metrics over `steps` batches from a generator or Sequence, averaged
        weighted by batch size (a scalar, or a list in `metrics_names` order)."""
        from kgraph.engine import generators

        return generators.evaluate_generator(self, generator, steps, max_queue_size, workers,
                                             use_multiprocessing, **kwargs)  # fmt: skip

    def predict_generator(self, generator, steps=None, max_queue_size=10, workers=1,
                          use_multiprocessing=False, verbose=0, **kwargs):  # fmt: skip
        """Predictions for `steps` batches from a generator or Sequence yielding inputs (or
        `(x, y[, w])` tuples, whose x is used), concatenated along the batch axis."""
        from kgraph.engine import generators

        return generators.predict_generator(self, generator, steps, max_queue_size, workers,
                                            use_multiprocessing, verbose, **kwargs)  # fmt: skip


def _check_whole_numbers(array: np.ndarray, input_name: str, layer: str) -> None:
    if array.dtype.kind != "f" or array.size == 0:
        return
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(array) | (np.mod(array, 1) != 0)
    if np.any(bad):
        raise ValueError(
            f"Error when checking input: layer {layer} takes integer values (indices), but the "
            f"data for {input_name} holds values that are not whole numbers (e.g. "
            f"{array[bad].flat[0]}, dtype {array.dtype}). Pass an integer array, or "
            f"floats that are whole numbers (they are cast to int32, as Keras does)."
        )
