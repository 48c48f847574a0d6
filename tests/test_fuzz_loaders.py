"""Fuzzing the loaders: damaged files and hostile configs give kgraph's errors, never a
crash, a hang or a stray exception.

`load_model`, `load_weights` and `model_from_json` may raise only ValueError (kgraph's
`KerasFileError` for damaged files, `ShapeError` for impossible shapes), TypeError or
KeyError. A crash of the HDF5 library itself is caught by reading every file in a child
process first (`kgraph.engine.h5_probe`), whose time limit is shortened here.
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kgraph import backend as K
from kgraph.engine import h5_probe
from kgraph.layers import BatchNormalization, Conv2D, Dense, Embedding, Flatten, Input, concatenate
from kgraph.models import Model, Sequential, load_model, model_from_json

FIXTURES = Path(__file__).parent / "fixtures" / "saving"
ALLOWED = (ValueError, TypeError, KeyError)
FUZZ = settings(max_examples=50, deadline=None, suppress_health_check=list(HealthCheck))


@pytest.fixture(autouse=True)
def _short_probe(monkeypatch):
    monkeypatch.setattr(h5_probe, "BASE_TIMEOUT_S", 2.0)


def _functional():
    image, ids = Input(shape=(6, 6, 1), name="image"), Input(shape=(4,), dtype="int32", name="ids")
    a = Flatten()(Conv2D(2, (3, 3), activation="relu")(image))
    b = Flatten()(Embedding(10, 3, input_length=4)(ids))
    h = BatchNormalization()(Dense(5)(concatenate([a, b])))
    model = Model([image, ids], Dense(2, activation="softmax", name="out")(h))
    model.compile("adam", "categorical_crossentropy", metrics=["acc"])
    model.train_on_batch([np.ones((2, 6, 6, 1), "float32"), np.ones((2, 4), "int32")],
                         np.eye(2, dtype="float32"))  # fmt: skip
    return model


def _small(train=True):
    """A model that lowers quickly (every successful load builds its train program)."""
    x = Input(shape=(3,), name="x")
    model = Model(x, Dense(2, name="out")(BatchNormalization(name="bn")(Dense(4, name="hidden")(x))))
    if train:
        model.compile("adam", "mse", metrics=["mae"])
        model.train_on_batch(np.ones((2, 3), "float32"), np.zeros((2, 2), "float32"))
    return model


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A kgraph-written file with optimizer state, and one written by tf-keras."""
    tmp = tmp_path_factory.mktemp("fuzz")
    K.clear_session()
    _small().save(str(tmp / "kgraph.h5"))
    shutil.copy(FIXTURES / "tfk_functional_sgd.h5", tmp / "tfk.h5")
    return {"kgraph": (tmp / "kgraph.h5").read_bytes(), "tfk": (tmp / "tfk.h5").read_bytes()}


@pytest.fixture
def target():
    """The model `load_weights` loads into (one per test: loading never changes its graph)."""
    return _small(train=False)


