"""EarlyStopping, ReduceLROnPlateau, CSVLogger, LearningRateScheduler, RemoteMonitor,
TensorBoard, ModelCheckpoint and stop_training, with Keras 2.0.5 semantics."""

from __future__ import annotations

import csv
import http.server
import json
import os
import socket
import struct
import threading
import urllib.parse
import warnings
from collections import deque

import numpy as np
import pytest

from kgraph import backend as K
from kgraph import callbacks as cbks
from kgraph.callbacks._event_file import crc32c, histogram, read_events
from kgraph.layers import Dense
from kgraph.models import Sequential


class StubModel:
    """What the monitors read: `stop_training` and `optimizer.lr`."""

    def __init__(self, lr: float = 1.0) -> None:
        self.stop_training = False
        self.optimizer = type("Opt", (), {})()
        self.optimizer.lr = K.variable(lr)


def _drive(callbacks, values, model=None, key="val_loss"):
    """Runs epochs whose logs are `{key: value}` until `stop_training`; returns the logs."""
    model = model or StubModel()
    clist = cbks.CallbackList(callbacks)
    clist.set_model(model)
    clist.on_train_begin()
    seen = []
    for epoch, value in enumerate(values):
        clist.on_epoch_begin(epoch)
        logs = {key: value}
        clist.on_epoch_end(epoch, logs)
        seen.append(logs)
        if model.stop_training:
            break
    clist.on_train_end()
    return seen


def _data(n=32, seed=0):
    rng = np.random.RandomState(seed)
    return rng.rand(n, 3).astype("float32"), rng.rand(n, 2).astype("float32")


def _model(optimizer="sgd") -> Sequential:
    np.random.seed(2)
    model = Sequential([Dense(2, input_dim=3)])
    model.compile(optimizer, "mse", metrics=["mae"])
    return model


# -- EarlyStopping -----------------------------------------------------------------------------


def test_early_stopping_stops_on_the_patience_plus_first_bad_epoch(capsys):
    es = cbks.EarlyStopping(patience=2, verbose=1)
    seen = _drive([es], [1.0, 0.9, 0.95, 0.92, 0.91, 0.5])
    assert len(seen) == 5 and es.stopped_epoch == 4
    assert capsys.readouterr().out == "Epoch 00004: early stopping\n"


def test_early_stopping_min_delta_and_modes():
    assert len(_drive([cbks.EarlyStopping(min_delta=0.1)], [1.0, 0.95, 0.5])) == 2
    assert len(_drive([cbks.EarlyStopping(min_delta=0.01)], [1.0, 0.95, 0.5])) == 3
    acc = cbks.EarlyStopping(monitor="val_acc")  # 'auto' maximizes names with 'acc'
    assert len(_drive([acc], [0.5, 0.6, 0.6, 0.7], key="val_acc")) == 3
    maxed = cbks.EarlyStopping(monitor="loss", mode="max")
    assert len(_drive([maxed], [1.0, 2.0, 1.5], key="loss")) == 3
    with pytest.warns(
        RuntimeWarning, match="EarlyStopping mode sideways is unknown, fallback to auto mode"
    ):
        auto = cbks.EarlyStopping(mode="sideways")
    assert len(_drive([auto], [1.0, 0.9, 0.95])) == 3


def test_early_stopping_resets_on_train_begin_and_warns_without_monitor():
    es = cbks.EarlyStopping(patience=0, verbose=1)
    assert len(_drive([es], [1.0, 2.0])) == 2
    assert len(_drive([es], [3.0, 2.0, 1.0])) == 3  # best and wait start over
    with pytest.warns(
        RuntimeWarning, match=r"Early stopping requires val_loss available! Available: \['loss'\]"
    ):
        assert len(_drive([es], [1.0, 2.0], key="loss")) == 2


