"""Merge layers and the weightless core layers against golden tf-keras fixtures
(tools/make_layer_fixtures.py), plus their configs and their errors.

Each table row is one layer with fixed arguments and inputs: the output shape, the output,
the output mask, and the gradient of `sum(output * w)` (plus any activity-regularization
loss) with respect to every input, computed by `K.gradients` and run through the lowering
and the runtime, all match Keras. Two small models (every merge layer in a functional
model; the core layers in a Sequential) match Keras's predictions and one SGD step.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import kgraph.backend as K
from kgraph import optimizers
from kgraph.engine.functions import CompiledFunction
from kgraph.engine.training import Model
from kgraph.ir import get_default_graph
from kgraph.layers import (
    ActivityRegularization,
    Add,
    Average,
    Concatenate,
    Dense,
    Dot,
    Input,
    Lambda,
    Masking,
    Maximum,
    Multiply,
    Permute,
    RepeatVector,
    Reshape,
    add,
    average,
    concatenate,
    dot,
    maximum,
    multiply,
)
from kgraph.models import Sequential
from kgraph.utils.generic_utils import deserialize_keras_object, func_dump
from lowering import lower

FIXTURES = Path(__file__).parent / "fixtures"
CASES = json.loads((FIXTURES / "layers_cases.json").read_text())
VALUES = np.load(FIXTURES / "layers_values.npz")
MODELS = json.loads((FIXTURES / "layers_models.json").read_text())
MODEL_VALUES = np.load(FIXTURES / "layers_models.npz")
RTOL, ATOL = 1e-5, 1e-6

# The kgraph twins of the Lambda functions in tools/make_layer_fixtures.py.
FUNCTIONS = {
    "square_plus_one": lambda x: K.square(x) + 1.0,
    "affine": lambda x, a, b: x * a + b,
    "scale_by_sum": lambda xs: xs[0] * K.sum(xs[1], axis=-1, keepdims=True),
    "first_two": lambda x: x[:, :2],
    "mirror": lambda x: K.concatenate([x, -x]),
    "double_last": lambda s: tuple(s[:-1]) + (2 * s[-1],),
    "sum_time": lambda x: K.sum(x, axis=1),
    "masked_scale": lambda x, mask=None: (
        x * 2.0 if mask is None else x * K.expand_dims(K.cast(mask, "float32")) * 2.0
    ),
    "sum_positive": lambda inputs, mask: K.greater(K.sum(inputs, axis=-1), 0.0),
}
CLASSES = {c.__name__: c for c in (Add, Multiply, Average, Maximum, Concatenate, Dot, Lambda,
                                   Reshape, Permute, RepeatVector, ActivityRegularization, Masking)}  # fmt: skip
# Keys tf-keras adds to configs that Keras 2.0.5 does not write.
TF_KERAS_ONLY = {"module", "output_shape_module", "mask", "mask_type", "mask_module"}


def build_layer(spec: dict):
    args = dict(spec["args"])
    if spec["layer"] == "Lambda":
        args["function"] = FUNCTIONS[args["function"]]
        if isinstance(args.get("output_shape"), str):
            args["output_shape"] = FUNCTIONS[args["output_shape"]]
        if "mask" in args:
            args["mask"] = FUNCTIONS[args["mask"]]
    return CLASSES[spec["layer"]](**args)


def _fixture(name: str) -> dict:
    prefix = f"{name}__"
    return {k[len(prefix) :]: VALUES[k] for k in VALUES.files if k.startswith(prefix)}


def run_case(spec: dict, layer) -> dict:
    """Calls `layer` on Inputs (through Masking(0.) where the case says so) and evaluates
    the output, its mask, the regularization loss and the input gradients at run time."""
    data = _fixture(spec["name"])
    inputs = [Input(shape=tuple(s[1:])) for s in spec["inputs"]]
    ins = [Masking(0.0)(x) if m else x for x, m in zip(inputs, spec["masking"], strict=True)]
    y = layer(ins if len(ins) > 1 else ins[0])
    w = K.constant(data["w"])
    reg = None
    for term in layer.losses:
        reg = term if reg is None else reg + term
    loss = K.sum(y * w) if reg is None else K.sum(y * w) + reg
    grads = K.gradients(loss, inputs)
    fetches = [("y", y)] + [(f"g{i}", g) for i, g in enumerate(grads)]
    if reg is not None:
        fetches.append(("reg", reg))
    mask = getattr(y, "_keras_mask", None)
    if mask is not None:
        fetches.append(("mask", mask))
    names = [x._keras_history[0].name for x in inputs]
    program = lower(
        get_default_graph(),
        list(zip(names, inputs, strict=True)),
        fetches,
        training=False,
        name=spec["name"],
    )
    outs = CompiledFunction(program, names)([data[f"x{i}"] for i in range(len(inputs))])
    result = dict(zip([n for n, _ in fetches], outs, strict=True))
    result["keras_shape"] = y._keras_shape
    result["model"] = Model(inputs=inputs, outputs=y)
    return result


def _json(value):
    return json.loads(json.dumps(value))


@pytest.mark.parametrize("spec", CASES, ids=[c["name"] for c in CASES])
def test_layer_matches_keras(spec):
    data = _fixture(spec["name"])
    layer = build_layer(spec)
    got = run_case(spec, layer)
    expected_shape = tuple(spec["output_shape"])
    assert got["keras_shape"] == expected_shape
    shapes = [(None,) + tuple(s[1:]) for s in spec["inputs"]]
    assert (
        tuple(layer.compute_output_shape(shapes if len(shapes) > 1 else shapes[0]))
        == expected_shape
    )
    np.testing.assert_allclose(got["y"], data["y"], rtol=RTOL, atol=ATOL)
    for i in range(len(spec["inputs"])):
        np.testing.assert_allclose(
            got[f"g{i}"], data[f"g{i}"], rtol=RTOL, atol=ATOL, err_msg=f"gradient {i}"
        )
    if spec["has_mask"]:
        np.testing.assert_array_equal(got["mask"], data["mask"])
    else:
        assert "mask" not in got
    if spec["regularization"]:
        np.testing.assert_allclose(got["reg"], spec["regularization"], rtol=RTOL)
    xs = [data[f"x{i}"] for i in range(len(spec["inputs"]))]
    np.testing.assert_allclose(
        got["model"].predict(xs if len(xs) > 1 else xs[0]), data["y"], rtol=RTOL, atol=ATOL
    )

    # The config has Keras's keys and values (the generated name and bytecode aside).
    config = layer.get_config()
    keras_config = {k: v for k, v in spec["config"].items() if k not in TF_KERAS_ONLY}
    assert set(config) == set(keras_config)
    for key in set(keras_config) - {"name", "function"}:
        if key == "output_shape" and keras_config["output_shape_type"] == "lambda":
            continue
        assert _json(config[key]) == keras_config[key], key

    # A JSON round trip gives the same config and a layer computing the same values.
    K.clear_session()
    again = type(layer).from_config(
        _json(config), **({"safe_mode": False} if spec["layer"] == "Lambda" else {})
    )
    # (Marshalled bytecode need not be byte-identical after a load; its values are checked.)
    dumped = {"function"} if config.get("function_type") == "lambda" else set()
    dumped |= {"output_shape"} if config.get("output_shape_type") == "lambda" else set()
    assert {k: v for k, v in _json(again.get_config()).items() if k not in dumped} == {
        k: v for k, v in _json(config).items() if k not in dumped
    }
    np.testing.assert_allclose(run_case(spec, again)["y"], data["y"], rtol=RTOL, atol=ATOL)


def _model_fixture(name: str) -> dict:
    prefix = f"{name}__"
    return {k[len(prefix) :]: MODEL_VALUES[k] for k in MODEL_VALUES.files if k.startswith(prefix)}


def merge_model() -> Model:
    a, b = Input(shape=(6,), name="in_a"), Input(shape=(4,), name="in_b")
    da = Dense(4, activation="tanh", name="dense_a")(a)
    db = Dense(4, activation="tanh", name="dense_b")(b)
    merged = concatenate(
        [add([da, db]), multiply([da, db]), maximum([da, db]), average([da, db]),
         dot([da, db], axes=1, normalize=True)],
        name="concat",
    )  # fmt: skip
    return Model(inputs=[a, b], outputs=Dense(3, name="dense_out")(merged))


def core_model(l2: float) -> Sequential:
    return Sequential([
        Dense(12, activation="tanh", input_shape=(6,), name="dense_in"),
        Reshape((3, 4), name="reshape_a"),
        Permute((2, 1), name="permute"),
        Reshape((12,), name="reshape_b"),
        RepeatVector(2, name="repeat"),
        Lambda(FUNCTIONS["sum_time"], name="sum_time"),
        ActivityRegularization(l2=l2, name="act_reg"),
        Dense(3, name="dense_out"),
    ])  # fmt: skip


@pytest.mark.parametrize("name", sorted(MODELS))
def test_model_predict_and_sgd_step_match_keras(name):
    spec, data = MODELS[name], _model_fixture(name)
    model = merge_model() if name == "merge_model" else core_model(spec["l2"])
    for layer_name, n in spec["weights"].items():
        model.get_layer(layer_name).set_weights(
            [data[f"init__{layer_name}__{i}"] for i in range(n)]
        )
    xs = [data[f"x{i}"] for i in range(len(spec["inputs"]))]
    xs = xs if len(xs) > 1 else xs[0]
    np.testing.assert_allclose(model.predict(xs), data["predict"], rtol=RTOL, atol=ATOL)
    model.compile(optimizers.SGD(lr=spec["lr"]), "mean_squared_error")
    loss = model.train_on_batch(xs, data["y"])
    assert loss == pytest.approx(spec["loss"], rel=RTOL)
    for layer_name in spec["weights"]:
        for i, w in enumerate(model.get_layer(layer_name).get_weights()):
            np.testing.assert_allclose(w, data[f"step__{layer_name}__{i}"], rtol=RTOL, atol=ATOL,
                                       err_msg=f"{layer_name} weight {i}")  # fmt: skip


# -- merge layers: names, functional forms, dynamic shapes ----------------------------------
def test_functional_forms_make_the_layer_and_pass_kwargs():
    a, b = Input(shape=(3,)), Input(shape=(3,))
    for fn, cls in ((add, Add), (multiply, Multiply), (average, Average), (maximum, Maximum)):
        y = fn([a, b])
        assert type(y._keras_history[0]) is cls
    c = concatenate([a, b], axis=1, name="joined")
    assert c._keras_history[0].name == "joined" and c._keras_history[0].axis == 1
    d = dot([a, b], axes=(1, 1), normalize=True)
    layer = d._keras_history[0]
    assert (layer.name, layer.axes, layer.normalize) == ("dot_1", (1, 1), True)
    assert K.int_shape(d) == (None, 1)
    assert [la.name for la in (Add(), Concatenate())] == ["add_2", "concatenate_1"]


def test_merge_configs_are_keras_2_0_5s():
    base = {"trainable": True, "dtype": "float32"}
    assert Add(name="s").get_config() == {"name": "s", **base}
    assert Concatenate(axis=1, name="c").get_config() == {"name": "c", "axis": 1, **base}
    assert Dot(axes=[1, 2], name="d").get_config() == {
        "name": "d",
        "axes": [1, 2],
        "normalize": False,
        **base,
    }
    layer = deserialize_keras_object({"class_name": "Dot", "config": {"name": "d", "axes": 2, "normalize": True}},
                                     module_objects=CLASSES)  # fmt: skip
    assert (layer.axes, layer.normalize) == (2, True)


def test_dot_with_unknown_dims_reshapes_at_run_time():
    a, b = Input(shape=(None, 4, 5)), Input(shape=(None, 5))
    y = Dot(axes=-1)([a, b])
    assert K.int_shape(y) == (None, None, 4, None)
    rng = np.random.RandomState(0)
    xa, xb = rng.randn(2, 3, 4, 5).astype(np.float32), rng.randn(2, 6, 5).astype(np.float32)
    w = rng.randn(2, 3, 4, 6).astype(np.float32)
    ga, gb = K.gradients(K.sum(y * K.constant(w)), [a, b])
    program = lower(get_default_graph(), [("a", a), ("b", b)], [("y", y), ("ga", ga), ("gb", gb)],
                    training=False, name="dot")  # fmt: skip
    out, grad_a, grad_b = CompiledFunction(program, ["a", "b"])([xa, xb])
    np.testing.assert_allclose(out, np.einsum("btik,bsk->btis", xa, xb), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(grad_a, np.einsum("btis,bsk->btik", w, xb), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(grad_b, np.einsum("btis,btik->bsk", w, xa), rtol=1e-5, atol=1e-5)


def test_merge_masks_are_checked_and_combined():
    a, b = Input(shape=(3,)), Input(shape=(3,))
    layer = Add()
    layer([a, b])
    assert layer.compute_mask([a, b], None) is None
    assert layer.compute_mask([a, b], [None, None]) is None
    with pytest.raises(ValueError, match="`mask` should be a list"):
        layer.compute_mask([a, b], K.placeholder(shape=(None,), dtype="bool"))
    with pytest.raises(ValueError, match="should have the same length"):
        layer.compute_mask([a, b], [None])
    assert (
        Dot(axes=1).compute_mask([a, b], [K.placeholder(shape=(None,), dtype="bool"), None]) is None
    )


# -- merge layers: bad input -----------------------------------------------------------------
def test_add_rejects_shapes_that_do_not_broadcast():
    with pytest.raises(
        ValueError,
        match=r"Operands could not be broadcast together with shapes \(3,\) \(4,\) \(layer add_1\)",
    ):
        Add()([Input(shape=(3,)), Input(shape=(4,))])
    with pytest.raises(ValueError, match=r"shapes \(5, 2\) \(5, 3\)"):
        Multiply()([Input(shape=(5, 2)), Input(shape=(5, 3))])


def test_merge_needs_a_list_of_two_inputs_with_one_batch_size():
    x = Input(shape=(3,))
    with pytest.raises(
        ValueError,
        match=r"should be called on a list of inputs\. Layer add_1 received a single input of shape \(None, 3\)",
    ):
        Add()(x)
    with pytest.raises(ValueError, match="should be called on a list of inputs"):
        Maximum()([x])
    with pytest.raises(
        ValueError,
        match=r"Can not merge tensors with different batch sizes\. Got tensors with shapes : \[\(2, 3\), \(5, 3\)\]",
    ):
        Average()([Input(batch_shape=(2, 3)), Input(batch_shape=(5, 3))])


def test_concatenate_errors_name_the_shapes():
    a, b = Input(shape=(2, 3)), Input(shape=(4, 5))
    with pytest.raises(ValueError, match=(r"`Concatenate` layer requires inputs with matching shapes except for "
                                          r"the concat axis\. Got inputs shapes: \[\(None, 2, 3\), \(None, 4, 5\)\] "
                                          r"\(layer concatenate_1, axis=-1\)")):  # fmt: skip
        Concatenate()([a, b])
    with pytest.raises(ValueError, match=r"matching shapes.*\[\(None, 2, 3\), \(None, 4, 5\)\]"):
        concatenate([a, b], axis=1)
    with pytest.raises(ValueError, match=r"axis 3 is out of range for inputs of rank 3"):
        Concatenate(axis=3)([a, a])
    with pytest.raises(ValueError, match=r"should be called on a list of inputs"):
        Concatenate()(a)


def test_dot_checks_axes_and_dimensions():
    a, b = Input(shape=(3, 5)), Input(shape=(4, 5))
    with pytest.raises(
        ValueError,
        match=r"Dimension incompatibility 3 != 4\. Layer shapes: \(None, 3, 5\), \(None, 4, 5\)",
    ):
        Dot(axes=1)([a, b])
    with pytest.raises(ValueError, match=r"a list of 2 inputs \(layer dot_2 got 3 inputs\)"):
        Dot(axes=2)([a, b, a])
    with pytest.raises(ValueError, match="non-batch axis"):
        Dot(axes=0)([a, b])
    with pytest.raises(TypeError, match="should be a list or an int"):
        Dot(axes="1")
    with pytest.raises(ValueError, match="should contain two elements"):
        Dot(axes=(1, 2, 3))
    with pytest.raises(ValueError, match='list elements should be "int"'):
        Dot(axes=(1, 2.0))


# -- core layers -----------------------------------------------------------------------------
def test_core_configs_are_keras_2_0_5s():
    base = {"trainable": True, "dtype": "float32"}
    assert Reshape([2, 3], name="r").get_config() == {"name": "r", "target_shape": (2, 3), **base}
    assert Permute([2, 1], name="p").get_config() == {"name": "p", "dims": (2, 1), **base}
    assert RepeatVector(4, name="v").get_config() == {"name": "v", "n": 4, **base}
    assert ActivityRegularization(name="a").get_config() == {
        "name": "a",
        "l1": 0.0,
        "l2": 0.0,
        **base,
    }
    assert Masking(name="m").get_config() == {"name": "m", "mask_value": 0.0, **base}
    config = Reshape((3,), input_shape=(3,), name="r").get_config()
    assert config["batch_input_shape"] == (None, 3)


def test_reshape_errors():
    with pytest.raises(
        ValueError,
        match=r"total size of new array must be unchanged: layer reshape_1 cannot reshape an input of shape \(6,\) \(6 values per sample\) to \(4, 2\)",
    ):
        Reshape((4, 2))(Input(shape=(6,)))
    with pytest.raises(ValueError, match="total size of new array must be unchanged"):
        Reshape((4, -1))(Input(shape=(6,)))
    with pytest.raises(
        ValueError,
        match=r"Can only specify one unknown dimension \(layer reshape_3, target shape \(-1, -1\)\)",
    ):
        Reshape((-1, -1))(Input(shape=(6,)))
    with pytest.raises(ValueError, match="must be positive or -1"):
        Reshape((0, 3))
    with pytest.raises(TypeError, match="must be a tuple of ints"):
        Reshape(6)


def test_reshape_with_unknown_input_dims_infers_at_run_time():
    x = Input(shape=(None, 4))
    y = Reshape((-1, 2))(x)
    assert K.int_shape(y) == (None, None, 2)
    data = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    np.testing.assert_array_equal(Model(x, y).predict(data), data.reshape(2, 6, 2))


def test_permute_rejects_invalid_dims():
    for dims in ((0, 1), (1, 1), (1, 3), (2,)):
        with pytest.raises(
            ValueError,
            match=r"Invalid permutation `dims` for Permute layer permute_\d+: .* must be consecutive and start from 1",
        ):
            Permute(dims)
    with pytest.raises(
        ValueError,
        match=r"Input 0 is incompatible with layer permute_\d+: expected ndim=3, found ndim=2",
    ):
        Permute((2, 1))(Input(shape=(4,)))


def test_repeat_vector_needs_a_matrix():
    with pytest.raises(ValueError, match="expected ndim=2, found ndim=3"):
        RepeatVector(2)(Input(shape=(3, 4)))
    with pytest.raises(ValueError, match="must be a positive integer"):
        RepeatVector(0)


def test_masks_are_refused_by_layers_without_mask_support():
    masked = Masking()(Input(shape=(3, 4)))
    with pytest.raises(TypeError, match="does not support masking"):
        Reshape((12,))(masked)
    assert ActivityRegularization(l1=0.1)(masked)._keras_mask is not None


def test_activity_regularization_adds_its_loss_to_the_model():
    x = Input(shape=(3,))
    layer = ActivityRegularization(l1=0.5, l2=0.25)
    model = Model(x, layer(Dense(2, name="d")(x)))
    assert len(layer.losses) == 1 and model.losses == layer.losses


# -- Lambda ----------------------------------------------------------------------------------
def offset(x, amount=1.0):
    return x + amount


def test_lambda_serializes_lambdas_as_bytecode_and_named_functions_by_name():
    config = Lambda(lambda x: x * 3.0, name="l").get_config()
    assert config["function_type"] == "lambda" and len(config["function"]) == 3
    assert (config["output_shape"], config["output_shape_type"], config["arguments"]) == (
        None,
        "raw",
        {},
    )
    config = Lambda(offset, output_shape=lambda s: s, arguments={"amount": 2.0}).get_config()
    assert (config["function"], config["function_type"], config["output_shape_type"]) == (
        "offset",
        "function",
        "lambda",
    )
    assert set(config) == {"name", "trainable", "dtype", "function", "function_type", "output_shape",
                           "output_shape_type", "arguments"}  # fmt: skip


def test_lambda_from_config_refuses_bytecode_unless_unsafe_mode_is_asked_for():
    config = _json(Lambda(lambda x: x * 3.0, name="triple").get_config())
    with pytest.raises(
        ValueError, match=r"Refusing to load the function in Lambda layer 'triple'.*safe_mode=False"
    ):
        Lambda.from_config(config)
    with pytest.raises(ValueError, match="Refusing"):
        deserialize_keras_object({"class_name": "Lambda", "config": config}, module_objects=CLASSES)
    # A tf-keras config (with its extra keys) is refused the same way.
    keras_config = next(c["config"] for c in CASES if c["name"] == "lambda_output_function")
    with pytest.raises(
        ValueError, match="Refusing to load the function in Lambda layer 'lambda_4'"
    ):
        Lambda.from_config(keras_config)
    named = _json(Lambda(offset, output_shape=lambda s: s).get_config())
    with pytest.raises(ValueError, match="Refusing to load the output_shape function"):
        Lambda.from_config(named, custom_objects={"offset": offset})
    layer = Lambda.from_config(config, safe_mode=False)
    x = Input(shape=(2,))
    np.testing.assert_allclose(
        Model(x, layer(x)).predict(np.array([[1.0, 2.0]], np.float32)), [[3.0, 6.0]]
    )


def test_lambda_named_function_is_looked_up_in_custom_objects():
    config = _json(Lambda(offset, output_shape=(2,), arguments={"amount": 2.0}).get_config())
    with pytest.raises(ValueError, match="Unknown function in Lambda layer: offset"):
        Lambda.from_config(config)
    layer = Lambda.from_config(config, custom_objects={"offset": offset})
    assert layer.arguments == {"amount": 2.0} and layer.compute_output_shape((None, 2)) == (None, 2)
    x = Input(shape=(2,))
    np.testing.assert_allclose(
        Model(x, layer(x)).predict(np.array([[1.0, 2.0]], np.float32)), [[3.0, 4.0]]
    )


def test_lambda_ndarray_arguments_are_restored():
    config = _json(Lambda(offset).get_config())
    config["arguments"] = {"amount": {"type": "ndarray", "value": [1.0, 2.0]}}
    layer = Lambda.from_config(config, custom_objects={"offset": offset})
    np.testing.assert_array_equal(layer.arguments["amount"], [1.0, 2.0])


def test_lambda_output_shape_checks_and_inference():
    with pytest.raises(TypeError, match="must be a list, a tuple, or a function"):
        Lambda(offset, output_shape=3)
    with pytest.raises(TypeError, match="must be callable"):
        Lambda(3)
    with pytest.raises(ValueError, match="must return a tuple or a list of tuples"):
        Lambda(offset, output_shape=lambda s: 3)(Input(shape=(2,)))
    # Inferred from a trace in a scratch graph, leaving the model's graph untouched.
    layer = Lambda(lambda x: K.concatenate([x, x, x]))
    before = len(get_default_graph())
    assert layer.compute_output_shape((None, 5, 2)) == (None, 5, 6)
    assert len(get_default_graph()) == before
    pair = Lambda(lambda xs: [xs[0] * 2.0, K.sum(xs[1], axis=-1)])
    out = pair([Input(shape=(3,)), Input(shape=(4, 5))])
    assert [K.int_shape(t) for t in out] == [(None, 3), (None, 4)]


def test_lambda_masks():
    x = Input(shape=(3, 2))
    masked = Masking()(x)
    assert Lambda(lambda t: t * 2.0)(masked)._keras_mask is None
    constant_mask = K.placeholder(shape=(None, 3), dtype="bool")
    layer = Lambda(lambda t: t, mask=constant_mask)
    assert layer.supports_masking and layer(masked)._keras_mask is constant_mask


def test_lambda_mask_function_in_tf_keras_style_config():
    config = _json(Lambda(offset, name="shifted").get_config())
    config.update(mask=_json(func_dump(lambda inputs, mask: K.greater(inputs, 0.0))), mask_type="lambda",
                  module="__main__", mask_module="__main__")  # fmt: skip
    with pytest.raises(
        ValueError, match="Refusing to load the mask function in Lambda layer 'shifted'"
    ):
        Lambda.from_config(config, custom_objects={"offset": offset})
    layer = Lambda.from_config(config, custom_objects={"offset": offset}, safe_mode=False)
    x = Input(shape=(2,))
    y = layer(x)
    program = lower(
        get_default_graph(), [("x", x)], [("m", y._keras_mask)], training=False, name="m"
    )
    (mask,) = CompiledFunction(program, ["x"])([np.array([[1.0, -1.0]], np.float32)])
    np.testing.assert_array_equal(mask, [[True, False]])


def test_lambda_inside_sequential():
    model = Sequential(
        [Lambda(lambda x: x[:, ::-1], input_shape=(3,)), Lambda(offset, arguments={"amount": 1.0})]
    )
    assert model.output_shape == (None, 3)
    np.testing.assert_allclose(
        model.predict(np.array([[1.0, 2.0, 3.0]], np.float32)), [[4.0, 3.0, 2.0]]
    )
