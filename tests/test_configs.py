"""Model and layer configs in Keras's format: golden configs written by Keras 2.0.5, tf-keras
and Keras 3 (tools/make_config_fixtures.py) load and predict as Keras did; get_config /
to_json / to_yaml round trips keep predictions; node indices follow Keras's bookkeeping;
bad configs give errors that name the problem."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import yaml

from kgraph import constraints, initializers, regularizers
from kgraph.engine.topology import Layer
from kgraph.layers import (
    Activation,
    Add,
    Concatenate,
    Dense,
    Dropout,
    Flatten,
    Input,
    InputLayer,
    deserialize,
    serialize,
)
from kgraph.models import Model, Sequential, model_from_config, model_from_json, model_from_yaml
from kgraph.utils import CustomObjectScope

FIXTURES = Path(__file__).parent / "fixtures" / "configs"
CASES = {p.stem: json.loads(p.read_text()) for p in sorted(FIXTURES.glob("*.json"))}
PREDICTION_CASES = sorted(name for name, case in CASES.items() if "weights" in case)


def _set_weights(model, weights: dict) -> None:
    for name, values in weights.items():
        model.get_layer(name).set_weights([np.asarray(w, "float32") for w in values])


def _predict(model, xs: list) -> list[np.ndarray]:
    ys = model.predict(xs if len(xs) > 1 else xs[0])
    return ys if isinstance(ys, list) else [ys]


def _same_predictions(a, b, xs) -> None:
    for ya, yb in zip(_predict(a, xs), _predict(b, xs), strict=True):
        np.testing.assert_array_equal(ya, yb)


def _load_case(name: str):
    case = CASES[name]
    model = model_from_json(json.dumps(case["model"]))
    _set_weights(model, case["weights"])
    return model, [np.asarray(x, "float32") for x in case["inputs"]], case


# -- golden configs written by Keras ----------------------------------------------------------
def test_fixture_set_covers_every_dialect():
    assert {n.split("_")[0] for n in CASES} == {"tfk", "k3", "keras205"}
    assert len(PREDICTION_CASES) == 12


@pytest.mark.parametrize("name", PREDICTION_CASES)
def test_keras_config_loads_and_predicts_like_keras(name):
    model, xs, case = _load_case(name)
    config = case["model"]["config"]
    entries = config if isinstance(config, list) else config["layers"]
    names = {e.get("name") or e["config"]["name"] for e in entries}
    assert names - {la.name for la in model.input_layers} <= {la.name for la in model.layers}
    for got, want in zip(_predict(model, xs), case["outputs"], strict=True):
        np.testing.assert_allclose(got, np.asarray(want, "float32"), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", PREDICTION_CASES)
def test_loaded_keras_model_round_trips_through_kgraph_json(name):
    model, xs, _ = _load_case(name)
    text = model.to_json()
    assert json.loads(text)["keras_version"] == "2.0.5"
    clone = model_from_json(text)
    clone.set_weights(model.get_weights())
    _same_predictions(model, clone, xs)
    assert clone.get_config() == model.get_config()


def test_keras205_doc_example_loads_and_is_written_back_in_the_same_form():
    doc = CASES["keras205_doc_example"]["model"]
    model = model_from_json(json.dumps(doc))
    assert type(model) is Model and model.name == "model_1"
    assert [la.name for la in model.layers] == ["input_1", "dense_1"]
    dense = model.get_layer("dense_1")
    assert (dense.units, dense.activation.__name__, model.input_shape) == (64, "relu", (None, 784))
    # kgraph writes the same JSON, plus the `dtype` that every kgraph layer records.
    expected = json.loads(json.dumps(doc))
    expected["config"]["layers"][1]["config"]["dtype"] = "float32"
    assert json.loads(model.to_json()) == expected


def test_tf_keras_sub_objects_map_to_keras205_objects():
    model, _, _ = _load_case("tfk_sequential_mlp")
    first, _, last = model.layers
    assert first.kernel_initializer.get_config() == {
        "scale": 1.0, "mode": "fan_avg", "distribution": "uniform", "seed": None
    }  # fmt: skip
    assert last.kernel_initializer.get_config()["mode"] == "fan_in"  # he_normal
    assert first.bias_initializer.get_config() == {"mean": 0.0, "stddev": 0.1, "seed": 1}
    assert isinstance(first.kernel_regularizer, regularizers.L1L2)
    np.testing.assert_allclose(first.kernel_regularizer.l2, 0.01, rtol=1e-6)
    assert first.kernel_regularizer.l1 == 0.0
    np.testing.assert_allclose(
        [last.bias_regularizer.l1, last.bias_regularizer.l2], [0.01, 0.02], rtol=1e-6
    )
    assert isinstance(first.kernel_constraint, constraints.MaxNorm)
    assert first.kernel_constraint.max_value == 2.0
    assert isinstance(last.bias_constraint, constraints.NonNeg)
    assert model.name == "mlp" and model.layers[1].rate == pytest.approx(0.3)


def test_keras3_input_and_policy_keys_map():
    model, _, _ = _load_case("k3_sequential")
    assert model.name == "k3_seq"
    assert model.input_layers[0].batch_input_shape == (None, 4)
    assert all(la.dtype == "float32" for la in model.layers)
    functional, _, _ = _load_case("k3_functional_shared")
    assert len(functional.get_layer("shared").inbound_nodes) == 2


def test_sequential_with_an_input_layer_first_keeps_the_input_name():
    model, _, _ = _load_case("tfk_sequential_input_first")
    assert model.input_names == ["pixels"]
    assert [type(la).__name__ for la in model.layers] == ["Flatten", "Dense", "Activation", "Dense"]
    first = model.get_config()[0]["config"]
    assert first["batch_input_shape"] == (None, 2, 3) and first["dtype"] == "float32"


def test_nested_models_keep_their_names_and_node_numbering():
    for name in ("tfk_functional_nested", "keras205_functional_nested"):
        model, _, _ = _load_case(name)
        assert [la.name for la in model.layers] == ["x", "inner_seq", "inner_fn"]
        config = model.get_config()
        inner_fn = config["layers"][2]
        assert inner_fn["inbound_nodes"] == [[["inner_seq", 1, 0, {}]], [["x", 0, 0, {}]]]
        assert config["output_layers"] == [["inner_fn", 1, 0], ["inner_fn", 2, 0]]
        assert isinstance(config["layers"][1]["config"], list)  # a nested Sequential's list form


# -- round trips of models built with kgraph --------------------------------------------------
def _functional():
    a = Input(shape=(3,), name="a")
    b = Input(shape=(2, 2), name="b")
    shared = Dense(3, activation="tanh", name="shared")
    h = shared(a)
    out = shared(Dense(3, name="mid")(h))  # a second call on a layer listed after `shared`
    merged = Concatenate(name="cat")([Add(name="sum")([out, h]), Flatten(name="flat")(b)])
    inner = Sequential(
        [Dense(4, input_dim=7, name="inner_dense"), Activation("relu")], name="inner"
    )
    return Model([a, b], [inner(merged), Dropout(0.2, name="drop")(h)], name="functional")


def _data():
    rng = np.random.RandomState(0)
    return [rng.rand(4, 3).astype("float32"), rng.rand(4, 2, 2).astype("float32")]


@pytest.mark.parametrize("route", ["from_config", "json", "yaml", "model_from_config"])
def test_functional_round_trip_keeps_predictions(route):
    model, xs = _functional(), _data()
    clone = {
        "from_config": lambda: Model.from_config(model.get_config()),
        "json": lambda: model_from_json(model.to_json()),
        "yaml": lambda: model_from_yaml(model.to_yaml()),
        "model_from_config": lambda: model_from_config(json.loads(model.to_json())),
    }[route]()
    assert type(clone) is Model and clone.name == "functional"
    assert [la.name for la in clone.layers] == [la.name for la in model.layers]
    clone.set_weights(model.get_weights())
    _same_predictions(model, clone, xs)
    assert clone.get_config() == model.get_config()


@pytest.mark.parametrize("route", ["from_config", "json", "yaml"])
def test_sequential_round_trip_keeps_predictions(route):
    model = Sequential(name="stack")
    model.add(Dense(5, input_shape=(2, 3), activation="relu", kernel_regularizer=regularizers.l2(0.1),
                    kernel_initializer=initializers.RandomUniform(-0.3, 0.3, seed=4)))  # fmt: skip
    model.add(Flatten())
    model.add(Dropout(0.5))
    model.add(Dense(2, activation="softmax", bias_constraint=constraints.MaxNorm(1.5)))
    clone = {
        "from_config": lambda: Sequential.from_config(model.get_config()),
        "json": lambda: model_from_json(model.to_json()),
        "yaml": lambda: model_from_yaml(model.to_yaml()),
    }[route]()
    assert type(clone) is Sequential
    assert clone.get_config() == model.get_config()
    clone.set_weights(model.get_weights())
    _same_predictions(model, clone, [np.random.RandomState(1).rand(3, 2, 3).astype("float32")])


def test_sequential_config_is_keras205_list_and_reads_the_dict_form():
    x = Input(shape=(4,), name="features")
    first = Dense(3)
    first(x)
    model = Sequential([first, Dense(2)])
    config = model.get_config()
    assert [c["class_name"] for c in config] == ["Dense", "Dense"]
    assert config[0]["config"]["batch_input_shape"] == (None, 4)  # given even without input_shape
    assert "batch_input_shape" not in config[1]["config"]
    clone = Sequential.from_config({"name": "named", "layers": config})
    assert clone.name == "named" and clone.input_shape == (None, 4)


def test_node_indices_count_only_the_models_own_calls():
    shared = Dense(2, name="shared")
    a, b = Input(shape=(2,), name="a"), Input(shape=(2,), name="b")
    Model(a, shared(a))
    second = Model(b, shared(b))  # shared's node 1 is this model's node 0
    config = second.get_config()
    assert config["layers"][1]["inbound_nodes"] == [[["b", 0, 0, {}]]]
    assert config["output_layers"] == [["shared", 0, 0]]
    assert config["input_layers"] == [["b", 0, 0]]


def test_call_keyword_arguments_are_kept_and_unserializable_ones_dropped():
    x = Input(shape=(3,))
    y = Dropout(0.5, name="drop")(x, training=False)
    model = Model(x, y)
    assert model.get_config()["layers"][1]["inbound_nodes"] == [
        [[x._keras_history[0].name, 0, 0, {"training": False}]]
    ]
    clone = Model.from_config(model.get_config())
    assert clone.get_layer("drop").inbound_nodes[0].arguments == {"training": False}

    class Scale(Layer):
        def call(self, inputs, factor=None, **kwargs):
            return inputs * 2.0

    z = Scale(name="scale")(x, factor=np.float32(2.0) * np.ones(1))
    with pytest.warns(UserWarning, match="non-serializable keyword arguments"):
        config = Model(x, z).get_config()
    assert config["layers"][1]["inbound_nodes"][0][0][3] == {}


def test_yaml_reads_keras205_tuples_and_refuses_python_objects():
    legacy = """