def test_early_stopping_in_fit(capsys):
    x, y = _data()
    model = _model()
    K.set_value(
        model.optimizer.lr, 0.0
    )  # a flat loss (same batches each epoch): only epoch 0 improves
    hist = model.fit(x, y, epochs=10, shuffle=False, verbose=0,
                     callbacks=[cbks.EarlyStopping("loss", patience=1, verbose=1)])  # fmt: skip
    assert hist.epoch == [0, 1, 2]
    assert capsys.readouterr().out == "Epoch 00002: early stopping\n"


# -- ReduceLROnPlateau -------------------------------------------------------------------------


def test_reduce_lr_first_cut_after_patience_plus_one_then_every_patience(capsys):
    model = StubModel(lr=1.0)
    rl = cbks.ReduceLROnPlateau(factor=0.5, patience=2, verbose=1)
    seen = _drive([rl], [1.0] * 7, model)
    # logs['lr'] is the rate the epoch trained with, before that epoch's cut.
    assert [float(s["lr"]) for s in seen] == [1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.25]
    assert all(isinstance(s["lr"], np.float32) for s in seen)
    assert float(K.get_value(model.optimizer.lr)) == 0.25
    out = capsys.readouterr().out
    assert (
        out
        == "\nEpoch 00003: reducing learning rate to 0.5.\n\nEpoch 00005: reducing learning rate to 0.25.\n"
    )


def test_reduce_lr_cooldown_min_lr_epsilon_and_mode():
    model = StubModel(lr=1.0)
    seen = _drive([cbks.ReduceLROnPlateau(factor=0.5, patience=0, cooldown=2)], [1.0] * 7, model)
    assert [float(s["lr"]) for s in seen] == [1.0, 1.0, 0.5, 0.5, 0.25, 0.25, 0.125]
    model = StubModel(lr=1.0)
    seen = _drive([cbks.ReduceLROnPlateau(factor=0.1, patience=0, min_lr=0.05)], [1.0] * 5, model)
    assert [float(s["lr"]) for s in seen] == [
        1.0,
        1.0,
        np.float32(0.1),
        np.float32(0.05),
        np.float32(0.05),
    ]
    model = StubModel(lr=1.0)  # improvements smaller than epsilon do not count
    _drive(
        [cbks.ReduceLROnPlateau(factor=0.5, patience=1, epsilon=0.01)],
        [1.0, 0.995, 0.991, 0.5],
        model,
    )
    assert float(K.get_value(model.optimizer.lr)) == 0.5
    model = StubModel(lr=1.0)  # 'val_acc' is maximized
    _drive(
        [cbks.ReduceLROnPlateau(monitor="val_acc", factor=0.5, patience=0)],
        [0.5, 0.6, 0.7],
        model,
        key="val_acc",
    )
    assert float(K.get_value(model.optimizer.lr)) == 1.0
    with pytest.raises(ValueError, match=r"does not support a factor >= 1.0 \(got 1.5\)"):
        cbks.ReduceLROnPlateau(factor=1.5)


def test_reduce_lr_in_fit_changes_the_next_steps_without_recompiling():
    x, y = _data()
    model = _model(optimizer="sgd")
    K.set_value(model.optimizer.lr, 0.1)
    w0 = [w.astype(np.float64) for w in model.get_weights()]
    program = model._make_train_function()
    plateau = cbks.LambdaCallback(on_epoch_end=lambda epoch, logs: logs.update(plateau=1.0))
    reduce = cbks.ReduceLROnPlateau(monitor="plateau", factor=0.1, patience=0)
    hist = model.fit(x, y, batch_size=len(x), epochs=4, verbose=0, callbacks=[plateau, reduce])
    lrs = [float(v) for v in hist.history["lr"]]
    np.testing.assert_allclose(lrs, [0.1, 0.1, 0.01, 0.001], rtol=1e-6)
    assert model._make_train_function() is program
    # Full-batch gradient descent with the logged rate of each epoch.
    kernel, bias = w0
    xd, yd = x.astype(np.float64), y.astype(np.float64)
    for lr in lrs:
        g = 2.0 * (xd @ kernel + bias - yd) / yd.size
        kernel, bias = kernel - lr * (xd.T @ g), bias - lr * g.sum(axis=0)
    np.testing.assert_allclose(model.get_weights()[0], kernel, rtol=1e-5)
    np.testing.assert_allclose(model.get_weights()[1], bias, rtol=1e-5)


