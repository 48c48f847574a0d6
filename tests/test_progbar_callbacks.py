"""Progbar output, the core callbacks, print_summary and the numpy utils, against the
Keras 2.0.5 behaviour."""

from __future__ import annotations

import math

import numpy as np
import pytest

from kgraph import callbacks as cbks
from kgraph.utils import (
    Progbar,
    generic_utils,
    normalize,
    print_summary,
    to_categorical,
)


class FakeClock:
    """Stands in for the `time` module: `time()` returns `t`, advancing by `step` per call."""

    def __init__(self, t: float = 0.0, step: float = 0.0) -> None:
        self.t = t
        self.step = step

    def time(self) -> float:
        now = self.t
        self.t += self.step
        return now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    c = FakeClock()
    monkeypatch.setattr(generic_utils, "time", c)
    return c


class TrainingModel:
    stop_training = False


# -- Progbar ---------------------------------------------------------------------------


def test_progbar_verbose1_exact_output(clock, capsys):
    bar = Progbar(40)
    clock.t = 1.0
    bar.update(10, [("loss", 1.0), ("acc", 0.5)])
    clock.t = 2.0
    bar.update(20, [("loss", 0.5), ("acc", 0.75)])
    clock.t = 3.0
    bar.update(40, [("loss", 0.0), ("acc", 1.0)])
    out = capsys.readouterr().out

    first = "10/40 [======>.......................] - ETA: 3s - loss: 1.0000 - acc: 0.5000"
    second = "20/40 [==============>...............] - ETA: 2s - loss: 0.7500 - acc: 0.6250"
    # Running averages weighted by the samples of each step; the final line is shorter
    # than the previous one, so it is padded to erase the leftovers.
    final = "40/40 [==============================] - 3s - loss: 0.3750 - acc: 0.8125" + " " * 5
    expected = (
        "\r" + first + "\b" * len(first) + "\r" + second + "\b" * len(second) + "\r" + final + "\n"
    )
    assert out == expected


def test_progbar_pads_counter_to_target_digits(clock, capsys):
    bar = Progbar(1000, width=10)
    clock.t = 1.0
    bar.update(5)
    out = capsys.readouterr().out
    assert out == "\r   5/1000 [..........] - ETA: 199s"


def test_progbar_throttles_until_forced(clock, capsys):
    bar = Progbar(100)
    clock.t = 1.0
    bar.update(10)
    clock.t = 1.01  # within the 0.05 s interval
    bar.update(20)
    assert capsys.readouterr().out.count("\r") == 1
    bar.update(30, force=True)
    assert capsys.readouterr().out.endswith("30/100 [========>.....................] - ETA: 2s")


def test_progbar_small_values_use_exponent(clock, capsys):
    bar = Progbar(2)
    clock.t = 1.0
    bar.update(2, [("loss", 0.0005), ("neg", -0.0001), ("big", -0.5)])
    out = capsys.readouterr().out
    assert out == (
        "\r2/2 [==============================] - 1s"
        " - loss: 5.0000e-04 - neg: -1.0000e-04 - big: -0.5000\n"
    )


def test_progbar_verbose2_prints_one_line_at_the_end(clock, capsys):
    bar = Progbar(40, verbose=2)
    clock.t = 1.0
    bar.add(20, [("loss", 0.25), ("acc", -0.5)])
    assert capsys.readouterr().out == ""
    clock.t = 2.5
    bar.add(20, [("loss", 0.75), ("acc", -0.5)])
    # verbose 2 tests the signed value, so -0.5 goes to exponent form (a 2.0.5 quirk).
    assert capsys.readouterr().out == "2s - loss: 0.5000 - acc: -5.0000e-01\n"


# -- callbacks through a simulated fit loop -----------------------------------------------

# Three batches (16, 16, 8) whose weighted means are loss 0.2436 and acc 0.9248.
BATCHES = [(16, 0.3, 0.9), (16, 0.2, 0.95), (8, 0.218, 0.924)]


