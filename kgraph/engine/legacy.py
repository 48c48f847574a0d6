"""Keras 1 constructor arguments, accepted with a warning as Keras 2.0.5 accepts them.

One table maps a class name to its renamed keywords; a few classes also need their
positional arguments read the Keras 1 way (`Conv2D(32, 3, 3)` is a 3x3 kernel). `Layer`
wraps the constructor of every class named here (`install`); subclasses inherit it.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

_DIM_ORDERING = {"tf": "channels_last", "th": "channels_first", "default": None}
# Keyword values that changed with the name: old value -> new value.
_VALUES = {"dim_ordering": _DIM_ORDERING, "consume_less": {"cpu": 0, "mem": 1, "gpu": 2}}
_DIM = [("dim_ordering", "data_format")]
_KERNEL = [
    ("init", "kernel_initializer"), ("W_regularizer", "kernel_regularizer"),
    ("b_regularizer", "bias_regularizer"), ("W_constraint", "kernel_constraint"),
    ("b_constraint", "bias_constraint"), ("bias", "use_bias"),
]  # fmt: skip
_CONV = [("nb_filter", "filters"), ("subsample", "strides"), ("border_mode", "padding")] + _DIM
_RECURRENT = [
    ("output_dim", "units"), ("init", "kernel_initializer"), ("inner_init", "recurrent_initializer"),
    ("inner_activation", "recurrent_activation"), ("W_regularizer", "kernel_regularizer"),
    ("U_regularizer", "recurrent_regularizer"), ("b_regularizer", "bias_regularizer"),
    ("W_constraint", "kernel_constraint"), ("U_constraint", "recurrent_constraint"),
    ("b_constraint", "bias_constraint"), ("dropout_W", "dropout"), ("dropout_U", "recurrent_dropout"),
    ("consume_less", "implementation"),
]  # fmt: skip

RENAMES: dict[str, list[tuple[str, str]]] = {
    "Dense": [("output_dim", "units")] + _KERNEL,
    "Dropout": [("p", "rate")],
    "SpatialDropout1D": [("p", "rate")],
    "SpatialDropout2D": [("p", "rate")] + _DIM,
    "SpatialDropout3D": [("p", "rate")] + _DIM,
    "GaussianDropout": [("p", "rate")],
    "GaussianNoise": [("sigma", "stddev")],
    "PReLU": [("init", "alpha_initializer")],
    "Embedding": [("init", "embeddings_initializer"), ("W_regularizer", "embeddings_regularizer"),
                  ("W_constraint", "embeddings_constraint")],  # fmt: skip
    "BatchNormalization": [("beta_init", "beta_initializer"), ("gamma_init", "gamma_initializer")],
    "MaxPooling1D": [("pool_length", "pool_size"), ("stride", "strides"), ("border_mode", "padding")],
    "AveragePooling1D": [("pool_length", "pool_size"), ("stride", "strides"), ("border_mode", "padding")],
    "UpSampling1D": [("length", "size")],
    "Conv1D": [("nb_filter", "filters"), ("filter_length", "kernel_size"),
               ("subsample_length", "strides"), ("border_mode", "padding")] + _KERNEL,  # fmt: skip
    "Conv2D": _CONV + _KERNEL,
    "Conv2DTranspose": _CONV + _KERNEL,
    "Conv3D": _CONV + _KERNEL,
    "SeparableConv2D": _CONV + [("b_regularizer", "bias_regularizer"),
                                ("b_constraint", "bias_constraint"), ("bias", "use_bias")],  # fmt: skip
    "ConvLSTM2D": _CONV + [
        ("init", "kernel_initializer"), ("inner_init", "recurrent_initializer"),
        ("W_regularizer", "kernel_regularizer"), ("U_regularizer", "recurrent_regularizer"),
        ("b_regularizer", "bias_regularizer"), ("inner_activation", "recurrent_activation"),
        ("dropout_W", "dropout"), ("dropout_U", "recurrent_dropout"), ("bias", "use_bias"),
    ],
    "SimpleRNN": _RECURRENT,
    "GRU": _RECURRENT,
    "LSTM": _RECURRENT,
    "Container": [("input", "inputs"), ("output", "outputs")],
    "Model": [("input", "inputs"), ("output", "outputs")],
}
for _name in ("MaxPooling2D", "MaxPooling3D", "AveragePooling2D", "AveragePooling3D"):
    RENAMES[_name] = [("border_mode", "padding")] + _DIM
for _name in ("GlobalMaxPooling2D", "GlobalMaxPooling3D", "GlobalAveragePooling2D",
              "GlobalAveragePooling3D", "UpSampling2D", "UpSampling3D", "ZeroPadding2D",
              "ZeroPadding3D", "Cropping2D", "Cropping3D"):  # fmt: skip
    RENAMES[_name] = list(_DIM)


def _kernel_from_positionals(args: tuple, kwargs: dict, dims: int, name: str) -> tuple:
    """Keras 1 gave a conv kernel as `dims` ints after `nb_filter`, positionally or as
    `nb_row`/`nb_col` (2D) or `kernel_dim1..3` (3D) keywords."""
    keys = ["nb_row", "nb_col"] if dims == 2 else [f"kernel_dim{i}" for i in (1, 2, 3)]
    ints = [a for a in args[1:] if isinstance(a, int) and not isinstance(a, bool)]
    if len(args) > 1 + dims:
        raise TypeError(f"`{name}` takes at most {dims + 1} positional arguments, got {len(args)}")
    if len(args) == 1 + dims and len(ints) == dims:
        clash = [k for k in ("padding", "strides", "data_format") if k in kwargs]
        if clash:
            raise ValueError(
                f"`{name}` got {dims} integers after `filters` (a Keras 1 kernel size) and the "
                f"Keras 2 keyword(s) {clash}: pass `kernel_size` and `strides` as keywords."
            )
        return args[:1] + (tuple(ints),), kwargs
    given = max(len(args) - 1, 0)  # kernel sizes given positionally
    rest = keys[given:]
    if given < dims and len(ints) == given and all(k in kwargs for k in rest):
        sizes = tuple(args[1:]) + tuple(kwargs.pop(k) for k in rest)
        if not args:
            kwargs["kernel_size"] = sizes
            return args, kwargs
        return args[:1] + (sizes,), kwargs
    return args, kwargs


def _zero_padding_dict(padding: Any) -> Any:
    if isinstance(padding, dict) and set(padding) <= {"top_pad", "bottom_pad", "left_pad", "right_pad"}:
        return ((padding.get("top_pad", 0), padding.get("bottom_pad", 0)),
                (padding.get("left_pad", 0), padding.get("right_pad", 0)))  # fmt: skip
    return padding


def convert(name: str, args: tuple, kwargs: dict) -> tuple[tuple, dict, list[str]]:
    """Keras 1 arguments of class `name`'s constructor in Keras 2 form, and what changed."""
    kwargs = dict(kwargs)
    changed: list[str] = []
    if name in ("SimpleRNN", "GRU", "LSTM", "ConvLSTM2D") and "forget_bias_init" in kwargs:
        if kwargs.pop("forget_bias_init") == "one":
            kwargs["unit_forget_bias"] = True
            changed.append("forget_bias_init='one' -> unit_forget_bias=True")
        else:
            warnings.warn("The `forget_bias_init` argument has been ignored. Use "
                          "`unit_forget_bias=True` instead to initialize with ones.", stacklevel=4)  # fmt: skip
    if name in ("Conv2D", "Conv2DTranspose", "SeparableConv2D", "Conv3D", "ConvLSTM2D"):
        if name == "Conv2DTranspose":
            if len(args) == 4 and isinstance(args[3], tuple):
                args, _ = args[:3], changed.append("output_shape (dropped)")
            if kwargs.pop("output_shape", None) is not None:
                changed.append("output_shape (dropped)")
        if name == "SeparableConv2D" and "init" in kwargs:
            kwargs["depthwise_initializer"] = kwargs["pointwise_initializer"] = kwargs.pop("init")
            changed.append("init -> depthwise_initializer, pointwise_initializer")
        before = args
        args, kwargs = _kernel_from_positionals(args, kwargs, 3 if name == "Conv3D" else 2, name)
        if args is not before:
            changed.append("nb_row/nb_col -> kernel_size" if name != "Conv3D" else "kernel_dim* -> kernel_size")
    given = {"input_dim"} if name == "Conv1D" else {"input_dim", "input_length"}
    if name in ("Conv1D", "SimpleRNN", "GRU", "LSTM") and "input_shape" not in kwargs and given & set(kwargs):
        kwargs["input_shape"] = (kwargs.pop("input_length", None), kwargs.pop("input_dim", None))
        changed.append("input_dim/input_length -> input_shape")
    if name == "Embedding" and "dropout" in kwargs:
        kwargs.pop("dropout")
        warnings.warn("`Embedding` no longer takes `dropout`: a SpatialDropout1D layer after "
                      "the Embedding does the same.", stacklevel=4)  # fmt: skip
    if name == "BatchNormalization":
        if args:
            raise TypeError("`BatchNormalization` takes keyword arguments only")
        if "mode" in kwargs:
            if kwargs.pop("mode") != 0:
                raise TypeError("`BatchNormalization(mode=1 or 2)` no longer exists; only mode=0 remains")
            changed.append("mode (dropped)")
    if name == "ZeroPadding2D":
        given = kwargs["padding"] if "padding" in kwargs else (args[0] if args else None)
        padding = _zero_padding_dict(given)
        if padding is not given:
            changed.append("padding dict -> ((top, bottom), (left, right))")
            if "padding" in kwargs:
                kwargs["padding"] = padding
            else:
                args = (padding,) + tuple(args[1:])
    for old, new in RENAMES.get(name, ()):
        if old not in kwargs:
            continue
        if new in kwargs:
            raise TypeError(f"`{name}` got both the Keras 1 argument `{old}` and its Keras 2 "
                            f"name `{new}`; keep `{new}`.")  # fmt: skip
        value = kwargs.pop(old)
        if old in _VALUES:
            if value not in _VALUES[old]:
                raise ValueError(f"`{name}`: {old} must be one of {sorted(_VALUES[old])}, got {value!r}")
            value = _VALUES[old][value]
        kwargs[new] = value
        changed.append(f"{old} -> {new}")
    return args, kwargs, changed


def install(cls: type) -> None:
    """Wraps the constructor of a class named in RENAMES (its own or the one it inherits)."""
    name = cls.__name__
    if name not in RENAMES:
        return
    init: Callable[..., None] = cls.__init__  # type: ignore[misc]

    def __init__(self, *args: Any, **kwargs: Any) -> None:  # noqa: N807
        args, kwargs, changed = convert(name, args, kwargs)
        if changed:
            warnings.warn(f"Update your `{name}` call to the Keras 2 API: {', '.join(changed)}",
                          stacklevel=2)  # fmt: skip
        init(self, *args, **kwargs)

    __init__.__doc__, __init__.__wrapped__ = init.__doc__, init  # type: ignore[attr-defined]
    cls.__init__ = __init__  # type: ignore[method-assign]