# -- LearningRateScheduler ---------------------------------------------------------------------


def test_learning_rate_scheduler_sets_lr_each_epoch():
    x, y = _data()
    model = _model()
    seen = []
    spy = cbks.LambdaCallback(
        on_epoch_begin=lambda e, logs: seen.append(float(K.get_value(model.optimizer.lr)))
    )
    sched = cbks.LearningRateScheduler(lambda epoch: 0.1 / (epoch + 1))
    model.fit(x, y, epochs=3, verbose=0, callbacks=[sched, spy])
    np.testing.assert_allclose(seen, [0.1, 0.05, 0.1 / 3], rtol=1e-7)
    model.fit(x, y, epochs=2, initial_epoch=1, verbose=0,
              callbacks=[cbks.LearningRateScheduler(lambda e: np.float32(0.5) * e)])  # fmt: skip
    assert float(K.get_value(model.optimizer.lr)) == 0.5


def test_learning_rate_scheduler_rejects_non_floats():
    x, y = _data()
    model = _model()
    with pytest.raises(
        ValueError, match=r'"schedule" function should be float; got 1 \(int\) for epoch 0'
    ):
        model.fit(x, y, verbose=0, callbacks=[cbks.LearningRateScheduler(lambda e: 1)])
    no_lr = StubModel()
    del no_lr.optimizer.lr
    with pytest.raises(
        ValueError, match=r'LearningRateScheduler: the optimizer must have a "lr" attribute'
    ):
        _drive([cbks.LearningRateScheduler(lambda e: 0.1)], [1.0], no_lr)


# -- CSVLogger -------------------------------------------------------------------------------


def test_csv_logger_writes_header_rows_and_crlf(tmp_path):
    x, y = _data()
    path = str(tmp_path / "log.csv")
    model = _model()
    hist = model.fit(
        x, y, epochs=2, verbose=0, validation_data=(x, y), callbacks=[cbks.CSVLogger(path)]
    )
    raw = open(path, "rb").read()
    lines = raw.split(b"\r\n")
    assert lines[0] == b"epoch,loss,mean_absolute_error,val_loss,val_mean_absolute_error"
    assert lines[-1] == b"" and len(lines) == 4 and b"\n" not in raw.replace(b"\r\n", b"")
    rows = list(csv.DictReader(open(path, newline="")))
    assert [r["epoch"] for r in rows] == ["0", "1"]
    for key, values in hist.history.items():
        assert [float(r[key]) for r in rows] == values


def test_csv_logger_separator_and_append(tmp_path):
    x, y = _data()
    path = str(tmp_path / "log.csv")
    model = _model()
    model.fit(
        x, y, epochs=2, verbose=0, callbacks=[cbks.CSVLogger(path, separator=";", append=True)]
    )
    model.fit(
        x, y, epochs=1, verbose=0, callbacks=[cbks.CSVLogger(path, separator=";", append=True)]
    )
    lines = open(path, "rb").read().split(b"\r\n")
    assert lines[0] == b"epoch;loss;mean_absolute_error"
    assert [ln.split(b";")[0] for ln in lines[1:-1]] == [b"0", b"1", b"0"]  # no second header
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    model.fit(x, y, epochs=1, verbose=0, callbacks=[cbks.CSVLogger(str(empty), append=True)])
    assert empty.read_bytes().startswith(b"epoch,loss,")
    model.fit(x, y, epochs=1, verbose=0, callbacks=[cbks.CSVLogger(path)])  # overwrite
    assert open(path, "rb").read().count(b"\r\n") == 2