class_name: Sequential
config:
- class_name: Dense
  config: {name: d, units: 2, batch_input_shape: !!python/tuple [null, 3]}
"""
    model = model_from_yaml(legacy)
    assert model.input_shape == (None, 3) and model.layers[0].name == "d"
    with pytest.raises(yaml.constructor.ConstructorError):
        model_from_yaml("class_name: !!python/object/apply:os.getcwd []\nconfig: []\n")


def test_trainable_flags_survive():
    model = Sequential([Dense(3, input_dim=2, trainable=False), Dense(1)])
    clone = model_from_json(model.to_json())
    assert [la.trainable for la in clone.layers] == [False, True]
    assert len(clone.trainable_weights) == 2


# -- layers.serialize / deserialize and custom objects ----------------------------------------
def test_layer_serialize_deserialize_round_trip():
    layer = Dense(
        4, activation="tanh", use_bias=False, kernel_regularizer=regularizers.l1(0.5), name="d"
    )
    config = serialize(layer)
    assert config["class_name"] == "Dense"
    clone = deserialize(config)
    assert type(clone) is Dense and clone.get_config() == layer.get_config()
    assert (
        type(deserialize({"class_name": "Functional", "config": _functional().get_config()}))
        is Model
    )


class Doubler(Layer):
    def __init__(self, factor=2.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def call(self, inputs, **kwargs):
        return inputs * self.factor

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


def test_custom_layers_load_with_custom_objects_or_a_scope():
    x = Input(shape=(2,))
    model = Model(x, Doubler(3.0, name="dbl")(Dense(2)(x)))
    text = model.to_json()
    with pytest.raises(ValueError, match="Unknown layer: Doubler. Valid choices: .*Dense"):
        model_from_json(text)
    clone = model_from_json(text, custom_objects={"Doubler": Doubler})
    assert clone.get_layer("dbl").factor == 3.0
    with CustomObjectScope({"Doubler": Doubler}):
        clone = model_from_json(text)
    clone.set_weights(model.get_weights())
    _same_predictions(model, clone, [np.ones((2, 2), "float32")])
    # tf-keras / Keras 3 name a registered class 'package>Name'.
    entry = {"class_name": "Twice", "registered_name": "my_pkg>Doubler", "config": {"factor": 2.0}}
    assert type(deserialize(entry, custom_objects={"my_pkg>Doubler": Doubler})) is Doubler


# -- errors -------------------------------------------------------------------------------------
def _doc():
    return json.loads(json.dumps(CASES["keras205_doc_example"]["model"]))


def test_unknown_class_lists_the_valid_layer_names():
    with pytest.raises(
        ValueError, match=r"Unknown layer: Dense2\. Valid choices: .*Activation, .*Dense, .*Flatten"
    ):
        deserialize({"class_name": "Dense2", "config": {}})
    doc = _doc()
    doc["config"]["layers"][1]["class_name"] = "Danse"
    with pytest.raises(ValueError, match="Unknown layer: Danse"):
        model_from_config(doc)


@pytest.mark.parametrize(
    "breakage, message",
    [
        (lambda c: c["config"].pop("layers"), "missing key 'layers'"),
        (lambda c: c["config"].pop("output_layers"), "missing key 'output_layers'"),
        (lambda c: c["config"]["layers"][1].pop("inbound_nodes"), "missing key 'inbound_nodes'"),
        (lambda c: c["config"]["layers"][1].pop("class_name"), "missing key 'class_name'"),
        (lambda c: c.pop("class_name"), "missing key 'class_name'"),
        (lambda c: c["config"]["layers"][1]["inbound_nodes"][0][0].pop(), None),
        (
            lambda c: c["config"]["layers"][1]["inbound_nodes"][0][0].__setitem__(0, "nowhere"),
            "takes an input from layer 'nowhere'",
        ),
        (
            lambda c: c["config"]["layers"][1]["inbound_nodes"][0][0].__setitem__(1, 3),
            "node 3 of layer 'input_1', which the config never creates",
        ),
        (
            lambda c: c["config"]["layers"][1]["inbound_nodes"][0].__setitem__(0, ["input_1", 0]),
            "improperly formatted",
        ),
        (lambda c: c["config"]["output_layers"][0].__setitem__(0, "nowhere"), "'nowhere'"),
    ],
)
def test_malformed_configs_name_the_problem(breakage, message):
    doc = _doc()
    breakage(doc)
    if message is None:  # a 3-element entry (no kwargs) is valid Keras 2.0.5
        model_from_config(doc)
        return
    with pytest.raises(ValueError, match=message):
        model_from_config(doc)


def test_wrong_container_types_are_type_errors():
    with pytest.raises(TypeError, match="Sequential.from_config"):
        model_from_config([{"class_name": "Dense", "config": {"units": 1}}])
    with pytest.raises(TypeError, match="Sequential.from_config"):
        Model.from_config([])
    with pytest.raises(TypeError, match="list of layer configs"):
        Sequential.from_config("dense")


def test_unsupported_or_unknown_layer_keys_name_the_layer():
    with pytest.raises(ValueError, match=r"layer 'x' \(InputLayer\): config key 'ragged' = True"):
        deserialize(
            {
                "class_name": "InputLayer",
                "config": {"name": "x", "batch_shape": [None, 2], "ragged": True},
            }
        )
    with pytest.raises(ValueError, match="layer 'f' .*'data_format' = 'channels_first'"):
        deserialize(
            {"class_name": "Flatten", "config": {"name": "f", "data_format": "channels_first"}}
        )
    with pytest.raises(TypeError, match=r"layer 'd' \(Dense\).*'frobnicate'"):
        deserialize({"class_name": "Dense", "config": {"name": "d", "units": 2, "frobnicate": 1}})


def test_dtype_policies_map_to_dtypes():
    policy = {
        "module": "keras",
        "class_name": "DTypePolicy",
        "config": {"name": "float32"},
        "registered_name": None,
    }
    assert (
        deserialize({"class_name": "Dense", "config": {"units": 2, "dtype": policy}}).dtype
        == "float32"
    )
    mixed = {"class_name": "Policy", "config": {"name": "mixed_float16"}}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        layer = deserialize(
            {"class_name": "Dense", "config": {"name": "m", "units": 2, "dtype": mixed}}
        )
    assert layer.dtype == "float32" and "mixed precision" in str(caught[0].message)
    layer = deserialize(
        {
            "class_name": "InputLayer",
            "config": {"batch_shape": [None, 5], "dtype": policy, "optional": False},
        }
    )
    assert isinstance(layer, InputLayer) and layer.batch_input_shape == (None, 5)


def test_keras3_sub_objects_map():
    module = {"module": "keras.regularizers", "registered_name": None}
    layer = deserialize(
        {
            "class_name": "Dense",
            "config": {
                "units": 2,
                "activation": {"class_name": "function", "config": "relu", **module},
                "kernel_regularizer": {"class_name": "L1", "config": {"l1": 0.5}, **module},
                "bias_regularizer": {"class_name": "L2", "config": {"l2": 0.25}, **module},
                "kernel_initializer": {"class_name": "HeUniform", "config": {"seed": 7}, **module},
                "bias_initializer": {
                    "class_name": "VarianceScaling",
                    "config": {
                        "scale": 2.0,
                        "mode": "fan_out",
                        "distribution": "truncated_normal",
                        "seed": None,
                        "input_axes": None,
                        "output_axes": None,
                    },
                },  # fmt: skip
                "quantization_config": None,
            },
        }
    )
    assert layer.activation.__name__ == "relu"
    assert (layer.kernel_regularizer.l1, layer.kernel_regularizer.l2) == (0.5, 0.0)
    assert (layer.bias_regularizer.l1, layer.bias_regularizer.l2) == (0.0, 0.25)
    assert layer.kernel_initializer.get_config() == {
        "scale": 2.0, "mode": "fan_in", "distribution": "uniform", "seed": 7
    }  # fmt: skip
    assert layer.bias_initializer.get_config()["distribution"] == "normal"


class _Base(Layer):
    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = data_format


class _Child(_Base):
    def __init__(self, size=1, **kwargs):
        super().__init__(**kwargs)
        self.size = size


def test_new_keys_are_dropped_when_neutral_and_passed_on_when_a_constructor_takes_them():
    with CustomObjectScope({"_Child": _Child}):
        neutral = {"size": 2, "groups": 1, "keepdims": False, "implementation": 2, "seed": 3}
        assert deserialize({"class_name": "_Child", "config": neutral}).size == 2
        # a base class's argument reaches it through **kwargs
        child = deserialize({"class_name": "_Child", "config": {"data_format": "channels_first"}})
        assert child.data_format == "channels_first"
        with pytest.raises(ValueError, match="config key 'groups' = 2 is not supported"):
            deserialize({"class_name": "_Child", "config": {"groups": 2}})


def test_lambda_bytecode_loads_only_outside_safe_mode():
    from kgraph.layers import Lambda

    x = Input(shape=(2,))
    model = Model(x, Lambda(lambda t: t * 3.0 + 1.0, name="affine")(Dense(2)(x)))
    text = model.to_json()
    with pytest.raises(ValueError, match="Refusing to load"):
        model_from_json(text)
    with pytest.raises(ValueError, match="Refusing to load"):
        model_from_yaml(model.to_yaml())
    clone = model_from_json(text, safe_mode=False)
    clone.set_weights(model.get_weights())
    _same_predictions(model, clone, [np.ones((2, 2), "float32")])