def _simulate_fit(
    callbacks, epochs=1, verbose=1, metrics=("loss", "acc"), val=None, batches=BATCHES
):
    model = TrainingModel()
    clist = cbks.CallbackList(callbacks)
    clist.set_model(model)
    clist.set_params(
        {
            "batch_size": 16,
            "epochs": epochs,
            "samples": 40,
            "verbose": verbose,
            "do_validation": val is not None,
            "metrics": list(metrics) + ([f"val_{m}" for m in metrics] if val else []),
        }
    )
    clist.on_train_begin()
    for epoch in range(epochs):
        clist.on_epoch_begin(epoch)
        for i, (size, loss, acc) in enumerate(batches):
            clist.on_batch_begin(i, {"batch": i, "size": size})
            clist.on_batch_end(i, {"batch": i, "size": size, "loss": loss, "acc": acc})
            if model.stop_training:
                break
        epoch_logs = dict(val or {})
        clist.on_epoch_end(epoch, epoch_logs)
        if model.stop_training:
            break
    clist.on_train_end()
    return model


def test_baselogger_weights_batches_by_size():
    seen = {}
    spy = cbks.LambdaCallback(on_epoch_end=lambda epoch, logs: seen.update(logs))
    _simulate_fit([cbks.BaseLogger(), spy])
    assert seen["loss"] == pytest.approx((16 * 0.3 + 16 * 0.2 + 8 * 0.218) / 40, abs=1e-12)
    assert seen["loss"] == pytest.approx(0.2436, abs=1e-12)
    assert seen["acc"] == pytest.approx(0.9248, abs=1e-12)
    assert "size" not in seen and "batch" not in seen


def test_history_records_epoch_logs():
    history = cbks.History()
    _simulate_fit([cbks.BaseLogger(), history], epochs=3, val={"val_loss": 0.1, "val_acc": 0.97})
    assert history.epoch == [0, 1, 2]
    assert sorted(history.history) == ["acc", "loss", "val_acc", "val_loss"]
    assert history.history["loss"] == pytest.approx([0.2436] * 3)
    assert history.history["val_acc"] == [0.97] * 3
    assert history.params["epochs"] == 3


def test_progbarlogger_verbose1_final_line(clock, capsys):
    clock.step = 0.1  # every update is past the throttle interval
    _simulate_fit([cbks.BaseLogger(), cbks.History(), cbks.ProgbarLogger()])
    out = capsys.readouterr().out
    assert out.startswith("Epoch 1/1\n")
    final = out.rsplit("\r", 1)[1]
    assert final == (
        "40/40 [==============================] - 0s - loss: 0.2436 - acc: 0.9248" + " " * 5 + "\n"
    )
    # Batches before the last are drawn with the running average and an ETA.
    assert "\r16/40 [===========>..................] - ETA: 0s - loss: 0.3000 - acc: 0.9000" in out
    assert "\r32/40 [=======================>......] - ETA: 0s - loss: 0.2500 - acc: 0.9250" in out


def test_progbarlogger_verbose1_with_validation(clock, capsys):
    clock.step = 0.1
    val = {"val_loss": 0.1013, "val_acc": 0.9689}
    _simulate_fit([cbks.BaseLogger(), cbks.ProgbarLogger()], val=val)
    final = capsys.readouterr().out.rsplit("\r", 1)[1]
    assert final.rstrip(" \n") == (
        "40/40 [==============================] - 0s"
        " - loss: 0.2436 - acc: 0.9248 - val_loss: 0.1013 - val_acc: 0.9689"
    )


def test_progbarlogger_verbose2(clock, capsys):
    clock.step = 0.1
    _simulate_fit([cbks.BaseLogger(), cbks.ProgbarLogger()], epochs=2, verbose=2)
    assert capsys.readouterr().out == (
        "Epoch 1/2\n0s - loss: 0.2436 - acc: 0.9248\nEpoch 2/2\n0s - loss: 0.2436 - acc: 0.9248\n"
    )


