"""Golden values for every Keras loss and metric, made by real Keras (tf-keras 2.21).

What it makes
-------------
``tests/fixtures/losses_metrics.json`` lists the cases: which function (a loss, a metric or
a cross-entropy of ``kgraph.backend`` with ``from_logits=True``), its ``k`` for the top-k
accuracies, whether tf-keras computes Keras 2.0.5's formula on that data (``tf_is_205``),
and whether a gradient was recorded. ``tests/fixtures/losses_metrics.npz`` holds, per case
``<name>``: ``<name>/y_true``, ``<name>/y_pred`` (float32), tf-keras's per-sample value
``<name>/value`` and, for cases away from clipping bounds and kinks,
``<name>/grad`` = d sum(value) / d y_pred. The file is a few tens of KB.

Each function gets random data and an ``edge`` case: zeros, ones, exact 0/1 probabilities,
probabilities within 1e-9 of 0 and 1, un-normalized rows, huge and tiny differences,
negative predictions for the hinges, ties for the accuracies, logits of +-1e4.

How to run
----------
TensorFlow is needed only here, never by the test suite::

    cd <repo root> && /work/venv-tf/bin/python tools/make_loss_fixtures.py

Deterministic (fixed seeds, CPU only).

Where tf-keras is not Keras 2.0.5 (KERAS_API.md section 4.1, 4.2, Appendix D)
------------------------------------------------------------------------------
The test compares kgraph with these values only where ``tf_is_205`` is true and uses its
own float64 numpy transcription of 2.0.5 elsewhere. ``tf_is_205`` is false for:

* ``binary_crossentropy``: tf-keras computes ``t log(p + eps) + (1-t) log(1-p+eps)``
  after clipping; 2.0.5 turns the clipped probability into a logit and uses the
  sigmoid cross-entropy with logits (values differ near the clip bounds).
* ``cosine_proximity``: tf-keras's cosine similarity is a sum over the last axis, 2.0.5's
  a mean.
* ``hinge``/``squared_hinge`` with 0/1 targets: tf-keras first maps {0, 1} to {-1, 1};
  2.0.5 uses the targets as given.
* ``binary_accuracy`` with predictions outside [0, 1]: tf-keras thresholds ``p > 0.5``,
  2.0.5 rounds half to even (so 1.5 -> 2 and -0.6 -> -1 differ; 0.5 -> 0 agrees).
* ``top_k``/``sparse_top_k``: tf-keras returns one value per sample, 2.0.5 their mean
  (the test compares the mean; the per-sample values are the same).
"""

import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["CUDA_VISIBLE_DEVICES"] = ""

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_DIR = os.path.join(ROOT, "tests", "fixtures")
B, C = 6, 5


def f32(a):
    return np.asarray(a, dtype=np.float32)


def softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def onehot(rng, shape, c=C):
    idx = rng.randint(0, c, size=shape)
    return np.eye(c)[idx], idx


def probs(rng, shape):
    return softmax(rng.normal(size=shape) * 1.5)


# -- data -------------------------------------------------------------------------------
def data_regression(rng, edge):
    if not edge:
        return rng.normal(size=(B, C)), rng.normal(size=(B, C))
    t = np.array(
        [
            [0, 0, 0, 0, 0],
            [1, 1, 1, 1, 1],
            [1e3, -1e3, 0, 1, -1],
            [0.5, -0.5, 2, 1e-8, -1e-8],
            [3, 3, 3, 3, 3],
            [-2, 5, 0, 0, 1],
        ]
    )
    p = np.array(
        [
            [0, 0, 0, 0, 0],
            [1, 1, 1, 1, 1],
            [-1e3, 1e3, 1e-3, 1, -1],
            [0.5, 0.5, -2, 0, 1e-8],
            [3 + 1e-4, 3 - 1e-4, 3, 3, 3],
            [100, -100, 0, 1, 0],
        ]
    )
    return t, p


def data_mape(rng, edge):
    if not edge:
        return rng.normal(size=(B, C)) * 2, rng.normal(size=(B, C))
    t = np.array(
        [
            [0, 0, 0, 0, 0],
            [1, 1, 1, 1, 1],
            [1e-9, -1e-9, 1e-7, -1e-7, 1e3],
            [-3, 4, 0.5, 1e-3, 2],
            [1, 2, 3, 4, 5],
            [0, 1, 0, -1, 0],
        ]
    )
    p = np.array(
        [
            [0, 1, -1, 1e-3, 0],
            [1, 1, 1, 1, 1],
            [1, 1, 0, 0, 0],
            [3, -4, 0.5, 0, 0],
            [1, 2, 3, 4, 5],
            [1e3, -1e3, 1e-8, 0, 5],
        ]
    )
    return t, p