def _load_everything(path: Path, model) -> None:
    """Every loader on `path`; only the allowed errors may come out."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for load in (lambda: load_model(str(path)), lambda: model.load_weights(str(path)),
                     lambda: model.load_weights(str(path), by_name=True)):  # fmt: skip
            try:
                load()
            except ALLOWED:
                pass


@FUZZ
@given(which=st.sampled_from(["kgraph", "tfk"]), cut=st.floats(0.0, 1.0, exclude_max=True))
def test_truncated_files(files, target, tmp_path_factory, which, cut):
    data = files[which]
    path = tmp_path_factory.mktemp("t") / "m.h5"
    path.write_bytes(data[: int(len(data) * cut)])
    _load_everything(path, target)


@FUZZ
@given(which=st.sampled_from(["kgraph", "tfk"]),
       flips=st.lists(st.tuples(st.floats(0.0, 1.0, exclude_max=True), st.integers(0, 255)),
                      min_size=1, max_size=12))  # fmt: skip
def test_flipped_bytes(files, target, tmp_path_factory, which, flips):
    data = bytearray(files[which])
    for where, value in flips:
        data[int(where * len(data))] = value
    path = tmp_path_factory.mktemp("f") / "m.h5"
    path.write_bytes(bytes(data))
    _load_everything(path, target)


ATTRIBUTES = [
    ("/", "model_config"), ("/", "training_config"), ("/", "keras_version"), ("/", "backend"),
    ("/model_weights", "layer_names"), ("/model_weights/out", "weight_names"),
    ("/optimizer_weights", "weight_names"),
]  # fmt: skip
HOSTILE_VALUES = st.one_of(
    st.integers(-(2**31), 2**31 - 1),
    st.floats(allow_nan=True),
    # h5py stores bytes with a NUL only as an opaque value: another wrong type to read.
    st.binary(min_size=1, max_size=40).map(lambda b: np.void(b) if b"\x00" in b else b),
    st.text(max_size=40).filter(lambda t: "\x00" not in t),
    st.lists(st.integers(-5, 5), max_size=5).map(lambda v: np.array(v, dtype="int64")),
    st.lists(st.binary(max_size=8), min_size=1, max_size=5).map(lambda v: np.array(v, dtype="S")),
    st.sampled_from(['{"class_name": 5}', "[]", "null", '{"class_name": "Model", "config": []}',
                     '{"class_name": "Sequential", "config": [{"class_name": "Dense"}]}',
                     '{"optimizer_config": {"class_name": "Adam", "config": {"lr": "x"}}}',
                     "[" * 5000, '{"a": ' * 3000]).map(str.encode),
)  # fmt: skip


@FUZZ
@given(where=st.sampled_from(ATTRIBUTES), value=HOSTILE_VALUES)
def test_wrong_attribute_types(files, target, tmp_path_factory, where, value):
    path = tmp_path_factory.mktemp("a") / "m.h5"
    path.write_bytes(files["kgraph"])
    with h5py.File(path, "r+") as f:
        f[where[0]].attrs[where[1]] = value
    _load_everything(path, target)


DATASETS = ["/model_weights/out/out/kernel:0", "/optimizer_weights/iterations:0"]


@FUZZ
@given(where=st.sampled_from(DATASETS),
       replacement=st.sampled_from(["group", "text", "shape", "scalar", "link"]))  # fmt: skip
def test_wrong_weight_datasets(files, target, tmp_path_factory, where, replacement):
    path = tmp_path_factory.mktemp("d") / "m.h5"
    path.write_bytes(files["kgraph"])
    with h5py.File(path, "r+") as f:
        del f[where]
        if replacement == "group":
            f.create_group(where)
        elif replacement == "text":
            f[where] = np.array([b"abc", b"def"])
        elif replacement == "shape":
            f[where] = np.zeros((3, 3, 3), "float32")
        elif replacement == "scalar":
            f[where] = np.float64(1.5)
        else:
            f[where] = h5py.SoftLink("/model_config")
    _load_everything(path, target)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 40) | st.floats(-2, 2) | st.text(max_size=12)
    | st.sampled_from(["Dense", "InputLayer", "Lambda", "relu", "glorot_uniform", "channels_first"]),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=8,
)  # fmt: skip


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, (*prefix, i))


@pytest.fixture(scope="module")
def config():
    K.clear_session()
    return json.loads(_functional().to_json())


@FUZZ
@given(data=st.data())
def test_hostile_json_configs(config, data):
    paths = list(_paths(config))
    mutated = json.loads(json.dumps(config))
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(paths))
        value = data.draw(JSON_VALUES)
        if not path:
            mutated = value
            break
        parent = mutated
        try:
            for key in path[:-1]:
                parent = parent[key]
            parent[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed this path
    try:
        model_from_json(json.dumps(mutated))
    except ALLOWED:
        pass


@FUZZ
@given(text=st.one_of(st.text(max_size=60), st.sampled_from(["[" * 100000, '{"class_name": "Sequential"', "\x00"])))
def test_text_that_is_not_a_config(text):
    try:
        model_from_json(text)
    except ALLOWED:
        pass


def test_a_crash_of_the_hdf5_library_is_reported_not_suffered(tmp_path, monkeypatch):
    import os
    import signal

    from kgraph.engine.saving import KerasFileError

    path = tmp_path / "m.h5"
    path.write_bytes((FIXTURES / "tfk_mlp_adam.h5").read_bytes())
    monkeypatch.setattr(h5_probe, "walk", lambda p: os.kill(os.getpid(), signal.SIGSEGV))
    # A forked child that crashes may have crashed on what it inherited (another library's
    # objects and threads): a fresh interpreter reads the file again and, here, succeeds.
    assert len(load_model(str(path)).layers) == 2
    # Both crash: the file is damaged.
    monkeypatch.setattr(h5_probe, "_SPAWN_CODE", "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)")
    with pytest.raises(KerasFileError, match="crashes the HDF5 library \\(SIGSEGV\\)"):
        load_model(str(path))
    monkeypatch.undo()
    monkeypatch.setattr(h5_probe, "BASE_TIMEOUT_S", 2.0)
    # A forked child that stalls (it can inherit a lock another thread held) is retried in
    # a fresh interpreter, whose verdict counts: here that one reads the file.
    monkeypatch.setattr(h5_probe, "walk", lambda p: __import__("time").sleep(60))
    monkeypatch.setattr(h5_probe, "BASE_TIMEOUT_S", 0.3)
    model = Sequential([Dense(2, input_dim=2)])
    with pytest.raises(ValueError, match="weight file containing 2 layers into a model with 1 layers"):
        model.load_weights(str(path))
    # Both stall: the file counts as one that hangs the library.
    monkeypatch.setattr(h5_probe, "SPAWN_STARTUP_S", 0.5)
    monkeypatch.setattr(h5_probe, "_SPAWN_CODE", "import time; time.sleep(60)")
    with pytest.raises(KerasFileError, match="did not finish within"):
        model.load_weights(str(path))
