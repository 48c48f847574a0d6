"""The base of the recurrent layers: Keras 2.0.5's `Recurrent` over one `KerasRNN` op.

A layer call becomes a single IR op for the whole sequence (see `kgraph/ir/ops/rnn.py`):
time-major input, reversed in time for `go_backwards`, the sequence mask as (time, batch),
the initial states (zeros, `initial_state`, or the variables of a stateful layer) and the
dropout masks, drawn once per batch and shared by every step as Keras does. With dropout
the layer builds the op twice, with and without masks, and the training switch picks one.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kgraph import activations
from kgraph import backend as K
from kgraph.engine.topology import InputSpec, Layer, to_list
from kgraph.ir import Tensor, Variable
from kgraph.ir import build as B
from kgraph.ir.ops._rnn_emit import ACTIVATIONS
from kgraph.ir.ops.rnn import GATES, fwd_inputs, fwd_outputs

__all__ = ["Recurrent", "activation_name"]

def activation_name(layer: Layer, fn: Any, what: str) -> str:
    """The op-level name of a built-in activation; custom functions cannot run in the loop."""
    name = getattr(fn, "__name__", None)
    if name in ACTIVATIONS and activations.get(name) is fn:
        return name
    raise ValueError(
        f"Layer {layer.name}: {what} {fn!r} is not supported inside a recurrence; use one of "
        f"{', '.join(sorted(ACTIVATIONS))}."
    )


class Recurrent(Layer):
    """Abstract base class for recurrent layers (`SimpleRNN`, `GRU`, `LSTM`).

    Args:
        return_sequences: return the whole output sequence `(batch, timesteps, units)`
            instead of the last output `(batch, units)`.
        return_state: also return the final states (`[output, h]`, LSTM `[output, h, c]`).
        go_backwards: process the sequence backwards; a returned sequence stays in the
            order it was processed.
        stateful: the last states of each batch are the initial states of the next one
            (needs a fixed batch size; `reset_states()` zeros them).
        unroll: accepted for compatibility; the loop is one ONNX `Scan` either way.
        implementation: 0 or 1 draws a dropout mask per gate, 2 one mask shared by all.

    Input: `(batch, timesteps, input_dim)`; masks from `Embedding(mask_zero=True)` or
    `Masking` make a masked step keep the previous states and repeat the previous output.
    """

    _cell = "simple"
    _n_states = 1

    def __init__(self, return_sequences=False, return_state=False, go_backwards=False, stateful=False,
                 unroll=False, implementation=0, time_major=False, zero_output_for_mask=False,
                 **kwargs):  # fmt: skip
        if time_major:
            raise ValueError(
                f"{type(self).__name__}: time_major=True is not supported (inputs are batch-major)"
            )
        super().__init__(**kwargs)
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.stateful = bool(stateful)
        self.unroll = bool(unroll)
        self.implementation = int(implementation)
        # tf-keras's flag (Bidirectional sets it): masked steps output zeros, not the carry.
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self.supports_masking = True
        self.input_spec = InputSpec(ndim=3)
        self.states: list[Variable | None] = [None] * self._n_states
        self._seed = int(np.random.randint(10_000_000))

    # -- building ---------------------------------------------------------------------------
    def build(self, input_shape):
        if isinstance(input_shape, list):
            input_shape = input_shape[0]
        if len(input_shape) != 3:
            raise ValueError(
                f"Layer {self.name} expects a 3-D input (batch, timesteps, features), got shape {input_shape}"
            )
        if input_shape[-1] is None:
            raise ValueError(
                f"Layer {self.name}: the feature dimension of the input must be known, got {input_shape}"
            )
        self.input_spec = InputSpec(ndim=3, axes={-1: input_shape[-1]})
        self.build_cell(int(input_shape[-1]))
        if self.stateful:
            self._make_state_variables(input_shape[0])
        self.built = True

    def _state_dims(self) -> tuple[int, ...]:
        """The shape of one state without its batch axis."""
        return (self.units,)

    def _make_state_variables(self, batch: int | None) -> None:
        """The variables that carry a stateful layer's states from one batch to the next."""
        if batch is None:
            raise ValueError(
                f"Layer {self.name}: if a RNN is stateful, it needs to know its batch size. Specify "
                "the batch size of your input tensors:\n- If using a Sequential model, specify the "
                "batch size by passing a `batch_input_shape` argument to your first layer.\n- If "
                "using the functional API, specify the batch size by passing a `batch_shape` "
                "argument to your Input layer."
            )
        self.states = [
            Variable(
                np.zeros((batch,) + self._state_dims(), K.floatx()),
                name=f"{self.name}/state_{i}",
                trainable=False,
            )
            for i in range(self._n_states)
        ]

    def build_cell(self, input_dim: int) -> None:
        raise NotImplementedError

    # -- calling ----------------------------------------------------------------------------
    def __call__(self, inputs, initial_state=None, **kwargs):
        if isinstance(inputs, (list, tuple)):
            if len(inputs) > 1 and initial_state is None:
                inputs, initial_state = inputs[0], list(inputs[1:])
            else:
                inputs = inputs[0]
        if initial_state is None:
            return super().__call__(inputs, **kwargs)
        if not self.built:
            self.assert_input_compatibility(inputs)
            self.build(K.int_shape(inputs))
            self.built = True
            if self._initial_weights is not None:
                self.set_weights(self._initial_weights)
                self._initial_weights = None
        initial_state = to_list(initial_state)
        if len(initial_state) != self._n_states:
            raise ValueError(
                f"Layer {self.name} has {self._n_states} state(s) but was passed {len(initial_state)} "
                f"initial state(s): {initial_state}"
            )
        # Initial states become inputs of the layer call, so models see where they come from.
        spec = self.input_spec
        self.input_spec = [spec] + [InputSpec(ndim=1 + len(self._state_dims()))] * self._n_states
        try:
            return super().__call__([inputs] + initial_state, **kwargs)
        finally:
            self.input_spec = spec

    def call(self, inputs, mask=None, training=None, initial_state=None):
        if isinstance(inputs, list):
            inputs, initial_state = inputs[0], inputs[1:]
        if isinstance(mask, list):
            mask = mask[0]
        x = inputs
        shape = K.int_shape(x)
        if len(shape) != 3:
            raise ValueError(
                f"Layer {self.name} expects a 3-D input (batch, timesteps, features), got shape {shape}"
            )
        xt = B.transpose(x, [1, 0, 2])
        mask_t = None if mask is None else B.transpose(self._checked_mask(mask, shape), [1, 0])
        if self.go_backwards:
            xt = B.getitem(xt, slice(None, None, -1))
            mask_t = None if mask_t is None else B.getitem(mask_t, slice(None, None, -1))
        states = self._initial_states(x, initial_state)
        seq_out, final = self._run(x, xt, mask_t, states, training)
        if self.stateful:
            self.add_update(list(zip(self.states, final)))
        if self.return_sequences:
            if getattr(self, "_reverse_output", False):
                seq_out = B.getitem(seq_out, slice(None, None, -1))
            output = B.transpose(seq_out, [1, 0, 2])
            if self.zero_output_for_mask and mask is not None:
                output = output * K.expand_dims(K.cast(mask, output.dtype), -1)
        else:
            output = final[0]
        return [output] + list(final) if self.return_state else output

    def _checked_mask(self, mask: Tensor, shape: tuple) -> Tensor:
        mshape = K.int_shape(mask)
        ok = len(mshape) == 2 and all(
            m is None or s is None or m == s for m, s in zip(mshape, shape[:2])
        )
        if not ok:
            raise ValueError(
                f"Layer {self.name}: the input mask must have shape (batch, timesteps) = "
                f"{tuple(shape[:2])}, got a mask of shape {mshape}"
            )
        return mask if mask.dtype.value == "bool" else K.cast(mask, "bool")

    def _initial_states(self, x: Tensor, given: list | None) -> list[Tensor]:
        batch = K.int_shape(x)[0]
        if self.stateful:
            want = self.states[0].shape[0]
            if batch is not None and batch != want:
                raise ValueError(
                    f"Layer {self.name} is stateful with a batch size of {want}, but it was called on "
                    f"an input of batch size {batch}."
                )
            if not given:
                return [x.graph.read(v) for v in self.states]
        if given:
            states = [K.cast(s, x.dtype) if isinstance(s, Tensor) else s for s in given]
            dims = self._state_dims()
            for i, s in enumerate(states):
                shape = K.int_shape(s)
                if len(shape) != 1 + len(dims) or any(
                    d not in (None, want) for d, want in zip(shape[1:], dims, strict=True)
                ):
                    raise ValueError(
                        f"Layer {self.name}: initial state {i} must have shape "
                        f"{(None,) + dims} (batch first), got {shape}"
                    )
            return states
        shape = B.apply1("Concat", B.getitem(B.apply1("Shape", x), slice(0, 1)),
                         x.graph.constant(np.asarray(self._state_dims(), np.int64)), axis=0)  # fmt: skip
        zero = B.apply1("ConstantOfShape", shape, value=np.zeros((), x.dtype.numpy))
        return [zero] * self._n_states

    def _dropout_masks(self, x: Tensor, rate: float, dims: tuple[int, ...], seed: int) -> Tensor:
        """(count, batch, *dims) masks already scaled by 1/(1-rate): one per gate, or one
        shared by every gate with implementation 2."""
        count = self._mask_count()
        shape = B.apply1("Concat", x.graph.constant(np.asarray([count], np.int64)),
                         B.getitem(B.apply1("Shape", x), slice(0, 1)),
                         x.graph.constant(np.asarray(dims, np.int64)), axis=0)  # fmt: skip
        keep = B.cast(K.random_keep_mask(shape, seed, rate), x.dtype)
        return B.mul(keep, 1.0 / (1.0 - rate))

    def _mask_count(self) -> int:
        return 1 if self.implementation == 2 else GATES[self._cell]

    def _input_dropout(self) -> float:
        """The rate of the dropout masks on the inputs."""
        return self.dropout

    def _run(self, x, xt, mask_t, states, training):
        """The recurrence, with dropout masks in training programs when dropout is on."""
        plain = self._recurrence(xt, mask_t, states, None, None)
        rate = self._input_dropout()
        if not (0.0 < rate < 1.0 or 0.0 < self.recurrent_dropout < 1.0):
            return plain
        self.uses_learning_phase = True
        din = (
            self._dropout_masks(x, rate, K.int_shape(x)[2:], self._seed)
            if 0.0 < rate < 1.0
            else None
        )
        drec = (self._dropout_masks(x, self.recurrent_dropout, self._state_dims(), self._seed + 1)
                if 0.0 < self.recurrent_dropout < 1.0 else None)  # fmt: skip
        dropped = self._recurrence(xt, mask_t, states, din, drec)
        seq = K.in_train_phase(dropped[0], plain[0], training=training)
        final = [K.in_train_phase(a, b, training=training) for a, b in zip(dropped[1], plain[1])]
        return seq, final

    def _recurrence(self, xt, mask_t, states, din, drec):
        attrs = self._op_attrs()
        attrs.update(has_mask=int(mask_t is not None), n_din=0 if din is None else self._mask_count(),
                     n_drec=0 if drec is None else self._mask_count(), save=1)  # fmt: skip
        g = xt.graph
        ins = {"x": xt, "W": g.read(self.kernel), "U": g.read(self.recurrent_kernel), "mask": mask_t,
               "din": din, "drec": drec, "h0": states[0], "c0": states[-1]}  # fmt: skip
        ins.update(self._biases(g, xt.dtype))
        outs = dict(
            zip(
                fwd_outputs(attrs),
                B.apply("KerasRNN", [ins[n] for n in fwd_inputs(attrs)], **attrs),
            )
        )
        final = [outs["hT"]] + ([outs["cT"]] if "cT" in outs else [])
        return outs["Y"], final

    def _op_attrs(self) -> dict[str, Any]:
        recurrent = getattr(self, "recurrent_activation", activations.sigmoid)
        return {
            "cell": self._cell,
            "activation": activation_name(self, self.activation, "activation"),
            "recurrent_activation": activation_name(self, recurrent, "recurrent_activation"),
            "reset_after": int(getattr(self, "reset_after", False)),
        }

    def _biases(self, g, dtype) -> dict[str, Tensor]:
        width = GATES[self._cell] * self.units
        if not self.use_bias:
            zero = g.constant(np.zeros(width, dtype.numpy))
            return {"b": zero, "rb": zero}
        return {"b": g.read(self.bias)}

    # -- shapes, masks, states --------------------------------------------------------------
    def compute_output_shape(self, input_shape):
        if isinstance(input_shape, list):
            input_shape = input_shape[0]
        batch = input_shape[0]
        out = (batch, input_shape[1], self.units) if self.return_sequences else (batch, self.units)
        if self.return_state:
            return [out] + [(batch, self.units)] * self._n_states
        return out

    def compute_mask(self, inputs, mask=None):
        if isinstance(mask, list):
            mask = mask[0]
        output_mask = mask if self.return_sequences else None
        if self.return_state:
            return [output_mask] + [None] * self._n_states
        return output_mask

    def reset_states(self, states=None):
        """Zeros the states of a stateful layer, or sets them to the given arrays."""
        if not self.stateful:
            raise AttributeError(
                f"Layer {self.name} is not stateful; reset_states() applies to stateful layers only."
            )
        if not self.built or self.states[0] is None:
            raise RuntimeError(f"Layer {self.name} has no states yet: call it on an input first.")
        if states is None:
            for v in self.states:
                v.assign(np.zeros(v.shape, v.dtype.numpy))
            return
        values = to_list(states)
        if len(values) != len(self.states):
            raise ValueError(
                f"Layer {self.name} expects {len(self.states)} states, but it received {len(values)} "
                f"state values. Input received: {states}"
            )
        for i, (v, value) in enumerate(zip(self.states, values)):
            if np.shape(value) != v.shape:
                raise ValueError(
                    f"State {i} is incompatible with layer {self.name}: expected shape={v.shape}, "
                    f"found shape={np.shape(value)}"
                )
            v.assign(value)

    def get_config(self) -> dict:
        config = {
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "go_backwards": self.go_backwards,
            "stateful": self.stateful,
            "unroll": self.unroll,
            "implementation": self.implementation,
        }
        if self.zero_output_for_mask:
            config["zero_output_for_mask"] = True
        return {**super().get_config(), **config}
