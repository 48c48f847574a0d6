"""A two-input / two-output model with a shared layer and a concatenate, against tf-keras;
and the Keras guide's functional-API examples in list and dict forms."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from kgraph import optimizers
from kgraph.engine.training import Model
from kgraph.layers import Dense, Input, concatenate

FIX = Path(__file__).parent / "fixtures"
META = json.loads((FIX / "functional_two_io.json").read_text())
RTOL, ATOL = 1e-5, 1e-6


def build(loss_form: str = "dict"):
    main_in = Input(shape=(4,), name="main_input")
    aux_in = Input(shape=(4,), name="aux_input")
    shared = Dense(5, activation="tanh", name="shared")
    a, b = shared(main_in), shared(aux_in)
    merged = concatenate([a, b], name="merge")
    hidden = Dense(6, activation="relu", name="hidden")(merged)
    main_out = Dense(1, activation="sigmoid", name="main_output")(hidden)
    aux_out = Dense(3, activation="softmax", name="aux_output")(b)
    model = Model(inputs=[main_in, aux_in], outputs=[main_out, aux_out])
    if loss_form == "dict":
        loss = {"main_output": "binary_crossentropy", "aux_output": "categorical_crossentropy"}
        weights = {"main_output": 1.0, "aux_output": 0.2}
    else:
        loss = ["binary_crossentropy", "categorical_crossentropy"]
        weights = [1.0, 0.2]
    model.compile(optimizers.SGD(lr=0.1), loss=loss, loss_weights=weights, metrics=["accuracy"])
    return model


@pytest.fixture()
def data():
    return np.load(FIX / "functional_two_io.npz")


def _set_init(model, data):
    for layer in model.layers:
        n = len(layer.weights)
        if n:
            layer.set_weights([data[f"init/{layer.name}/{i}"] for i in range(n)])


@pytest.mark.parametrize("form", ["dict", "list"])
def test_predict_and_one_step_match_keras(data, form):
    model = build(form)
    assert [la.name for la in model.layers] == META["layers"]
    assert model.metrics_names == META["metrics_names"]
    _set_init(model, data)
    pm, pa = model.predict([data["xm"], data["xa"]])
    np.testing.assert_allclose(pm, data["predict_main"], rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(pa, data["predict_aux"], rtol=RTOL, atol=ATOL)
    if form == "dict":
        x = {"main_input": data["xm"][:8], "aux_input": data["xa"][:8]}
        y = {"main_output": data["ym"][:8], "aux_output": data["ya"][:8]}
    else:
        x, y = [data["xm"][:8], data["xa"][:8]], [data["ym"][:8], data["ya"][:8]]
    out = model.train_on_batch(x, y)
    np.testing.assert_allclose(out, data["step"], rtol=RTOL, atol=ATOL)
    for layer in model.layers:
        for i, w in enumerate(layer.get_weights()):
            np.testing.assert_allclose(w, data[f"after/{layer.name}/{i}"], rtol=RTOL, atol=ATOL)


def test_fit_history_keys_and_values_match_keras(data):
    model = build()
    _set_init(model, data)
    history = model.fit([data["xm"], data["xa"]], [data["ym"], data["ya"]], batch_size=8,
                        epochs=2, shuffle=False, validation_split=0.25, verbose=0)  # fmt: skip
    assert sorted(history.history) == META["history_keys"]
    for key in META["history_keys"]:
        np.testing.assert_allclose(history.history[key], data[f"history/{key}"], rtol=RTOL, atol=ATOL, err_msg=key)


def test_guide_shared_layer_outputs_per_node(data):
    model = build()
    shared = model.get_layer("shared")
    assert shared.get_output_at(0) is not shared.get_output_at(1)
    assert shared.get_input_at(0) is model.inputs[0] and shared.get_input_at(1) is model.inputs[1]
    assert shared.get_output_shape_at(1) == (None, 5)


def test_bad_dict_keys_and_array_counts_name_the_culprit(data):
    model = build()
    with pytest.raises(ValueError, match="aux_input"):
        model.fit({"main_input": data["xm"]}, [data["ym"], data["ya"]], verbose=0)
    with pytest.raises(ValueError, match="unexpected keys.*extra"):
        model.predict({"main_input": data["xm"], "aux_input": data["xa"], "extra": data["xa"]})
    with pytest.raises(ValueError, match="Expected to see 2 array"):
        model.predict([data["xm"]])
    with pytest.raises(ValueError, match="Unknown entry in loss dictionary: 'nope'"):
        model.compile("sgd", loss={"nope": "mse"})


def test_graph_disconnected_names_the_missing_input():
    a, b = Input(shape=(2,), name="first"), Input(shape=(2,), name="second")
    y = Dense(1)(concatenate([a, b]))
    with pytest.raises(ValueError, match=r'Graph disconnected.*"second"'):
        Model(inputs=a, outputs=y)