def test_csv_logger_formats_iterables_and_fills_missing_keys(tmp_path):
    path = str(tmp_path / "log.csv")
    logger = cbks.CSVLogger(path)
    clist = cbks.CallbackList([logger])
    clist.set_model(StubModel())
    clist.on_train_begin()
    clist.on_epoch_end(
        0, {"loss": np.float32(0.5), "vec": np.array([1, 2]), "zero_d": np.array(3.0)}
    )
    clist.on_epoch_end(1, {"loss": 0.25})
    clist.on_train_end()
    assert open(path, "rb").read() == (
        b'epoch,loss,vec,zero_d\r\n0,0.5,"""[1, 2]""",3.0\r\n1,0.25,NA,NA\r\n'
    )
    assert next(iter(list(csv.reader(open(path, newline="")))[1:]))[2] == '"[1, 2]"'


# -- RemoteMonitor ---------------------------------------------------------------------------


class _Recorder(http.server.BaseHTTPRequestHandler):
    received: list[dict] = []
    status = 200

    def do_POST(self):  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        type(self).received.append({"path": self.path, "headers": dict(self.headers), "body": body})
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *args):
        pass


def _serve(requests: int, status: int = 200):
    """A server on 127.0.0.1 that answers exactly `requests` POSTs, then stops."""
    handler = type("Handler", (_Recorder,), {"received": [], "status": status})
    server = http.server.HTTPServer(("127.0.0.1", 0), handler)
    server.timeout = 10

    def run():
        for _ in range(requests):
            server.handle_request()
        server.server_close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return f"http://127.0.0.1:{server.server_address[1]}", handler, thread


def test_remote_monitor_posts_epoch_logs():
    root, handler, thread = _serve(2)
    x, y = _data()
    model = _model()
    reduce = cbks.ReduceLROnPlateau(monitor="loss")  # adds a numpy float32 'lr' to the logs
    hist = model.fit(x, y, epochs=2, verbose=0, callbacks=[reduce, cbks.RemoteMonitor(root=root)])
    thread.join(10)
    assert [r["path"] for r in handler.received] == ["/publish/epoch/end/"] * 2
    assert handler.received[0]["headers"]["Content-Type"] == "application/json"
    assert handler.received[0]["headers"]["Accept"] == "application/json"
    sent = [json.loads(urllib.parse.parse_qs(r["body"])["data"][0]) for r in handler.received]
    assert [s["epoch"] for s in sent] == [0, 1]
    assert [s["loss"] for s in sent] == hist.history["loss"]
    assert sent[0]["lr"] == pytest.approx(0.01)


def test_remote_monitor_custom_field_and_path():
    root, handler, thread = _serve(1)
    monitor = cbks.RemoteMonitor(root=root, path="/events", field="payload", headers={"X-Run": "7"})
    _drive([monitor], [0.5], key="loss")
    thread.join(10)
    (request,) = handler.received
    assert request["path"] == "/events" and request["headers"]["X-Run"] == "7"
    assert json.loads(urllib.parse.parse_qs(request["body"])["payload"][0]) == {
        "epoch": 0,
        "loss": 0.5,
    }


def test_remote_monitor_warns_when_unreachable_or_refused():
    with socket.socket() as s:  # a port with nothing listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.warns(
        UserWarning, match=rf"could not reach RemoteMonitor root server at http://127.0.0.1:{port}"
    ):
        _drive([cbks.RemoteMonitor(root=f"http://127.0.0.1:{port}", timeout=2)], [0.5])
    root, handler, thread = _serve(1, status=500)
    with pytest.warns(UserWarning, match=r"RemoteMonitor server at .* answered HTTP 500"):
        _drive([cbks.RemoteMonitor(root=root)], [0.5])
    thread.join(10)


# -- TensorBoard -------------------------------------------------------------------------------


def test_crc32c_known_values():
    assert crc32c(b"") == 0
    assert crc32c(b"123456789") == 0xE3069283
    assert crc32c(bytes(32)) == 0x8A9136AA  # RFC 3720, B.4
    assert crc32c(b"\xff" * 32) == 0x62A8AB43