def data_msle(rng, edge):
    if not edge:
        return rng.uniform(0, 3, size=(B, C)), rng.uniform(0, 3, size=(B, C))
    t = np.array(
        [
            [0, 0, 0, 0, 0],
            [1, 1, 1, 1, 1],
            [-1, -5, 0, 1e4, 1e-9],
            [2, 2, 2, 2, 2],
            [0, 1, 2, 3, 4],
            [1e-7, 1e-8, 0.5, 7, 0],
        ]
    )
    p = np.array(
        [
            [0, 0, 0, 0, 0],
            [1, 1, 1, 1, 1],
            [-3, 0, -1e-9, 1e4, 1e-7],
            [-2, 0, 2, 1e6, 1e-8],
            [4, 3, 2, 1, 0],
            [0.5, 0, 1e-7, 7, -0.5],
        ]
    )
    return t, p


def data_hinge_pm1(rng, edge):
    t = rng.choice([-1.0, 1.0], size=(B, C))
    if not edge:
        return t, rng.normal(size=(B, C)) * 1.5
    p = np.array(
        [
            [0, 0, 0, 0, 0],
            [1, -1, 1, -1, 1],
            [1e3, -1e3, 5, -5, 0.5],
            [-2, 2, -0.5, 0.5, 1e-8],
            [1, 1, 1, 1, 1],
            [-1, -1, -1, -1, -1],
        ]
    )
    return t, p


def data_hinge_01(rng, edge):
    t = rng.randint(0, 2, size=(B, C)).astype(float)
    t[0] = 0.0
    t[1] = 1.0
    p = (
        rng.normal(size=(B, C)) * 1.5
        if not edge
        else np.array(
            [
                [0, 0, 0, 0, 0],
                [1, -1, 1, -1, 1],
                [1e3, -1e3, 5, -5, 0.5],
                [-2, 2, -0.5, 0.5, 1e-8],
                [1, 1, 1, 1, 1],
                [-1, -1, -1, -1, -1],
            ]
        )
    )
    return t, p


def data_cat_hinge(rng, edge):
    t, _ = onehot(rng, (B,))
    if not edge:
        return t, rng.normal(size=(B, C))
    p = np.array(
        [
            [0, 0, 0, 0, 0],
            [1, 1, 1, 1, 1],
            [1e3, -1e3, 5, -5, 0.5],
            [-2, 2, -0.5, 0.5, 1e-8],
            [10, 0, 0, 0, 0],
            [-1, -1, -1, -1, -1],
        ]
    )
    return t, p


def data_logcosh(rng, edge):
    if not edge:
        return rng.normal(size=(B, C)), rng.normal(size=(B, C)) * 2
    t = np.zeros((B, C))
    p = np.array(
        [
            [0, 0, 0, 0, 0],
            [1e-4, -1e-4, 1e-3, 1e-2, 0.1],
            [50, -50, 80, -80, 10],
            [200, -200, 1e3, -1e4, 0],
            [1, 1, 1, 1, 1],
            [3, -3, 20, -20, 5],
        ]
    )
    return t, p


def data_probs(rng, edge, soft=False):
    t, _ = onehot(rng, (B,))
    if soft:
        t = probs(rng, (B, C))
    if not edge:
        return t, probs(rng, (B, C))
    p = np.array(
        [
            [1, 0, 0, 0, 0],
            [0, 1, 0, 0, 0],
            [1e-9, 1 - 4e-9, 1e-9, 1e-9, 1e-9],
            [3.0, 1.0, 0.5, 0.25, 0.25],
            [0.2, 0.2, 0.2, 0.2, 0.2],
            [1e-12, 1e-12, 1, 2, 1e-30],
        ]
    )
    return t, p


def data_sparse(rng, edge, flat=False):
    _, idx = onehot(rng, (B,))
    if edge:
        idx = np.array([0, 1, 1, 0, 4, 2])
    t = idx.astype(float) if flat else idx[:, None].astype(float)
    p = probs(rng, (B, C)) if not edge else data_probs(rng, True)[1]
    return t, p


def data_sparse_3d(rng, edge):
    idx = rng.randint(0, C, size=(B, 3, 1)).astype(float)
    return idx, probs(rng, (B, 3, C))


