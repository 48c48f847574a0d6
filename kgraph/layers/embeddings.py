"""Embedding: integer indices to dense vectors."""

from __future__ import annotations

import warnings

from kgraph import backend as K
from kgraph import constraints, initializers, regularizers
from kgraph.engine.topology import Layer

__all__ = ["Embedding"]


class Embedding(Layer):
    """Turns positive integer indices into dense vectors: `embeddings[index]`.

    As the first layer of a Sequential model it creates an int32 input of shape
    `(batch, input_length)`. Float inputs are cast to int32, as in Keras; a model whose
    float input feeds an Embedding checks that the values it is given are whole numbers.

    Args:
        input_dim: size of the vocabulary (largest index + 1).
        output_dim: size of each vector.
        embeddings_initializer: initializer of the matrix (default `RandomUniform(-0.05, 0.05)`).
        embeddings_regularizer: regularizer of the matrix.
        activity_regularizer: regularizer of the output.
        embeddings_constraint: constraint on the matrix.
        mask_zero: index 0 is padding: the layer outputs the mask `inputs != 0` for the
            layers that follow (so index 0 cannot be used as a word).
        input_length: the constant length of the input sequences, if any.

    Weights:
        `embeddings` of shape `(input_dim, output_dim)`.

    Input shape: `(batch, sequence_length)` integers. Output shape:
    `(batch, sequence_length, output_dim)`.

    Raises:
        TypeError: a float or bool input tensor (declare it `Input(..., dtype='int32')`).

    Example:
        ```python
        model = Sequential()
        model.add(Embedding(1000, 64, input_length=10))
        # model.output_shape == (None, 10, 64)
        ```
    """

    def __init__(self, input_dim, output_dim, embeddings_initializer="uniform",
                 embeddings_regularizer=None, activity_regularizer=None,
                 embeddings_constraint=None, mask_zero=False, input_length=None, **kwargs):  # fmt: skip
        if "dropout" in kwargs:
            kwargs.pop("dropout")
            warnings.warn("The `dropout` argument is no longer supported in `Embedding`. "
                          "You can apply a `Dropout` layer right after the `Embedding` layer "
                          "to get the same behavior.", stacklevel=2)  # fmt: skip
        kwargs["dtype"] = "int32"
        if "input_shape" not in kwargs and "batch_input_shape" not in kwargs:
            kwargs["input_shape"] = (input_length,) if input_length else (None,)
        super().__init__(**kwargs)
        if int(input_dim) <= 0 or int(output_dim) <= 0:
            raise ValueError(
                f"Layer {self.name}: input_dim and output_dim must be positive integers, "
                f"got input_dim={input_dim!r}, output_dim={output_dim!r}"
            )
        self.input_dim = int(input_dim)
        self.output_dim = int(output_dim)
        self.embeddings_initializer = initializers.get(embeddings_initializer)
        self.embeddings_regularizer = regularizers.get(embeddings_regularizer)
        self.activity_regularizer = regularizers.get(activity_regularizer)
        self.embeddings_constraint = constraints.get(embeddings_constraint)
        self.mask_zero = mask_zero
        self.input_length = input_length

    def build(self, input_shape):
        self.embeddings = self.add_weight("embeddings", (self.input_dim, self.output_dim),
                                          initializer=self.embeddings_initializer,
                                          regularizer=self.embeddings_regularizer,
                                          constraint=self.embeddings_constraint)  # fmt: skip
        self.built = True

    def compute_mask(self, inputs, mask=None):
        if not self.mask_zero:
            return None
        return K.not_equal(inputs, 0)

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if self.input_length and len(input_shape) > 1:
            input_shape = (input_shape[0], self.input_length) + input_shape[2:]
        return input_shape + (self.output_dim,)

    def call(self, inputs, **kwargs):
        if not inputs.dtype.is_integer:
            # Keras casts float indices to int32. Fed straight from a model input, the
            # model checks the values first (`float_index_inputs`): a fractional index is
            # a mistake that the cast would hide.
            self.float_index_inputs.append(inputs)
            inputs = K.cast(inputs, "int32")
        return K.gather(self.embeddings, inputs)

    @property
    def float_index_inputs(self) -> list:
        """The float tensors this layer was called on (and casts to int32)."""
        if "_float_indices" not in self.__dict__:
            self._float_indices = []
        return self._float_indices

    def get_config(self):
        config = {
            "input_dim": self.input_dim,
            "output_dim": self.output_dim,
            "embeddings_initializer": initializers.serialize(self.embeddings_initializer),
            "embeddings_regularizer": regularizers.serialize(self.embeddings_regularizer),
            "activity_regularizer": regularizers.serialize(self.activity_regularizer),
            "embeddings_constraint": constraints.serialize(self.embeddings_constraint),
            "mask_zero": self.mask_zero,
            "input_length": self.input_length,
        }
        base = super().get_config()
        if "dtype" in base:
            # The layer's dtype is that of its weights and output (as tf-keras writes it);
            # the integer dtype belongs to the input, which `__init__` declares again. A
            # reader that takes the written dtype for the weights (tf-keras) would
            # otherwise create integer embeddings.
            base["dtype"] = K.floatx()
        return {**base, **config}