def test_histogram_matches_tensorflow():
    # Recorded from TensorFlow 2.21's tf.compat.v1.summary.histogram on the same values.
    h = histogram(np.array([-1.0, 0.0, 0.0, 0.5, 3.0, 1e-13, -2.5e-12]))
    assert (h.min, h.max, h.num, h.sum, h.sum_squares) == (-1.0, 3.0, 7.0, 2.4999999999976, 10.25)
    assert h.bucket_limit == (
        -1.0089710279437536, -0.917246389039776, -2.593742460100002e-12, -2.357947691000002e-12,
        0.0, 1e-12, 0.47069243095356195, 0.5177616740489182, 2.8787120958073054,
        3.1665833053880363, 1.7976931348623157e308,
    )  # fmt: skip
    assert h.bucket == (0.0, 1.0, 0.0, 1.0, 0.0, 3.0, 0.0, 1.0, 0.0, 1.0, 0.0)


def test_tensorboard_writes_scalars_and_histograms(tmp_path):
    x, y = _data()
    np.random.seed(4)
    model = Sequential([Dense(4, input_dim=3, activation="relu"), Dense(2)])
    model.compile("sgd", "mse")
    log_dir = str(tmp_path / "logs")
    tb = cbks.TensorBoard(log_dir=log_dir, histogram_freq=2, batch_size=5)
    hist = model.fit(x, y, epochs=3, verbose=0, validation_data=(x, y), callbacks=[tb])
    (name,) = os.listdir(log_dir)
    assert name.startswith("events.out.tfevents.")
    events = read_events(os.path.join(log_dir, name))
    assert events[0].file_version == "brain.Event:2"
    scalars = [e for e in events if e.scalars]
    assert [e.step for e in scalars] == [0, 1, 2]
    for e in scalars:
        assert e.scalars == {k: float(np.float32(v[e.step])) for k, v in hist.history.items()}
    histos = [e for e in events if e.histograms]
    assert [e.step for e in histos] == [0, 2]
    last = histos[-1].histograms
    assert sorted(last) == ["dense_1/bias_0", "dense_1/kernel_0", "dense_1_out", "dense_2/bias_0",
                            "dense_2/kernel_0", "dense_2_out"]  # fmt: skip
    kernel = model.get_weights()[0].astype(np.float64)
    k = last["dense_1/kernel_0"]
    assert (k.num, k.min, k.max) == (12.0, kernel.min(), kernel.max())
    assert k.sum == pytest.approx(kernel.sum(), rel=1e-12) and sum(k.bucket) == 12.0
    expected_out = model.predict(x)
    out = last["dense_2_out"]
    assert out.num == expected_out.size and out.sum == pytest.approx(
        float(expected_out.sum()), rel=1e-5
    )
    assert last["dense_1_out"].min >= 0.0  # relu


def test_tensorboard_without_validation_data_writes_weight_histograms(tmp_path):
    x, y = _data()
    model = _model()
    with pytest.warns(UserWarning, match="write_images need TensorFlow"):
        tb = cbks.TensorBoard(log_dir=str(tmp_path), histogram_freq=1, write_images=True)
    model.fit(x, y, epochs=1, verbose=0, callbacks=[tb])
    events = read_events(str(next(tmp_path.iterdir())))
    assert sorted(events[1].histograms) == ["dense_1/bias_0", "dense_1/kernel_0"]


def test_read_events_checks_crcs(tmp_path):
    x, y = _data()
    _model().fit(x, y, epochs=1, verbose=0, callbacks=[cbks.TensorBoard(log_dir=str(tmp_path))])
    path = next(tmp_path.iterdir())
    data = bytearray(path.read_bytes())
    (first_len,) = struct.unpack("<Q", data[:8])
    data[12 + first_len + 4 + 12 + 3] ^= 0xFF  # a byte inside the second record's payload
    path.write_bytes(bytes(data))
    with pytest.raises(
        ValueError, match=rf"data CRC mismatch in the record at byte {first_len + 16}"
    ):
        read_events(str(path))
    path.write_bytes(bytes(data[:-2]))
    with pytest.raises(ValueError, match="truncated record"):
        read_events(str(path))


# -- ModelCheckpoint and stop_training -------------------------------------------------------


class SavingStub(StubModel):
    def __init__(self):
        super().__init__()
        self.saved: list[str] = []

    def save_weights(self, filepath, overwrite=True):
        self.saved.append(filepath)


