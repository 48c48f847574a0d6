"""Layer wrappers: TimeDistributed and Bidirectional (Keras 2.0.5's `keras/layers/wrappers.py`)."""

from __future__ import annotations

import inspect
from typing import Any

from kgraph import backend as K
from kgraph.engine.topology import InputSpec, Layer, to_list
from kgraph.ir import Variable
from kgraph.ir import build as B
from kgraph.layers._recurrent_base import Recurrent

__all__ = ["Wrapper", "TimeDistributed", "Bidirectional"]

_MERGE_MODES = ("sum", "mul", "ave", "concat", None)


def _prefix_weights(layer: Layer, old: str, new: str) -> None:
    """Renames the layer's weights from `old/...` to `new/...` (Keras builds a wrapped layer
    inside the wrapper's name scope)."""
    for w in layer.weights:
        if w.name.startswith(old + "/"):
            w.name = new + w.name[len(old) :]


class Wrapper(Layer):
    """A layer that wraps others; its weights, losses and updates are theirs.

    Args:
        layer: the wrapped layer.
    """

    def __init__(self, layer: Layer, **kwargs: Any) -> None:
        if not isinstance(layer, Layer):
            raise TypeError(f"{type(self).__name__} wraps a Layer instance, got {layer!r}")
        self.layer = layer
        super().__init__(**kwargs)

    def _inner(self) -> list[Layer]:
        return [self.layer]

    def _adopt(self, layer: Layer) -> None:
        # Weight regularizers made while building the inner layer are this layer's losses.
        self._unconditional_losses += layer._unconditional_losses
        self.losses += layer._unconditional_losses
        self._unconditional_updates += layer._unconditional_updates
        self.updates += layer._unconditional_updates

    @property
    def trainable_weights(self) -> list[Variable]:
        if not self.trainable:
            return []
        return [w for la in self._inner() for w in la.trainable_weights]

    @property
    def non_trainable_weights(self) -> list[Variable]:
        weights = [w for la in self._inner() for w in la.non_trainable_weights]
        if not self.trainable:
            weights = [w for la in self._inner() for w in la.trainable_weights] + weights
        return weights

    def _call_inner(self, layer: Layer, x: Any, **kwargs: Any) -> Any:
        params = inspect.signature(layer.call).parameters
        return layer.call(x, **{k: v for k, v in kwargs.items() if k in params})

    def get_config(self) -> dict:
        config = {
            "layer": {"class_name": type(self.layer).__name__, "config": self.layer.get_config()}
        }
        return {**super().get_config(), **config}

    @classmethod
    def from_config(cls, config: dict, custom_objects: dict | None = None) -> Wrapper:
        from kgraph.layers.serialization import deserialize

        config = dict(config)
        layer = deserialize(config.pop("layer"), custom_objects=custom_objects)
        return cls(layer, **config)


class TimeDistributed(Wrapper):
    """Applies a layer to every temporal slice of an input of shape (batch, timesteps, ...).

    The wrapped layer sees `(batch * timesteps, ...)` and shares its weights over time; the
    input mask passes through.

    Example:
        ```python
        model = Sequential()
        model.add(TimeDistributed(Dense(8), input_shape=(10, 16)))   # -> (batch, 10, 8)
        ```
    """

    def __init__(self, layer: Layer, **kwargs: Any) -> None:
        super().__init__(layer, **kwargs)
        self.supports_masking = True
        self.input_spec = InputSpec(min_ndim=3)

    def build(self, input_shape):
        if len(input_shape) < 3:
            raise ValueError(
                f"Layer {self.name}: TimeDistributed needs an input of rank >= 3 (batch, timesteps, ...), "
                f"got shape {input_shape}"
            )
        if any(d is None for d in input_shape[2:]):
            raise ValueError(
                f"Layer {self.name}: the dimensions after the time axis must be known, got {input_shape}"
            )
        self.input_spec = InputSpec(
            ndim=len(input_shape), axes={i: d for i, d in enumerate(input_shape) if i >= 2}
        )
        if not self.layer.built:
            self.layer.build((input_shape[0],) + tuple(input_shape[2:]))
            self.layer.built = True
            _prefix_weights(self.layer, self.layer.name, self.name)
            self._adopt(self.layer)
        self.built = True

    def compute_output_shape(self, input_shape):
        child = self.layer.compute_output_shape((input_shape[0],) + tuple(input_shape[2:]))
        return (child[0], input_shape[1]) + tuple(child[1:])

    def call(self, inputs, training=None, mask=None):
        shape = K.int_shape(inputs)
        flat = K.reshape(inputs, (-1,) + tuple(shape[2:]))
        y = self._call_inner(self.layer, flat, training=training)
        self.uses_learning_phase = self.uses_learning_phase or self.layer.uses_learning_phase
        inner = tuple(K.int_shape(y)[1:])
        if shape[1] is not None:
            out = K.reshape(y, (-1, shape[1]) + inner)
        else:
            # Unknown length: reshape to the runtime (batch, timesteps), then restate the
            # known trailing dimensions (a Reshape with 0s copies the runtime ones).
            lead = B.getitem(B.apply1("Shape", inputs), slice(0, 2))
            out = B.reshape(
                y, B.apply1("Concat", lead, B.getitem(B.apply1("Shape", y), slice(1, None)), axis=0)
            )
            out = B.reshape(out, [0, 0, *inner])
        regularizer = getattr(self.layer, "activity_regularizer", None)
        if regularizer is not None:
            self.add_loss(regularizer(out))
        return out