def test_progbarlogger_steps_mode(clock, capsys):
    logger = cbks.ProgbarLogger(count_mode="steps")
    logger.set_params({"epochs": 1, "steps": 3, "verbose": 1, "metrics": ["loss"]})
    logger.on_train_begin()
    logger.on_epoch_begin(0)
    for i in range(3):
        logger.on_batch_begin(i)
        logger.on_batch_end(i, {"batch": i, "size": 50, "loss": 1.0})
    logger.on_epoch_end(0, {"loss": 1.0})
    final = capsys.readouterr().out.rsplit("\r", 1)[1]
    assert final.startswith("3/3 [==============================] - 0s - loss: 1.0000")


def test_progbarlogger_rejects_unknown_count_mode():
    with pytest.raises(ValueError, match="count_mode.*'samples', 'steps'"):
        cbks.ProgbarLogger(count_mode="epochs")


def test_terminate_on_nan_stops_training(capsys):
    calls = []
    spy = cbks.LambdaCallback(on_batch_end=lambda batch, logs: calls.append(batch))
    clist = cbks.CallbackList([cbks.TerminateOnNaN(), spy])
    model = TrainingModel()
    clist.set_model(model)
    clist.on_batch_end(0, {"loss": 0.5})
    assert not model.stop_training
    clist.on_batch_end(1, {"loss": float("nan")})
    assert model.stop_training
    assert capsys.readouterr().out == "Batch 1: Invalid loss, terminating training\n"
    model.stop_training = False
    clist.on_batch_end(2, {"loss": math.inf})
    assert model.stop_training
    assert calls == [0, 1, 2]


def test_terminate_on_nan_in_fit_loop_breaks_epoch(capsys):
    batches = [(16, 0.3, 0.9), (16, float("nan"), 0.9), (8, 0.2, 0.9)]
    history = cbks.History()
    callbacks = [cbks.BaseLogger(), cbks.TerminateOnNaN(), history]
    model = _simulate_fit(callbacks, epochs=5, batches=batches)
    assert model.stop_training
    assert history.epoch == [0]
    assert math.isnan(history.history["loss"][0])  # the average over the batches run


def test_callbacklist_calls_hooks_in_order():
    events = []

    class Recorder(cbks.Callback):
        def __init__(self, tag):
            super().__init__()
            self.tag = tag

        def on_train_begin(self, logs=None):
            events.append((self.tag, "train_begin"))

        def on_epoch_begin(self, epoch, logs=None):
            events.append((self.tag, "epoch_begin", epoch))

        def on_batch_begin(self, batch, logs=None):
            events.append((self.tag, "batch_begin", batch))

        def on_batch_end(self, batch, logs=None):
            events.append((self.tag, "batch_end", batch))

        def on_epoch_end(self, epoch, logs=None):
            logs[self.tag] = True  # later callbacks see what earlier ones wrote
            events.append((self.tag, "epoch_end", epoch, sorted(logs)))

        def on_train_end(self, logs=None):
            events.append((self.tag, "train_end"))

    a, b = Recorder("a"), Recorder("b")
    clist = cbks.CallbackList([a])
    clist.append(b)
    assert list(clist) == [a, b]
    clist.on_train_begin()
    clist.on_epoch_begin(3)
    clist.on_batch_begin(0)
    clist.on_batch_end(0)
    clist.on_epoch_end(3)
    clist.on_train_end()
    assert events == [
        ("a", "train_begin"),
        ("b", "train_begin"),
        ("a", "epoch_begin", 3),
        ("b", "epoch_begin", 3),
        ("a", "batch_begin", 0),
        ("b", "batch_begin", 0),
        ("a", "batch_end", 0),
        ("b", "batch_end", 0),
        ("a", "epoch_end", 3, ["a"]),
        ("b", "epoch_end", 3, ["a", "b"]),
        ("a", "train_end"),
        ("b", "train_end"),
    ]


def test_callbacklist_sets_params_and_model():
    cb = cbks.Callback()
    assert cb.validation_data is None
    model = TrainingModel()
    clist = cbks.CallbackList([cb])
    clist.set_params({"epochs": 2})
    clist.set_model(model)
    assert cb.params == {"epochs": 2} and cb.model is model