def test_model_checkpoint_saves_weights_files_that_load(tmp_path):
    x, y = _data()
    model = _model()
    pattern = str(tmp_path / "w.{epoch:02d}-{loss:.3f}.h5")
    hist = model.fit(
        x, y, epochs=2, verbose=0, callbacks=[cbks.ModelCheckpoint(pattern, save_weights_only=True)]
    )
    names = sorted(os.listdir(tmp_path))
    assert names == [f"w.{e:02d}-{hist.history['loss'][e]:.3f}.h5" for e in (0, 1)]
    fresh = _model()
    fresh.load_weights(str(tmp_path / names[1]))
    for a, b in zip(fresh.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_model_checkpoint_best_only_period_and_messages(capsys):
    model = SavingStub()
    ckpt = cbks.ModelCheckpoint(
        "m{epoch}.h5", save_best_only=True, save_weights_only=True, verbose=1
    )
    _drive([ckpt], [1.0, 1.2, 0.8], model)
    assert model.saved == ["m0.h5", "m2.h5"]
    assert capsys.readouterr().out == (
        "Epoch 00000: val_loss improved from inf to 1.00000, saving model to m0.h5\n"
        "Epoch 00001: val_loss did not improve\n"
        "Epoch 00002: val_loss improved from 1.00000 to 0.80000, saving model to m2.h5\n"
    )
    model = SavingStub()
    _drive([cbks.ModelCheckpoint("p{epoch}", save_weights_only=True, period=2)], [1.0] * 5, model)
    assert model.saved == ["p1", "p3"]
    model = SavingStub()  # 'auto' maximizes accuracies
    _drive([cbks.ModelCheckpoint("a{epoch}", "val_acc", save_best_only=True, save_weights_only=True)],
           [0.5, 0.4, 0.6], model, key="val_acc")  # fmt: skip
    assert model.saved == ["a0", "a2"]


def test_model_checkpoint_needs_the_save_method():
    with pytest.raises(
        AttributeError,
        match=r"needs `model.save\(filepath, overwrite=True\)`.*save_weights_only=True",
    ):
        _drive([cbks.ModelCheckpoint("m.h5")], [1.0], SavingStub())


def test_stop_training_from_a_callback_and_on_nan(capsys):
    x, y = _data()
    model = _model()

    def stop_after_1(epoch, logs):
        if epoch == 1:
            model.stop_training = True

    hist = model.fit(
        x, y, epochs=5, verbose=0, callbacks=[cbks.LambdaCallback(on_epoch_end=stop_after_1)]
    )
    assert hist.epoch == [0, 1]
    y_nan = y.copy()
    y_nan[20] = np.nan
    batches = []
    spy = cbks.LambdaCallback(on_batch_end=lambda b, logs: batches.append(b))
    hist = model.fit(
        x,
        y_nan,
        batch_size=8,
        epochs=3,
        shuffle=False,
        verbose=0,
        callbacks=[cbks.TerminateOnNaN(), spy],
    )
    assert batches == [0, 1, 2] and hist.epoch == [0]
    assert capsys.readouterr().out == "Batch 2: Invalid loss, terminating training\n"


def test_slow_batch_hook_warning_uses_the_median_of_recent_hook_times():
    cl = cbks.CallbackList([], queue_length=5)
    cl._delta_t_batch = 0.01
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cl._warn_if_slow("on_batch_end", deque([0.05] * 5))  # all under 0.1 s
        cl._warn_if_slow("on_batch_end", deque([0.5, 0.5, 0.01, 0.01, 0.01]))  # median 0.01
    with pytest.warns(UserWarning, match=r"on_batch_end\(\) is slow compared to the batch update \(0\.300000\)"):
        cl._warn_if_slow("on_batch_end", deque([0.3, 0.3, 0.3, 0.01, 0.3]))
    cl._delta_t_batch = 1.0  # the batch itself took longer: no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cl._warn_if_slow("on_batch_end", deque([0.3] * 5))