class Bidirectional(Wrapper):
    """Runs a recurrent layer forwards and a copy of it backwards and merges the outputs.

    Args:
        layer: a `Recurrent` instance (its configuration makes both directions).
        merge_mode: 'concat' (default), 'sum', 'mul', 'ave', or None for a list of both.
        weights: initial weights, forward then backward.

    The backward copy has `go_backwards` flipped; its returned sequence is put back in the
    input's time order before merging. Weights are `forward_<name>`'s then
    `backward_<name>`'s. With `return_state`, the states follow the output: forward ones
    first.

    Example:
        ```python
        model = Sequential()
        model.add(Bidirectional(LSTM(10, return_sequences=True), input_shape=(5, 10)))
        ```
    """

    def __init__(
        self, layer: Layer, merge_mode: str | None = "concat", weights=None, **kwargs: Any
    ) -> None:
        if merge_mode not in _MERGE_MODES:
            raise ValueError(
                f'Invalid merge mode {merge_mode!r}. Merge mode should be one of {{"sum", "mul", "ave", "concat", None}}'
            )
        if not isinstance(layer, Recurrent):
            raise ValueError(
                f"Bidirectional wraps a recurrent layer (SimpleRNN, GRU, LSTM), got {layer!r}"
            )
        config = layer.get_config()
        self.forward_layer = type(layer).from_config(dict(config))
        self.backward_layer = type(layer).from_config(
            {**config, "go_backwards": not config["go_backwards"]}
        )
        self.forward_layer.name = "forward_" + layer.name
        self.backward_layer.name = "backward_" + layer.name
        self.backward_layer._reverse_output = True
        super().__init__(layer, **kwargs)
        self.merge_mode = merge_mode
        if weights is not None:
            half = len(weights) // 2
            self.forward_layer._initial_weights = weights[:half]
            self.backward_layer._initial_weights = weights[half:]
        self.stateful = layer.stateful
        self.return_sequences = layer.return_sequences
        self.return_state = layer.return_state
        self.supports_masking = True
        self.input_spec = layer.input_spec

    def _inner(self) -> list[Layer]:
        return [self.forward_layer, self.backward_layer]

    def build(self, input_shape):
        for layer in self._inner():
            layer.build(input_shape)
            layer.built = True
            _prefix_weights(layer, layer.name, f"{self.name}/{layer.name}")
            if layer._initial_weights is not None:
                layer.set_weights(layer._initial_weights)
                layer._initial_weights = None
            self._adopt(layer)
        self.input_spec = self.forward_layer.input_spec
        self.built = True

    @property
    def states(self) -> list:
        return self.forward_layer.states + self.backward_layer.states

    def _n_states(self) -> int:
        return self.forward_layer._n_states if self.return_state else 0

    def compute_output_shape(self, input_shape):
        shapes = to_list(self.forward_layer.compute_output_shape(input_shape))
        if not isinstance(shapes[0], (list, tuple)):
            shapes = [shapes]
        out, states = tuple(shapes[0]), [tuple(s) for s in shapes[1:]]
        if self.merge_mode == "concat":
            out = out[:-1] + (None if out[-1] is None else 2 * out[-1],)
        outputs = [out, out] if self.merge_mode is None else [out]
        if self.return_state:
            return outputs + states * 2
        return outputs if self.merge_mode is None else out

    def compute_mask(self, inputs, mask=None):
        if isinstance(mask, list):
            mask = mask[0]
        output_mask = mask if self.return_sequences else None
        masks = [output_mask, output_mask] if self.merge_mode is None else [output_mask]
        if self.return_state:
            return masks + [None] * (2 * self._n_states())
        return masks if self.merge_mode is None else output_mask

    def call(self, inputs, training=None, mask=None, initial_state=None):
        n = self._n_states()
        inits: list[Any] = [None, None]
        if initial_state is not None:
            states = to_list(initial_state)
            inits = [states[: len(states) // 2], states[len(states) // 2 :]]
        outs = []
        for layer, init in zip(self._inner(), inits):
            kwargs = {"training": training, "mask": mask}
            if init is not None:
                kwargs["initial_state"] = init
            outs.append(to_list(self._call_inner(layer, inputs, **kwargs)))
        self.uses_learning_phase = any(la.uses_learning_phase for la in self._inner())
        y, y_rev = outs[0][0], outs[1][0]
        if self.merge_mode == "concat":
            merged: Any = K.concatenate([y, y_rev], axis=-1)
        elif self.merge_mode == "sum":
            merged = y + y_rev
        elif self.merge_mode == "ave":
            merged = (y + y_rev) * 0.5
        elif self.merge_mode == "mul":
            merged = y * y_rev
        else:
            merged = [y, y_rev]
        if n:
            return to_list(merged) + outs[0][1:] + outs[1][1:]
        return merged

    def reset_states(self, states=None):
        if not self.stateful:
            raise AttributeError(
                f"Layer {self.name} is not stateful; reset_states() applies to stateful layers only."
            )
        if states is None:
            self.forward_layer.reset_states()
            self.backward_layer.reset_states()
            return
        values = to_list(states)
        half = len(values) // 2
        self.forward_layer.reset_states(values[:half])
        self.backward_layer.reset_states(values[half:])

    def get_config(self) -> dict:
        return {**super().get_config(), "merge_mode": self.merge_mode}