def data_bce(rng, edge):
    t = rng.randint(0, 2, size=(B, C)).astype(float)
    if not edge:
        return t, rng.uniform(0.05, 0.95, size=(B, C))
    t[2] = [0.3, 0.7, 0.5, 0, 1]
    p = np.array(
        [
            [0, 1, 0, 1, 0.5],
            [1e-9, 1 - 1e-9, 1e-7, 1 - 1e-7, 1e-12],
            [0, 1, 0.5, 1e-8, 1 - 1e-8],
            [0.999, 0.001, 0.9999999, 1e-6, 0.5],
            [1, 1, 1, 1, 1],
            [0, 0, 0, 0, 0],
        ]
    )
    return t, p


def data_kld(rng, edge):
    if not edge:
        return probs(rng, (B, C)), probs(rng, (B, C))
    t = np.array(
        [
            [1, 0, 0, 0, 0],
            [0.2, 0.2, 0.2, 0.2, 0.2],
            [0, 0, 0, 0.5, 0.5],
            [1e-9, 1, 0, 0, 0],
            [0.5, 0.5, 0, 0, 0],
            [2, 0, 0, 0, 0],
        ]
    )
    p = np.array(
        [
            [1, 0, 0, 0, 0],
            [1, 0, 0, 0, 0],
            [0.2, 0.2, 0.2, 0.2, 0.2],
            [0, 1, 0, 0, 0],
            [1e-12, 1 - 1e-12, 0, 0, 0],
            [1.5, -1, 0, 0, 0],
        ]
    )
    return t, p


def data_poisson(rng, edge):
    if not edge:
        return rng.poisson(2.0, size=(B, C)).astype(float), rng.uniform(0.1, 4, size=(B, C))
    t = np.array(
        [
            [0, 0, 0, 0, 0],
            [1, 1, 1, 1, 1],
            [5, 0, 3, 1e3, 2],
            [0, 1, 2, 3, 4],
            [10, 10, 10, 10, 10],
            [1, 0, 1, 0, 1],
        ]
    )
    p = np.array(
        [
            [0, 0, 0, 0, 0],
            [1, 1, 1, 1, 1],
            [0, 5, 1e-9, 1e3, 1e-7],
            [1e-8, 1e-8, 2, 3, 4],
            [1e4, 1, 0.1, 10, 1e-3],
            [0, 0, 0, 0, 0],
        ]
    )
    return t, p


def data_cosine(rng, edge):
    if not edge:
        return rng.normal(size=(B, C)), rng.normal(size=(B, C))
    t = np.array(
        [
            [0, 0, 0, 0, 0],
            [1, 1, 1, 1, 1],
            [1e-8, 0, 0, 0, 0],
            [1e4, -1e4, 0, 0, 1],
            [1, 0, 0, 0, 0],
            [-1, 2, -3, 4, -5],
        ]
    )
    p = np.array(
        [
            [1, 2, 3, 4, 5],
            [1, 1, 1, 1, 1],
            [1, 0, 0, 0, 0],
            [1e-4, 1e4, 0, 0, 0],
            [0, 0, 0, 0, 0],
            [1, -2, 3, -4, 5],
        ]
    )
    return t, p


def data_3d(rng, edge):
    return rng.normal(size=(B, 3, C)), rng.normal(size=(B, 3, C))


def data_binary_acc(rng, edge):
    t = rng.randint(0, 2, size=(B, C)).astype(float)
    if not edge:
        return t, rng.uniform(0, 1, size=(B, C))
    p = np.array(
        [
            [0.5, 0.5, 0.5, 0.5, 0.5],
            [0.49999, 0.50001, 0, 1, 0.5],
            [1e-9, 1 - 1e-9, 0.3, 0.7, 0.5],
            [0, 0, 0, 0, 0],
            [1, 1, 1, 1, 1],
            [0.5000001, 0.4999999, 0.25, 0.75, 0.5],
        ]
    )
    return t, p


def data_binary_acc_out(rng, edge):
    t = np.array([[0, 1, 2, -1, 0]] * B, dtype=float)
    p = np.array(
        [
            [1.5, 1.5, 2.5, -0.6, -0.4],
            [0.5, 1.49, 1.6, -1.5, -0.5],
            [-0.6, 0.6, 2.5, -1.2, 0.2],
            [2, 2, 2, -1, 0],
            [0, 1, 2, -1, 0],
            [3.5, 0.5, 1.5, -0.5, -2.5],
        ]
    )
    return t, p