def test_callbacklist_warns_on_slow_batch_hook(monkeypatch):
    clock = FakeClock(t=100.0)
    monkeypatch.setattr(cbks, "time", clock)

    class Slow(cbks.Callback):
        def on_batch_end(self, batch, logs=None):
            clock.t += 0.5

    clist = cbks.CallbackList([Slow()])
    clist.on_epoch_begin(0)
    clist.on_batch_begin(0)
    clock.t += 0.2  # the batch itself
    with pytest.warns(UserWarning, match=r"on_batch_end\(\) is slow .*\(0\.500000\)"):
        clist.on_batch_end(0)


def test_callbacklist_quiet_when_hooks_are_fast(monkeypatch, recwarn):
    clock = FakeClock(t=100.0)
    monkeypatch.setattr(cbks, "time", clock)
    clist = cbks.CallbackList([cbks.BaseLogger()])
    clist.on_epoch_begin(0)
    for i in range(5):
        clist.on_batch_begin(i)
        clock.t += 0.2
        clist.on_batch_end(i, {"size": 1})
    assert not [w for w in recwarn if "slow" in str(w.message)]


def test_lambda_callback_fills_missing_hooks():
    got = []
    cb = cbks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: got.append(("epoch", epoch, logs["loss"])),
        on_train_end=lambda logs: got.append(("end",)),
        note="extra",
    )
    cb.on_epoch_begin(0, {})
    cb.on_batch_begin(0, {})
    cb.on_batch_end(0, {})
    cb.on_train_begin({})
    cb.on_epoch_end(1, {"loss": 0.5})
    cb.on_train_end({})
    assert got == [("epoch", 1, 0.5), ("end",)]
    assert cb.note == "extra"


# -- print_summary -----------------------------------------------------------------------


class Weight:
    def __init__(self, *shape):
        self.shape = shape


class Node:
    def __init__(self, inbound_layers, node_indices=None, tensor_indices=None):
        self.inbound_layers = inbound_layers
        self.node_indices = node_indices or [0] * len(inbound_layers)
        self.tensor_indices = tensor_indices or [0] * len(inbound_layers)


class FakeLayer:
    def __init__(self, name, output_shape, params, inbound=()):
        self.name = name
        self._shape = output_shape
        self._params = params
        self.inbound_nodes = [Node(list(inbound))] if inbound is not None else []

    @property
    def output_shape(self):
        if self._shape is None:
            raise AttributeError("The layer has multiple inbound nodes")
        return self._shape

    def count_params(self):
        return self._params


class Dense(FakeLayer):
    pass


class InputLayer(FakeLayer):
    pass


class Add(FakeLayer):
    pass


class Network:
    def __init__(self, layers, trainable, non_trainable=(), nodes_by_depth=None):
        self.layers = layers
        self.trainable_weights = trainable
        self.non_trainable_weights = list(non_trainable)
        if nodes_by_depth is not None:
            self.nodes_by_depth = nodes_by_depth


class Sequential(Network):
    pass


class Model(Network):
    pass


def _lines(model, **kwargs):
    lines = []
    print_summary(model, print_fn=lines.append, **kwargs)
    return lines


def test_print_summary_sequential_layout():
    d1 = Dense("dense_1", (None, 512), 401920)
    d2 = Dense("dense_2", (None, 10), 5130, inbound=[d1])
    k1, b1, k2, b2 = Weight(784, 512), Weight(512), Weight(512, 10), Weight(10)
    # A weight listed twice (shared) is counted once.
    model = Sequential([d1, d2], [k1, b1, k2, b2, k1])
    assert _lines(model) == [
        "_________________________________________________________________",
        "Layer (type)                 Output Shape              Param #   ",
        "=================================================================",
        "dense_1 (Dense)              (None, 512)               401920    ",
        "_________________________________________________________________",
        "dense_2 (Dense)              (None, 10)                5130      ",
        "=================================================================",
        "Total params: 407,050",
        "Trainable params: 407,050",
        "Non-trainable params: 0",
        "_________________________________________________________________",
    ]


