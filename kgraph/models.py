"""Sequential and Model, Keras 2's two ways to build a model."""

from __future__ import annotations

import warnings
from typing import Any

from kgraph import backend as K
from kgraph.engine.topology import Input, Layer, source_inputs
from kgraph.engine.training import Model

__all__ = ["Sequential", "Model"]


class Sequential(Model):
    """A linear stack of layers.

    Example:
        ```python
        model = Sequential([Dense(32, input_dim=784), Activation('relu'), Dense(10)])
        model.compile('rmsprop', 'categorical_crossentropy', metrics=['accuracy'])
        model.fit(x, y, epochs=10)
        ```
    """

    def __init__(self, layers: list[Layer] | None = None, name: str | None = None) -> None:
        Layer.__init__(self, name=name or f"sequential_{K.get_uid('sequential_')}")
        self.layers: list[Layer] = []
        self.inputs: list = []
        self.outputs: list = []
        self.built = False
        for layer in layers or []:
            self.add(layer)

    def add(self, layer: Layer) -> None:
        """Appends a layer; the first one needs an input shape (`input_shape`, `input_dim`
        or `batch_input_shape`)."""
        if not isinstance(layer, Layer):
            raise TypeError(f"The added layer must be an instance of class Layer. Found: {layer!r}")
        if not self.outputs:
            if not layer.inbound_nodes:
                if not hasattr(layer, "batch_input_shape"):
                    raise ValueError(
                        "The first layer in a Sequential model must get an `input_shape` or "
                        f"`batch_input_shape` argument (layer {layer.name} has none)."
                    )
                x = Input(batch_shape=layer.batch_input_shape, dtype=layer.dtype, name=f"{layer.name}_input")
                out = layer(x)
                self.inputs = [x]
            else:
                # A layer already called (a legacy Merge of branch models): the model's inputs
                # are the sources of what it was called on.
                if len(layer.inbound_nodes) != 1:
                    raise ValueError(f"A layer added to a Sequential model must not already be connected "
                                     f"somewhere else; {layer.name} has {len(layer.inbound_nodes)} inbound nodes.")  # fmt: skip
                out = list(layer.inbound_nodes[0].output_tensors)
                self.inputs = source_inputs(out[0])
            outputs = out if isinstance(out, list) else [out]
            if len(outputs) != 1:
                raise TypeError("All layers in a Sequential model should have a single output tensor.")
            self.outputs = outputs
        else:
            out = layer(self.outputs[0])
            if isinstance(out, list):
                raise TypeError("All layers in a Sequential model should have a single output tensor.")
            self.outputs = [out]
        self.layers.append(layer)
        self._rebuild()

    def pop(self) -> None:
        """Removes the last layer."""
        if not self.layers:
            raise TypeError("There are no layers in the model.")
        self.layers.pop()
        if not self.layers:
            self.outputs, self.inputs = [], []
            self.built = False
        else:
            last = self.layers[-1]
            self.outputs = [last.inbound_nodes[-1].output_tensors[0]]
            self._rebuild()

    def _rebuild(self) -> None:
        self.input_layers = [t._keras_history[0] for t in self.inputs]
        self.output_layers = [self.outputs[0]._keras_history[0]]
        self.input_names = [la.name for la in self.input_layers]
        self.output_names = [la.name for la in self.output_layers]
        self._set_own_node()
        self._predict_fn = None
        self._compiled = False
        self.built = True

    def _own_layers(self) -> list[Layer]:
        # A legacy Merge of branch models in front: its branches' layers are this model's.
        from kgraph.layers.legacy_merge import flatten_branches

        return flatten_branches(self.layers)

    @property
    def model(self) -> Sequential:
        return self

    def get_layer(self, name: str | None = None, index: int | None = None) -> Layer | None:
        """By name, or by index into the layers *including* the input layer (Keras 2.0.5)."""
        if index is not None:
            full = self.input_layers + self.layers
            if len(full) <= index:
                raise ValueError(f"Was asked to retrieve layer at index {index} but model only has {len(full)} layers.")
            return full[index]
        return super().get_layer(name=name)

    def compile(self, optimizer, loss=None, metrics=None, **kwargs):
        if not self.layers:
            raise TypeError("Sequential model cannot be compiled: add a layer first.")
        super().compile(optimizer, loss, metrics=metrics, **kwargs)

    def fit(self, x=None, y=None, batch_size=32, epochs=10, verbose=1, callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, class_weight=None,
            sample_weight=None, initial_epoch=0, **kwargs):  # fmt: skip
        """As `Model.fit`, with Keras 2.0.5 Sequential's default of `epochs=10`."""
        return super().fit(x, y, batch_size, epochs, verbose, callbacks, validation_split,
                           validation_data, shuffle, class_weight, sample_weight, initial_epoch,
                           **kwargs)  # fmt: skip

    def train_on_batch(self, x, y, class_weight=None, sample_weight=None):
        return super().train_on_batch(x, y, sample_weight=sample_weight, class_weight=class_weight)

    def predict_classes(self, x, batch_size=32, verbose=1):
        proba = self.predict(x, batch_size=batch_size, verbose=verbose)
        if proba.shape[-1] > 1:
            return proba.argmax(axis=-1)
        return (proba > 0.5).astype("int32")

    def predict_proba(self, x, batch_size=32, verbose=1):
        """`predict`, with a warning when the outputs are not probabilities (outside [0, 1])."""
        preds = self.predict(x, batch_size=batch_size, verbose=verbose)
        if preds.min() < 0.0 or preds.max() > 1.0:
            warnings.warn(
                "Network returning invalid probability values. The last layer might not "
                "normalize predictions into probabilities (like softmax or sigmoid would).",
                stacklevel=2,
            )
        return preds

    def get_config(self) -> list[dict[str, Any]]:
        """Keras 2.0.5's list `[{'class_name', 'config'}, ...]`, one entry per layer."""
        from kgraph.engine.config import sequential_config

        return sequential_config(self)

    @classmethod
    def from_config(cls, config: Any, custom_objects: dict[str, Any] | None = None,
                    safe_mode: bool = True) -> Sequential:  # fmt: skip
        """Rebuilds from the 2.0.5 list or tf-keras's `{'name', 'layers'}` form."""
        from kgraph.engine.config import sequential_from_config

        return sequential_from_config(cls, config, custom_objects, safe_mode)


from kgraph.models_io import model_from_config, model_from_json, model_from_yaml  # noqa: E402

__all__ += ["model_from_config", "model_from_json", "model_from_yaml"]
from kgraph.engine.saving_model import load_model, save_model  # noqa: E402

__all__ += ["load_model", "save_model"]