def data_cat_acc(rng, edge):
    t, _ = onehot(rng, (B,))
    if not edge:
        return t, rng.normal(size=(B, C))
    p = np.array(
        [
            [1, 1, 0, 0, 0],
            [0, 1, 1, 0, 0],
            [0.2, 0.2, 0.2, 0.2, 0.2],
            [-1e4, 1e4, 0, 0, 0],
            [0, 0, 0, 0, 1],
            [5, 5, 5, 5, 5],
        ]
    )
    t[:2] = np.eye(C)[[0, 2]]
    return t, p


def data_sparse_acc(rng, edge):
    t, p = data_cat_acc(rng, edge)
    return t.argmax(-1)[:, None].astype(float), p


def data_top_k(rng, edge):
    t, _ = onehot(rng, (B,))
    if not edge:
        return t, rng.normal(size=(B, C))
    # Ties straddling the k boundary count as in the top k (tf.nn.in_top_k).
    t = np.eye(C)[[0, 1, 2, 3, 4, 2]]
    p = np.array(
        [
            [0.1, 0.5, 0.5, 0.5, 0.1],
            [3, 2, 2, 2, 1],
            [1, 1, 1, 1, 1],
            [0, 0, 0, -1e4, 1e4],
            [4, 3, 2, 1, 0],
            [0.3, 0.3, 0.2, 0.1, 0.1],
        ]
    )
    return t, p


def data_sparse_top_k(rng, edge):
    t, p = data_top_k(rng, edge)
    return t.argmax(-1)[:, None].astype(float), p


def data_logits(rng, edge, soft=False):
    t, _ = onehot(rng, (B,))
    if not edge:
        return t, rng.normal(size=(B, C)) * 3
    p = np.array(
        [
            [1e4, -1e4, 0, 0, 0],
            [-1e4, 1e4, 0, 0, 0],
            [0, 0, 0, 0, 0],
            [80, 90, 100, -100, 0],
            [-1e4, -1e4, -1e4, -1e4, -1e4],
            [1e-8, 0, 0, 0, 0],
        ]
    )
    return t, p


def data_bin_logits(rng, edge):
    t = rng.randint(0, 2, size=(B, C)).astype(float)
    if not edge:
        return t, rng.normal(size=(B, C)) * 3
    p = np.array(
        [
            [1e4, -1e4, 0, 0, 0],
            [-1e4, 1e4, 0, 0, 0],
            [0, 0, 0, 0, 0],
            [80, 90, 100, -100, 0],
            [-1e4, -1e4, -1e4, -1e4, -1e4],
            [1e-8, 0, 30, -30, 17],
        ]
    )
    return t, p


# -- functions under test ---------------------------------------------------------------
L, M, KB = keras.losses, keras.metrics, keras.backend


def mean_last(fn):
    return lambda t, p: tf.reduce_mean(tf.cast(fn(t, p), tf.float32), axis=-1)


def sparse_labels(fn):
    return lambda t, p: fn(tf.cast(t, tf.int32), p)