def test_print_summary_truncates_fields_and_shows_multiple():
    long = Dense("a_very_long_layer_name_indeed_1", None, 1234567)
    model = Sequential([long], [Weight(1000, 1000)], [Weight(3)])
    lines = _lines(model)
    assert lines[3] == "a_very_long_layer_name_indee multiple                  1234567   "
    assert lines[5:8] == [
        "Total params: 1,000,003",
        "Trainable params: 1,000,000",
        "Non-trainable params: 3",
    ]


def test_print_summary_functional_layout_with_connections():
    inp = InputLayer("input_1", (None, 4), 0, inbound=[])
    d1 = Dense("dense_1", (None, 8), 40, inbound=[inp])
    d2 = Dense("dense_2", (None, 8), 40, inbound=[inp])
    add = Add("add_1", (None, 8), 0)
    add.inbound_nodes = [Node([d1, d2], tensor_indices=[0, 0])]

    # Two nodes at depth 1: not a chain.
    by_depth = {
        0: add.inbound_nodes,
        1: [d1.inbound_nodes[0], d2.inbound_nodes[0]],
        2: inp.inbound_nodes,
    }
    weights = [Weight(4, 8), Weight(8), Weight(4, 8), Weight(8)]
    model = Model([inp, d1, d2, add], weights, nodes_by_depth=by_depth)

    lines = _lines(model)
    row = "{:<33}{:<22}{:<12}{:<33}".format
    assert lines[0] == "_" * 100
    assert lines[1] == row("Layer (type)", "Output Shape", "Param #", "Connected to")
    assert lines[2] == "=" * 100
    assert lines[3] == row("input_1 (InputLayer)", "(None, 4)", "0", "")
    assert lines[4] == "_" * 100
    assert lines[5] == row("dense_1 (Dense)", "(None, 8)", "40", "input_1[0][0]")
    assert lines[7] == row("dense_2 (Dense)", "(None, 8)", "40", "input_1[0][0]")
    assert lines[9] == row("add_1 (Add)", "(None, 8)", "0", "dense_1[0][0]")
    assert lines[10] == row("", "", "", "dense_2[0][0]")
    assert lines[11] == "=" * 100
    assert lines[12:] == [
        "Total params: 80",
        "Trainable params: 80",
        "Non-trainable params: 0",
        "_" * 100,
    ]


def test_print_summary_functional_chain_uses_short_layout():
    inp = InputLayer("input_1", (None, 4), 0, inbound=[])
    d1 = Dense("dense_1", (None, 2), 10, inbound=[inp])

    model = Model([inp, d1], [Weight(4, 2), Weight(2)])

    lines = _lines(model)
    assert len(lines[0]) == 65
    assert lines[3] == "input_1 (InputLayer)         (None, 4)                 0         "


# -- numpy utils -------------------------------------------------------------------------


def test_to_categorical():
    y = to_categorical(np.array([[0], [2], [1]]))
    assert y.dtype == np.float64
    np.testing.assert_array_equal(y, [[1, 0, 0], [0, 0, 1], [0, 1, 0]])
    assert to_categorical([1, 0], num_classes=4).shape == (2, 4)


def test_normalize_leaves_zero_rows():
    x = np.array([[3.0, 4.0], [0.0, 0.0]])
    np.testing.assert_allclose(normalize(x), [[0.6, 0.8], [0.0, 0.0]])
    np.testing.assert_allclose(normalize(x, axis=0, order=1), [[1.0, 1.0], [0.0, 0.0]])


def test_func_dump_round_trip():
    offset = 3

    def shift(x, scale=2):
        return x * scale + offset

    code, defaults, closure = generic_utils.func_dump(shift)
    assert defaults == (2,) and closure == (3,)
    again = generic_utils.func_load(code, list(defaults), closure)
    assert again(5) == 13 and again(5, scale=1) == 8
    assert generic_utils.func_load(generic_utils.func_dump(shift))(1) == 5


def test_has_arg():
    def f(a, *, b=1, **kwargs):
        return a

    assert generic_utils.has_arg(f, "a") and generic_utils.has_arg(f, "b")
    assert not generic_utils.has_arg(f, "c")
    assert generic_utils.has_arg(f, "c", accept_all=True)
