"""fit_generator / evaluate_generator / predict_generator, Sequence and the enqueuers."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from kgraph import backend as K
from kgraph import callbacks as cbks
from kgraph.layers import Dense, Dropout
from kgraph.models import Sequential
from kgraph.utils import GeneratorEnqueuer, OrderedEnqueuer, Sequence

N, BATCH = 40, 16  # three batches per pass: 16, 16, 8


def _data(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.RandomState(seed)
    return rng.rand(N, 3).astype("float32"), rng.rand(N, 2).astype("float32")


def _model(optimizer: str = "sgd", dropout: bool = False) -> Sequential:
    np.random.seed(1)
    layers = [Dense(4, input_dim=3, activation="tanh")]
    layers += [Dropout(0.5)] if dropout else []
    model = Sequential([*layers, Dense(2)])
    model.compile(optimizer, "mse", metrics=["mae"])
    return model


class Batches(Sequence):
    """The batches of (x, y[, w]) in order; records which pass each fetch belongs to."""

    def __init__(self, x, y, w=None, batch_size=BATCH):
        self.x, self.y, self.w, self.batch_size = x, y, w, batch_size
        self.passes = 0
        self.fetched: list[tuple[int, int]] = []
        self.threads: set[str] = set()

    def __len__(self):
        return -(-len(self.x) // self.batch_size)

    def __getitem__(self, i):
        self.fetched.append((self.passes, i))
        self.threads.add(threading.current_thread().name)
        s = slice(i * self.batch_size, (i + 1) * self.batch_size)
        return (self.x[s], self.y[s]) if self.w is None else (self.x[s], self.y[s], self.w[s])

    def on_epoch_end(self):
        self.passes += 1


def _looping(x, y, batch_size=BATCH, produced=None):
    while True:
        for start in range(0, len(x), batch_size):
            if produced is not None:
                produced.append(threading.current_thread().name)
            yield x[start : start + batch_size], y[start : start + batch_size]


def _assert_same_weights(a, b):
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(wa, wb)


# -- equivalence with array-fed fit ----------------------------------------------------


@pytest.mark.parametrize("workers", [0, 2])
def test_sequence_fit_matches_array_fit_exactly(workers):
    x, y = _data()
    ref = _model("adam", dropout=True)
    w0 = ref.get_weights()
    ref_hist = ref.fit(x, y, batch_size=BATCH, epochs=3, shuffle=False, verbose=0)
    ref_weights = ref.get_weights()
    K.clear_session()  # restarts the dropout step counter, so both runs draw the same masks
    model = _model("adam", dropout=True)
    model.set_weights(w0)
    seq = Batches(x, y)
    hist = model.fit_generator(seq, epochs=3, workers=workers, verbose=0)
    for wa, wb in zip(ref_weights, model.get_weights(), strict=True):
        np.testing.assert_array_equal(wa, wb)
    assert hist.history == ref_hist.history
    assert hist.params == {"epochs": 3, "steps": 3, "verbose": 0, "do_validation": False,
                           "metrics": ["loss", "mean_absolute_error"]}  # fmt: skip
    # Each epoch reads exactly one pass, and on_epoch_end runs between passes.
    assert seq.fetched[:9] == [(e, i) for e in range(3) for i in range(3)]
    if workers:
        assert "MainThread" not in seq.threads


def test_python_generator_with_two_workers_matches_array_fit():
    x, y = _data()
    ref = _model()
    w0 = ref.get_weights()
    ref.fit(x, y, batch_size=BATCH, epochs=2, shuffle=False, verbose=0)
    model = _model()
    model.set_weights(w0)
    produced: list[str] = []
    model.fit_generator(_looping(x, y, produced=produced), steps_per_epoch=3, epochs=2,
                        workers=2, max_queue_size=2, verbose=0)  # fmt: skip
    _assert_same_weights(ref, model)
    assert "MainThread" not in produced
    # Prefetching is bounded by the queue: at most max_queue_size + workers extra batches.
    assert 6 <= len(produced) <= 6 + 2 + 2


def test_class_and_sample_weights_reach_each_batch():
    x, y = _data()
    labels = np.eye(2, dtype="float32")[(x[:, 0] > 0.5).astype(int)]
    ref = _model()
    w0 = ref.get_weights()
    ref.fit(
        x,
        labels,
        batch_size=BATCH,
        epochs=1,
        shuffle=False,
        verbose=0,
        class_weight={0: 1.0, 1: 3.0},
    )
    model = _model()
    model.set_weights(w0)
    model.fit_generator(_looping(x, labels), 3, class_weight={0: 1.0, 1: 3.0}, verbose=0)
    _assert_same_weights(ref, model)
    sw = np.linspace(0.5, 2.0, N).astype("float32")
    ref.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0, sample_weight=sw)
    model.fit_generator(Batches(x, y, sw), verbose=0)
    _assert_same_weights(ref, model)


# -- validation, evaluate, predict -----------------------------------------------------


@pytest.mark.parametrize("kind", ["tuple", "generator", "sequence"])
def test_validation_data_kinds(kind):
    x, y = _data()
    vx, vy = _data(seed=5)
    model = _model()
    val = {"tuple": (vx, vy), "generator": _looping(vx, vy), "sequence": Batches(vx, vy)}[kind]
    seen = []
    spy = cbks.LambdaCallback(
        on_epoch_end=lambda e, logs: seen.append(model.evaluate(vx, vy, verbose=0))
    )
    hist = model.fit_generator(Batches(x, y), epochs=2, validation_data=val,
                               validation_steps=3 if kind == "generator" else None,
                               callbacks=[spy], verbose=0)  # fmt: skip
    assert sorted(hist.history) == [
        "loss",
        "mean_absolute_error",
        "val_loss",
        "val_mean_absolute_error",
    ]
    np.testing.assert_allclose(hist.history["val_loss"], [s[0] for s in seen], rtol=1e-6)
    np.testing.assert_allclose(
        hist.history["val_mean_absolute_error"], [s[1] for s in seen], rtol=1e-6
    )
    assert hist.params["do_validation"]


def test_evaluate_generator_weights_batches_by_size():
    x, y = _data()
    model = _model()
    expected = model.evaluate(x, y, batch_size=N, verbose=0)
    for workers in (0, 1, 3):
        got = model.evaluate_generator(_looping(x, y), steps=3, workers=workers)
        np.testing.assert_allclose(got, expected, rtol=1e-6)
    np.testing.assert_allclose(model.evaluate_generator(Batches(x, y)), expected, rtol=1e-6)


def test_evaluate_generator_single_output_returns_scalar():
    x, y = _data()
    model = Sequential([Dense(2, input_dim=3)])
    model.compile("sgd", "mse")
    got = model.evaluate_generator(Batches(x, y), workers=2)
    assert isinstance(got, float)
    np.testing.assert_allclose(got, model.evaluate(x, y, verbose=0), rtol=1e-6)


def test_predict_generator_inputs_or_tuples():
    x, y = _data()
    model = _model()
    expected = model.predict(x)

    def inputs_only():
        while True:
            for start in range(0, N, BATCH):
                yield x[start : start + BATCH]

    np.testing.assert_allclose(
        model.predict_generator(inputs_only(), 3, workers=2), expected, rtol=1e-6
    )
    np.testing.assert_allclose(model.predict_generator(Batches(x, y)), expected, rtol=1e-6)
    np.testing.assert_allclose(
        model.predict_generator(_looping(x, y), 1), expected[:BATCH], rtol=1e-6
    )


def test_predict_generator_verbose_progbar(capsys):
    x, y = _data()
    model = _model()
    model.predict_generator(Batches(x, y), verbose=1)
    assert "3/3 [==============================]" in capsys.readouterr().out


# -- callbacks and training control ----------------------------------------------------


def test_progbar_counts_steps_and_callbacks_see_batch_sizes(capsys):
    x, y = _data()
    model = _model()
    sizes = []
    spy = cbks.LambdaCallback(on_batch_end=lambda b, logs: sizes.append((b, logs["size"])))
    model.fit_generator(Batches(x, y), epochs=2, initial_epoch=1, callbacks=[spy])
    out = capsys.readouterr().out
    assert out.startswith("Epoch 2/2\n")
    assert "3/3 [==============================]" in out
    assert sizes == [(0, 16), (1, 16), (2, 8)]


def test_stop_training_mid_epoch_skips_validation():
    x, y = _data()
    model = _model()
    calls = []

    def stop(batch, logs):
        calls.append(batch)
        if batch == 1:
            model.stop_training = True

    hist = model.fit_generator(Batches(x, y), epochs=5, validation_data=(x, y), verbose=0,
                               callbacks=[cbks.LambdaCallback(on_batch_end=stop)])  # fmt: skip
    assert calls == [0, 1]
    assert hist.epoch == [0]
    assert "val_loss" not in hist.history


def test_early_stopping_with_generator():
    x, y = _data()
    model = Sequential([Dense(2, input_dim=3)])
    model.compile("sgd", "mse")
    K.set_value(model.optimizer.lr, 0.0)  # the loss stays flat: nothing ever improves
    hist = model.fit_generator(Batches(x, y), epochs=10, verbose=0,
                               callbacks=[cbks.EarlyStopping(monitor="loss", patience=1)])  # fmt: skip
    assert hist.epoch == [0, 1, 2]


# -- errors ------------------------------------------------------------------------------


def test_steps_per_epoch_required_for_a_generator():
    x, y = _data()
    model = _model()
    with pytest.raises(
        ValueError, match=r"`steps_per_epoch=None` is only valid for a kgraph.utils.Sequence"
    ):
        model.fit_generator(_looping(x, y))
    with pytest.raises(TypeError, match=r"`steps_per_epoch` must be an int, got 2.5"):
        model.fit_generator(_looping(x, y), 2.5)
    with pytest.raises(ValueError, match=r"`steps` must be at least 1, got 0"):
        model.evaluate_generator(_looping(x, y), 0)
    with pytest.raises(ValueError, match=r"`validation_steps=None` is only valid"):
        model.fit_generator(Batches(x, y), validation_data=_looping(x, y))


def test_not_a_generator():
    x, y = _data()
    model = _model()
    with pytest.raises(TypeError, match=r"must be a generator .* got list"):
        model.fit_generator([(x, y)], 1)
    with pytest.raises(
        ValueError, match=r"`validation_data` should be a tuple .* got a tuple of 4 items"
    ):
        model.fit_generator(Batches(x, y), validation_data=(x, y, None, None), verbose=0)
    with pytest.raises(ValueError, match=r"`workers` must be an int >= 0, got -1"):
        model.fit_generator(Batches(x, y), workers=-1)


@pytest.mark.parametrize("workers", [0, 2])
def test_malformed_generator_output(workers):
    x, y = _data()
    model = _model()

    def four_items():
        while True:
            yield x, y, None, None

    def bare_array():
        while True:
            yield x

    with pytest.raises(
        ValueError, match=r"should be a tuple `\(x, y\)` .* at batch 0 it was a tuple of 4 items"
    ):
        model.fit_generator(four_items(), 2, workers=workers, verbose=0)
    with pytest.raises(ValueError, match=r"at batch 0 it was ndarray of shape \(40, 3\)"):
        model.fit_generator(bare_array(), 2, workers=workers, verbose=0)
    with pytest.raises(ValueError, match=r"at batch 0 it was a tuple of 4 items"):
        model.evaluate_generator(four_items(), 2, workers=workers)


@pytest.mark.parametrize("workers", [0, 1, 3])
def test_generator_running_dry(workers):
    x, y = _data()
    model = _model()

    def five_batches():
        for i in range(5):
            yield x[i * 8 : (i + 1) * 8], y[i * 8 : (i + 1) * 8]

    with pytest.raises(
        ValueError, match=r"ran out of data after 2 of 3 batches in epoch 1 .*must loop forever"
    ):
        model.fit_generator(five_batches(), steps_per_epoch=3, epochs=2, workers=workers, verbose=0)
    with pytest.raises(
        ValueError, match=r"predict_generator: the generator ran out of data after 5 of 6"
    ):
        model.predict_generator(five_batches(), 6, workers=workers)


@pytest.mark.parametrize("workers", [0, 2])
def test_worker_errors_surface_with_their_type(workers):
    x, y = _data()
    model = _model()

    def broken():
        yield x[:8], y[:8]
        raise KeyError("missing record 17")

    class BrokenSequence(Batches):
        def __getitem__(self, i):
            if i == 2:
                raise OSError("cannot read shard 2")
            return super().__getitem__(i)

    with pytest.raises(KeyError, match="missing record 17"):
        model.fit_generator(broken(), 3, workers=workers, verbose=0)
    with pytest.raises(OSError, match="cannot read shard 2"):
        model.fit_generator(BrokenSequence(x, y), workers=workers, verbose=0)


def test_bad_batch_shape_names_the_layer():
    x, y = _data()
    model = _model()

    def wrong_width():
        while True:
            yield x[:, :2], y

    with pytest.raises(
        ValueError,
        match=r"expected dense_1_input \(the input of layer dense_1\) to have shape \(None, 3\) but got array with shape \(40, 2\)",
    ):
        model.fit_generator(wrong_width(), 1, verbose=0)


def test_legacy_argument_names():
    x, y = _data()
    model = _model()
    gen = _looping(x, y)
    with pytest.warns(
        UserWarning,
        match=r"Update your `fit_generator` call to the Keras 2 API: .*steps_per_epoch=3, epochs=2",
    ):
        hist = model.fit_generator(gen, samples_per_epoch=3, nb_epoch=2, max_q_size=4, verbose=0)
    assert hist.epoch == [0, 1]
    with pytest.warns(UserWarning, match="threads, not processes"):
        model.evaluate_generator(Batches(x, y), pickle_safe=True)
    with pytest.warns(UserWarning, match=r"`predict_generator\(<generator>, steps=2\)`"):
        assert model.predict_generator(_looping(x, y), val_samples=2).shape == (32, 2)
    with pytest.raises(TypeError, match=r"unexpected keyword argument 'nb_val_steps'"):
        model.fit_generator(gen, 1, nb_val_steps=3)


# -- enqueuers -----------------------------------------------------------------------------


def test_enqueuers_stop_their_threads():
    before = threading.active_count()
    x, y = _data()
    enqueuer = OrderedEnqueuer(Batches(x, y))
    enqueuer.start(workers=3, max_queue_size=2)
    batches = enqueuer.get()
    got = [next(batches)[0].shape[0] for _ in range(7)]
    assert got == [16, 16, 8, 16, 16, 8, 16]
    gen_enqueuer = GeneratorEnqueuer(_looping(x, y))
    gen_enqueuer.start(workers=2, max_queue_size=1)
    assert next(gen_enqueuer.get())[0].shape == (16, 3)
    assert gen_enqueuer.is_running()
    enqueuer.stop(timeout=5)
    gen_enqueuer.stop(timeout=5)
    assert not gen_enqueuer.is_running()
    assert threading.active_count() <= before + 3  # idle pool threads exit on their own


def test_empty_sequence_is_an_error():
    x, y = _data()
    with pytest.raises(ValueError, match=r"The Sequence Batches is empty"):
        OrderedEnqueuer(Batches(x[:0], y[:0])).start()


def test_sequence_is_abstract_and_iterable():
    with pytest.raises(TypeError):
        Sequence()  # type: ignore[abstract]
    x, y = _data()
    assert [b[0].shape[0] for b in Batches(x, y)] == [16, 16, 8]