# name -> (tf function, data maker, tf_is_205 on random data, on edge data, grad on random)
SPECS = {
    "mean_squared_error": (L.mean_squared_error, data_regression, True, True, True),
    "mean_absolute_error": (L.mean_absolute_error, data_regression, True, True, True),
    "mean_absolute_percentage_error": (
        L.mean_absolute_percentage_error,
        data_mape,
        True,
        True,
        True,
    ),
    "mean_squared_logarithmic_error": (
        L.mean_squared_logarithmic_error,
        data_msle,
        True,
        True,
        True,
    ),
    "squared_hinge": (L.squared_hinge, data_hinge_pm1, True, True, True),
    "hinge": (L.hinge, data_hinge_pm1, True, True, True),
    "squared_hinge@01": (L.squared_hinge, data_hinge_01, False, False, False),
    "hinge@01": (L.hinge, data_hinge_01, False, False, False),
    "categorical_hinge": (L.categorical_hinge, data_cat_hinge, True, True, True),
    # 2.0.5's log((e^x + e^-x) / 2) overflows to inf for |x| > 88; the stable form (tf-keras
    # and kgraph) is finite and equal wherever 2.0.5 is finite.
    "logcosh": (L.log_cosh, data_logcosh, True, True, True),
    "categorical_crossentropy": (L.categorical_crossentropy, data_probs, True, True, True),
    "categorical_crossentropy@soft": (
        L.categorical_crossentropy,
        lambda r, e: data_probs(r, e, soft=True),
        True,
        True,
        True,
    ),
    "sparse_categorical_crossentropy": (
        L.sparse_categorical_crossentropy,
        data_sparse,
        True,
        True,
        True,
    ),
    "sparse_categorical_crossentropy@flat": (
        L.sparse_categorical_crossentropy,
        lambda r, e: data_sparse(r, e, flat=True),
        True,
        True,
        True,
    ),
    "sparse_categorical_crossentropy@3d": (
        L.sparse_categorical_crossentropy,
        data_sparse_3d,
        True,
        True,
        True,
    ),
    "binary_crossentropy": (L.binary_crossentropy, data_bce, False, False, True),
    "kullback_leibler_divergence": (L.kullback_leibler_divergence, data_kld, True, True, True),
    "poisson": (L.poisson, data_poisson, True, True, True),
    "cosine_proximity": (L.cosine_similarity, data_cosine, False, False, True),
    "mean_squared_error@3d": (L.mean_squared_error, data_3d, True, True, True),
    "logcosh@3d": (L.log_cosh, data_3d, True, True, True),
    "binary_accuracy": (M.binary_accuracy, data_binary_acc, True, True, False),
    "binary_accuracy@out_of_range": (M.binary_accuracy, data_binary_acc_out, False, False, False),
    "categorical_accuracy": (M.categorical_accuracy, data_cat_acc, True, True, False),
    "sparse_categorical_accuracy": (
        M.sparse_categorical_accuracy,
        data_sparse_acc,
        True,
        True,
        False,
    ),
    "top_k_categorical_accuracy": (M.top_k_categorical_accuracy, data_top_k, False, False, False),
    "sparse_top_k_categorical_accuracy": (
        M.sparse_top_k_categorical_accuracy,
        data_sparse_top_k,
        False,
        False,
        False,
    ),
    "backend.categorical_crossentropy@logits": (
        lambda t, p: KB.categorical_crossentropy(t, p, from_logits=True),
        data_logits,
        True,
        True,
        True,
    ),
    "backend.sparse_categorical_crossentropy@logits": (
        lambda t, p: KB.sparse_categorical_crossentropy(tf.cast(t, tf.int32), p, from_logits=True),
        lambda r, e: (data_logits(r, e)[0].argmax(-1).astype(float), data_logits(r, e)[1]),
        True,
        True,
        True,
    ),
    "backend.binary_crossentropy@logits": (
        lambda t, p: KB.binary_crossentropy(t, p, from_logits=True),
        data_bin_logits,
        True,
        True,
        True,
    ),
}
TOP_KS = (1, 2, 3, 5)


def evaluate(fn, t, p, grad):
    yp = tf.Variable(p)
    with tf.GradientTape() as tape:
        value = fn(tf.constant(t), yp)
        total = tf.reduce_sum(tf.cast(value, tf.float32))
    g = tape.gradient(total, yp) if grad else None
    return np.asarray(value, dtype=np.float32), (None if g is None else np.asarray(g))


def main():
    tf.config.experimental.enable_op_determinism()
    rng = np.random.RandomState(7)
    arrays, cases = {}, []
    for name, (fn, make, agree_rand, agree_edge, grad) in SPECS.items():
        for edge in (False, True):
            # The edge data of the 3-D cases and out-of-range accuracy is the random data.
            if edge and make in (data_3d, data_sparse_3d, data_binary_acc_out):
                continue
            t, p = (f32(a) for a in make(rng, edge))
            base = name.split("@")[0]
            ks = TOP_KS if "top_k" in base else (None,)
            for k in ks:
                case = name + ("@edge" if edge else "") + (f"@k{k}" if k else "")
                call = (lambda tt, pp, fn=fn, k=k: fn(tt, pp, k=k)) if k else fn
                want_grad = grad and not edge
                value, g = evaluate(call, t, p, want_grad)
                arrays[f"{case}/y_true"], arrays[f"{case}/y_pred"] = t, p
                arrays[f"{case}/value"] = value
                if g is not None:
                    arrays[f"{case}/grad"] = g
                cases.append({
                    "name": case, "fn": base, "k": k, "edge": edge,
                    "tf_is_205": agree_edge if edge else agree_rand, "grad": g is not None,
                })  # fmt: skip
                assert np.all(np.isfinite(value)) or base == "none", case
    np.savez_compressed(os.path.join(OUT_DIR, "losses_metrics.npz"), **arrays)
    with open(os.path.join(OUT_DIR, "losses_metrics.json"), "w") as f:
        json.dump(
            {
                "cases": cases,
                "generator": "tools/make_loss_fixtures.py",
                "tf_keras": keras.__version__,
            },
            f,
            indent=1,
        )
    print(f"{len(cases)} cases written")


if __name__ == "__main__":
    main()
