"""Golden training fixtures for small MLPs, made by real Keras (tf-keras 2.21).

What it makes
-------------
``tests/fixtures/mlp_cases.json`` describes six small Sequential MLPs in Keras 2.0.5 terms
(layers, optimizer config, loss, metrics), and ``tests/fixtures/<case>.npz`` holds, per
case: the data, the initial weights, the loss/metric values returned by ``train_on_batch``
for 5 steps on one fixed batch, the weights after step 1 and after step 5, and
``predict``/``evaluate`` results after the 5 steps. Case ``adam_cce`` also holds a
``fit`` run (History values and final weights). The data and weights are float32 and
tiny (input_dim 8, 40 train and 40 test samples), so every file is a few tens of KB.

How to run
----------
TensorFlow is needed only here, never by the test suite::

    python3 -m venv /work/venv-tf
    /work/venv-tf/bin/pip install tensorflow-cpu==2.21.0 h5py
    /work/venv-tf/bin/pip install --no-deps tf-keras==2.21.0
    cd <repo root> && /work/venv-tf/bin/python tools/make_fixtures.py

The run is deterministic (fixed seeds, CPU only, TF op determinism). After writing the
files it checks every case against an independent numpy implementation of the Keras 2.0.5
semantics (forward pass, losses with 2.0.5 clipping, metrics, regularizers, backprop,
the 2.0.5 optimizer update rules, constraints, evaluate's batch averaging and, for
``adam_cce``, the fit loop) and exits non-zero if any recorded value disagrees.

Keras 2.0.5 -> tf-keras mappings applied
----------------------------------------
The JSON records the 2.0.5 configuration; tf-keras is driven so that it computes the
2.0.5 result (see KERAS_API.md, Appendix D):

* Optimizers are ``tf_keras.optimizers.legacy`` classes, 2.0.5 argument ``lr`` passed as
  ``learning_rate``, ``decay`` passed through (legacy ``lr / (1 + decay * iterations)``
  reads ``iterations`` before this step's increment, as 2.0.5 does).
* ``epsilon=1e-8`` is passed explicitly (tf-keras default 1e-7).
* Adagrad: ``initial_accumulator_value=0.0`` (tf-keras default 0.1).
* RMSprop: ``momentum=0.0, centered=False``. KERAS_API.md Appendix D warns that TF's
  fused kernels put epsilon inside the square root; neither path used here does. With
  momentum 0 the tf-keras legacy RMSprop skips the fused kernel and computes
  ``lr * g / (sqrt(a) + eps)`` in Python, and Adagrad's ``ResourceApplyAdagradV2`` kernel
  also adds epsilon outside the root -- both exactly as 2.0.5. The numpy check below
  measures it: on ``rmsprop_bce`` the tf-keras step-5 weights match the 2.0.5 (outside)
  rule to 1.1e-7 absolute (float32 rounding), while the inside-the-root rule would move
  them by up to 8e-2 absolute (the gradients here are 3e-4..2e-2, so ``(1-rho) g^2`` is
  of the order of epsilon). The 2.0.5-vs-tf-keras discrepancy is therefore at float32
  rounding, far below 1e-6 relative, and epsilon stays at 2.0.5's 1e-8.
* Hyper-parameters are recorded as the float32-rounded values tf-keras (and 2.0.5, whose
  optimizer variables are float32 too) computes with, e.g. lr 0.01 -> 0.009999999776482582.
* Activity regularizer: tf-keras divides an activity-regularizer loss by the batch size,
  2.0.5 does not. For the 16-sample training batch tf-keras gets ``l2(0.01 * 16)``;
  ``evaluate`` for that case runs as a single batch of 40 on a copy of the model with
  ``l2(0.01 * 40)`` (``evaluate_batch_size`` 40 in the JSON). The JSON records 2.0.5's
  ``l2(0.01)``.
* Metric and History names follow 2.0.5: ``'accuracy'`` -> ``acc``/``val_acc``, ``'mae'``
  -> ``mean_absolute_error``. tf-keras resolves ``'accuracy'`` to the same function 2.0.5
  does here (categorical / binary / sparse categorical accuracy).
* tf-keras computes (sparse) categorical and binary cross-entropy after softmax/sigmoid
  from the logits, without 2.0.5's clipping to [1e-7, 1 - 1e-7]; no probability in these
  fixtures comes near the clip bounds, so the values agree to float32 rounding (the numpy
  check uses the 2.0.5 clipped formulas).
* ``hard_sigmoid`` is ``clip(0.2 x + 0.5, 0, 1)`` in both; ``elu`` uses alpha 1.
* tf-keras's legacy optimizers increment ``iterations`` on every step; 2.0.5's SGD,
  RMSprop and Adagrad only when ``decay > 0``. Only the decayed lr reads it, and the only
  decaying case (``sgd_decay_mae``) counts in both, so the weights agree; optimizer
  state is not part of the fixtures.
* Gradients at non-differentiable points follow TF, which is also 2.0.5's backend:
  d|w|/dw = sign(w) = 0 at w = 0 (``sgd_regularized`` has an l1 bias regularizer on
  zero-initialised biases, and ``non_neg`` sets biases back to (-)0), relu' = 0 at 0,
  and mae's d|p - t| = sign(p - t).
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["CUDA_VISIBLE_DEVICES"] = ""

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_DIR = os.path.join(ROOT, "tests", "fixtures")

INPUT_DIM = 8
N_TRAIN = 40
N_TEST = 40
BATCH = 16  # train_on_batch uses x[:BATCH]
STEPS = 5
PREDICT_BATCH = 32
EVAL_BATCH = 32
EPSILON = 1e-8
FIT = {"batch_size": 8, "epochs": 3, "shuffle": False, "validation_split": 0.2}


def f32(v):
    """The float32 rounding of v, as a Python float (what tf-keras computes with)."""
    return float(np.float32(v))


def glorot(seed):
    return {"class_name": "GlorotUniform", "config": {"seed": seed}}


def layer(units, activation, kernel_initializer, **extra):
    spec = {
        "units": units,
        "activation": activation,
        "kernel_initializer": kernel_initializer,
        "bias_initializer": {"class_name": "Zeros", "config": {}},
        "kernel_regularizer": None,
        "bias_regularizer": None,
        "activity_regularizer": None,
        "kernel_constraint": None,
        "bias_constraint": None,
    }
    spec.update(extra)
    return spec


def l1l2(l1=0.0, l2=0.0):
    return {"l1": f32(l1), "l2": f32(l2)}


# Case definitions in Keras 2.0.5 terms. "target" selects how y is made (see make_data).
CASES = {
    "adam_cce": {
        "layers": [
            layer(16, "relu", glorot(101)),
            layer(16, "tanh", glorot(102)),
            layer(12, "sigmoid", glorot(103)),
            layer(3, "softmax", glorot(104)),
        ],
        "optimizer": ("Adam", {"lr": 0.01, "beta_1": 0.9, "beta_2": 0.999,
                               "epsilon": EPSILON, "decay": 0.0}),
        "loss": "categorical_crossentropy",
        "metrics": ["accuracy"],
        "target": "onehot3",
        "fit": True,
    },
    "sgd_nesterov_mse": {
        "layers": [
            layer(16, "elu", glorot(201)),
            layer(16, "softplus", glorot(202)),
            layer(3, "linear", glorot(203)),
        ],
        "optimizer": ("SGD", {"lr": 0.05, "momentum": 0.9, "decay": 0.0, "nesterov": True}),
        "loss": "mean_squared_error",
        "metrics": ["mae"],
        "target": "regression3",
    },
    "sgd_decay_mae": {
        "layers": [
            layer(16, "softsign", glorot(301)),
            layer(16, "relu", glorot(302)),
            layer(3, "linear", glorot(303)),
        ],
        "optimizer": ("SGD", {"lr": 0.1, "momentum": 0.0, "decay": 0.05, "nesterov": False}),
        "loss": "mean_absolute_error",
        "metrics": [],
        "target": "regression3",
    },
    "rmsprop_bce": {
        "layers": [
            layer(16, "relu", glorot(401)),
            # U(-1, 1) kernel: some hard_sigmoid inputs fall outside [-2.5, 2.5] (saturated).
            layer(16, "hard_sigmoid",
                  {"class_name": "RandomUniform",
                   "config": {"minval": -1.0, "maxval": 1.0, "seed": 402}}),
            layer(1, "sigmoid", glorot(403)),
        ],
        "optimizer": ("RMSprop", {"lr": 0.01, "rho": 0.9, "epsilon": EPSILON, "decay": 0.0}),
        "loss": "binary_crossentropy",
        "metrics": ["accuracy"],
        "target": "binary1",
    },
    "adagrad_scce": {
        "layers": [
            layer(16, "tanh", glorot(501)),
            layer(16, "relu", glorot(502)),
            layer(4, "softmax", glorot(503)),
        ],
        "optimizer": ("Adagrad", {"lr": 0.05, "epsilon": EPSILON, "decay": 0.0}),
        "loss": "sparse_categorical_crossentropy",
        "metrics": ["accuracy"],
        "target": "sparse4",
    },
    "sgd_regularized": {
        "layers": [
            # U(-1.2, 1.2) kernels: column norms scatter around 2, so max_norm(2) binds
            # for some columns and not for others.
            layer(16, "relu",
                  {"class_name": "RandomUniform",
                   "config": {"minval": -1.2, "maxval": 1.2, "seed": 601}},
                  kernel_regularizer=l1l2(l2=0.01),
                  bias_regularizer=l1l2(l1=0.01),
                  kernel_constraint={"class_name": "MaxNorm",
                                     "config": {"max_value": 2.0, "axis": 0}},
                  bias_constraint={"class_name": "NonNeg", "config": {}}),
            layer(3, "softmax", glorot(602),
                  kernel_regularizer=l1l2(l1=0.01, l2=0.02),
                  activity_regularizer=l1l2(l2=0.01)),
        ],
        "optimizer": ("SGD", {"lr": 0.1, "momentum": 0.5, "decay": 0.0, "nesterov": False}),
        "loss": "categorical_crossentropy",
        "metrics": ["accuracy"],
        "target": "onehot3",
        "evaluate_batch_size": N_TEST,
    },
}

LOSS_ALIASES = {"mse": "mean_squared_error", "mae": "mean_absolute_error"}


def resolve_metric(name, loss, out_dim):
    """(2.0.5 metrics_names entry, metric function name) for a compile() metric string."""
    if name in ("acc", "accuracy"):
        if out_dim == 1 or loss == "binary_crossentropy":
            return "acc", "binary_accuracy"
        if loss == "sparse_categorical_crossentropy":
            return "acc", "sparse_categorical_accuracy"
        return "acc", "categorical_accuracy"
    fn = LOSS_ALIASES.get(name, name)
    return fn, fn


# ----------------------------------------------------------------------------- data


def make_data(target, seed):
    rng = np.random.RandomState(seed)
    n = N_TRAIN + N_TEST
    x = rng.normal(size=(n, INPUT_DIM)).astype(np.float32)
    if target == "onehot3":
        w = rng.normal(size=(INPUT_DIM, 3))
        labels = np.argmax(x @ w + 0.5 * rng.normal(size=(n, 3)), axis=1)
        y = np.eye(3, dtype=np.float32)[labels]
    elif target == "regression3":
        w = rng.normal(size=(INPUT_DIM, 3)) / np.sqrt(INPUT_DIM)
        y = (np.tanh(x @ w) + 0.1 * rng.normal(size=(n, 3))).astype(np.float32)
    elif target == "binary1":
        w = rng.normal(size=(INPUT_DIM, 1))
        y = (x @ w + 0.5 * rng.normal(size=(n, 1)) > 0).astype(np.float32)
    elif target == "sparse4":
        w = rng.normal(size=(INPUT_DIM, 4))
        y = np.argmax(x @ w + 0.5 * rng.normal(size=(n, 4)), axis=1)
        y = y.astype(np.int32).reshape(n, 1)
    else:
        raise ValueError(target)
    return x[:N_TRAIN], y[:N_TRAIN], x[N_TRAIN:], y[N_TRAIN:]


# ---------------------------------------------------------------------- tf-keras side


def tf_regularizer(cfg, scale=1.0):
    if cfg is None:
        return None
    return keras.regularizers.L1L2(l1=cfg["l1"] * scale, l2=cfg["l2"] * scale)


def tf_constraint(cfg):
    if cfg is None:
        return None
    return keras.constraints.get(cfg)


def build_model(case, activity_scale):
    """A tf-keras Sequential for the case; activity regularizers are multiplied by
    activity_scale (the batch size) to undo tf-keras's division by the batch size."""
    model = keras.Sequential()
    for i, spec in enumerate(case["layers"]):
        kwargs = {"input_dim": INPUT_DIM} if i == 0 else {}
        model.add(keras.layers.Dense(
            spec["units"],
            activation=spec["activation"],
            kernel_initializer=keras.initializers.get(spec["kernel_initializer"]),
            bias_initializer=keras.initializers.get(spec["bias_initializer"]),
            kernel_regularizer=tf_regularizer(spec["kernel_regularizer"]),
            bias_regularizer=tf_regularizer(spec["bias_regularizer"]),
            activity_regularizer=tf_regularizer(spec["activity_regularizer"], activity_scale),
            kernel_constraint=tf_constraint(spec["kernel_constraint"]),
            bias_constraint=tf_constraint(spec["bias_constraint"]),
            **kwargs))
    return model


def tf_optimizer(class_name, cfg):
    legacy = keras.optimizers.legacy
    if class_name == "SGD":
        return legacy.SGD(learning_rate=cfg["lr"], momentum=cfg["momentum"],
                          nesterov=cfg["nesterov"], decay=cfg["decay"])
    if class_name == "Adam":
        return legacy.Adam(learning_rate=cfg["lr"], beta_1=cfg["beta_1"], beta_2=cfg["beta_2"],
                           epsilon=cfg["epsilon"], amsgrad=False, decay=cfg["decay"])
    if class_name == "RMSprop":
        return legacy.RMSprop(learning_rate=cfg["lr"], rho=cfg["rho"], momentum=0.0,
                              epsilon=cfg["epsilon"], centered=False, decay=cfg["decay"])
    if class_name == "Adagrad":
        return legacy.Adagrad(learning_rate=cfg["lr"], initial_accumulator_value=0.0,
                              epsilon=cfg["epsilon"], decay=cfg["decay"])
    raise ValueError(class_name)


def compiled(case, activity_scale, weights=None):
    model = build_model(case, activity_scale)
    if weights is not None:
        model.set_weights(weights)
    class_name, cfg = case["optimizer"]
    model.compile(optimizer=tf_optimizer(class_name, cfg), loss=case["loss"],
                  metrics=list(case["metrics"]))
    return model


def as_list(v):
    return [float(a) for a in v] if isinstance(v, (list, tuple)) else [float(v)]


def run_case(name, case, seed):
    keras.backend.clear_session()
    x, y, x_test, y_test = make_data(case["target"], seed)
    model = compiled(case, activity_scale=BATCH)
    init = [w.copy() for w in model.get_weights()]
    xb, yb = x[:BATCH], y[:BATCH]
    arrays = {"x": x, "y": y, "x_test": x_test, "y_test": y_test}
    arrays.update({f"init_{i}": w for i, w in enumerate(init)})

    losses, metrics = [], []
    for step in range(1, STEPS + 1):
        out = as_list(model.train_on_batch(xb, yb))
        losses.append(out[0])
        metrics.append(out[1:])
        if step == 1:
            arrays.update({f"after1_{i}": w for i, w in enumerate(model.get_weights())})
    arrays.update({f"afterK_{i}": w for i, w in enumerate(model.get_weights())})
    arrays["loss_steps"] = np.asarray(losses, np.float32)
    arrays["metric_steps"] = np.asarray(metrics, np.float32).reshape(STEPS, len(case["metrics"]))
    arrays["predict"] = model.predict(x_test, batch_size=PREDICT_BATCH, verbose=0)

    eval_batch = case.get("evaluate_batch_size", EVAL_BATCH)
    eval_model = model
    if any(s["activity_regularizer"] for s in case["layers"]):
        # One batch of eval_batch samples: rescale the activity regularizer to match.
        assert N_TEST == eval_batch
        eval_model = compiled(case, activity_scale=eval_batch, weights=model.get_weights())
    arrays["evaluate"] = np.asarray(
        as_list(eval_model.evaluate(x_test, y_test, batch_size=eval_batch, verbose=0)),
        np.float32)

    history_keys = []
    if case.get("fit"):
        fit_model = compiled(case, activity_scale=FIT["batch_size"], weights=init)
        hist = fit_model.fit(x, y, verbose=0, **FIT).history
        for key, values in hist.items():
            key = key.replace("accuracy", "acc")
            history_keys.append(key)
            arrays[f"fit_{key}"] = np.asarray(values, np.float32)
        arrays.update({f"fit_weights_{i}": w for i, w in enumerate(fit_model.get_weights())})
    return arrays, history_keys, eval_batch


def json_entry(name, case, seed, history_keys, eval_batch, weights):
    out_dim = case["layers"][-1]["units"]
    resolved = [resolve_metric(m, case["loss"], out_dim) for m in case["metrics"]]
    class_name, cfg = case["optimizer"]
    cfg = {k: (v if isinstance(v, bool) else f32(v)) for k, v in cfg.items()}
    y_kind = {"onehot3": "one-hot float32", "regression3": "float32",
              "binary1": "0/1 float32", "sparse4": "integer class ids, int32"}[case["target"]]
    return {
        "npz": f"{name}.npz",
        "input_dim": INPUT_DIM,
        "layers": case["layers"],
        "optimizer": {"class_name": class_name, "config": cfg},
        "loss": case["loss"],
        "metrics": list(case["metrics"]),
        "metrics_names": ["loss"] + [r[0] for r in resolved],
        "metric_functions": [r[1] for r in resolved],
        "target": {"kind": y_kind,
                   "shape": [N_TRAIN, 1 if case["target"] == "sparse4" else out_dim]},
        "data_seed": seed,
        "steps": STEPS,
        "batch": BATCH,
        "weight_shapes": [list(w.shape) for w in weights],
        "predict_batch_size": PREDICT_BATCH,
        "has_evaluate": True,
        "evaluate_batch_size": eval_batch,
        "fit": dict(FIT) if case.get("fit") else None,
        "history_keys": history_keys,
        "made_with": {"tensorflow": tf.__version__, "tf_keras": keras.__version__},
    }


# ------------------------------------------------------ independent numpy (Keras 2.0.5)

K_EPS = 1e-7


def act_fwd(name, z):
    if name == "relu":
        return np.maximum(z, 0)
    if name == "tanh":
        return np.tanh(z)
    if name == "sigmoid":
        return 1 / (1 + np.exp(-z))
    if name == "hard_sigmoid":
        return np.clip(0.2 * z + 0.5, 0, 1)
    if name == "elu":
        return np.where(z > 0, z, np.expm1(np.minimum(z, 0)))
    if name == "softplus":
        return np.logaddexp(0, z)
    if name == "softsign":
        return z / (1 + np.abs(z))
    if name == "linear":
        return z
    if name == "softmax":
        e = np.exp(z - z.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)
    raise ValueError(name)


def act_bwd(name, z, a, g):
    """Cotangent of z given cotangent g of a = act(z) (softmax: full Jacobian)."""
    if name == "relu":
        return g * (z > 0)
    if name == "tanh":
        return g * (1 - a * a)
    if name == "sigmoid":
        return g * a * (1 - a)
    if name == "hard_sigmoid":
        u = 0.2 * z + 0.5
        return g * 0.2 * ((u >= 0) & (u <= 1))
    if name == "elu":
        return g * np.where(z > 0, 1.0, a + 1)
    if name == "softplus":
        return g / (1 + np.exp(-z))
    if name == "softsign":
        return g / (1 + np.abs(z)) ** 2
    if name == "linear":
        return g
    if name == "softmax":
        return a * (g - (g * a).sum(-1, keepdims=True))
    raise ValueError(name)


def loss_fwd(loss, y, p):
    """Per-sample 2.0.5 loss values, shape (n,)."""
    if loss == "categorical_crossentropy":
        q = np.clip(p / p.sum(-1, keepdims=True), K_EPS, 1 - K_EPS)
        return -(y * np.log(q)).sum(-1)
    if loss == "sparse_categorical_crossentropy":
        q = np.clip(p, K_EPS, 1 - K_EPS)
        q = q / q.sum(-1, keepdims=True)
        return -np.log(q[np.arange(len(y)), y[:, 0].astype(int)])
    if loss == "binary_crossentropy":
        q = np.clip(p, K_EPS, 1 - K_EPS)
        return (-(y * np.log(q) + (1 - y) * np.log(1 - q))).mean(-1)
    if loss == "mean_squared_error":
        return ((p - y) ** 2).mean(-1)
    if loss == "mean_absolute_error":
        return np.abs(p - y).mean(-1)
    raise ValueError(loss)


def loss_grad_z(loss, y, p, z, activation):
    """d mean(loss) / d z for the output layer's pre-activation z."""
    n = len(y)
    if loss == "categorical_crossentropy" and activation == "softmax":
        return (p - y) / n
    if loss == "sparse_categorical_crossentropy" and activation == "softmax":
        return (p - np.eye(p.shape[1])[y[:, 0].astype(int)]) / n
    if loss == "binary_crossentropy" and activation == "sigmoid":
        return (p - y) / (n * p.shape[1])
    if loss == "mean_squared_error":
        g = 2 * (p - y) / (n * p.shape[1])
    elif loss == "mean_absolute_error":
        g = np.sign(p - y) / (n * p.shape[1])
    else:
        raise ValueError((loss, activation))
    return act_bwd(activation, z, p, g)


def metric_fwd(fn, y, p):
    if fn == "categorical_accuracy":
        return (y.argmax(-1) == p.argmax(-1)).astype(float)
    if fn == "sparse_categorical_accuracy":
        return (y[:, 0] == p.argmax(-1)).astype(float)
    if fn == "binary_accuracy":
        # np.round rounds half to even, as 2.0.5's K.round does.
        return (y == np.round(p)).mean(-1)
    return loss_fwd(fn, y, p)


def reg_value(cfg, w):
    if cfg is None:
        return 0.0
    return cfg["l1"] * np.abs(w).sum() + cfg["l2"] * (w * w).sum()


def reg_grad(cfg, w):
    if cfg is None:
        return 0.0
    return cfg["l1"] * np.sign(w) + 2 * cfg["l2"] * w


def np_forward(case, weights, x):
    acts, pre = [x.astype(np.float64)], []
    for i, spec in enumerate(case["layers"]):
        z = acts[-1] @ weights[2 * i] + weights[2 * i + 1]
        pre.append(z)
        acts.append(act_fwd(spec["activation"], z))
    return pre, acts


def np_test_batch(case, weights, x, y):
    """2.0.5 test_on_batch: [total loss, metrics...] for one batch."""
    pre, acts = np_forward(case, weights, x)
    p = acts[-1]
    total = loss_fwd(case["loss"], y, p).mean()
    for i, spec in enumerate(case["layers"]):
        total += reg_value(spec["kernel_regularizer"], weights[2 * i])
        total += reg_value(spec["bias_regularizer"], weights[2 * i + 1])
        total += reg_value(spec["activity_regularizer"], acts[i + 1])  # batch sum
    out_dim = case["layers"][-1]["units"]
    fns = [resolve_metric(m, case["loss"], out_dim)[1] for m in case["metrics"]]
    return np.array([total] + [metric_fwd(fn, y, p).mean() for fn in fns])


def np_evaluate(case, weights, x, y, batch_size):
    outs, sizes = [], []
    for s in range(0, len(x), batch_size):
        outs.append(np_test_batch(case, weights, x[s:s + batch_size], y[s:s + batch_size]))
        sizes.append(len(x[s:s + batch_size]))
    return np.average(np.array(outs), axis=0, weights=sizes)


def np_grads(case, weights, x, y):
    pre, acts = np_forward(case, weights, x)
    layers = case["layers"]
    last = len(layers) - 1
    gz = loss_grad_z(case["loss"], y, acts[-1], pre[-1], layers[-1]["activation"])
    grads = [None] * len(weights)
    for i in range(last, -1, -1):
        spec = layers[i]
        if spec["activity_regularizer"] is not None:
            ga = reg_grad(spec["activity_regularizer"], acts[i + 1])
            gz = gz + act_bwd(spec["activation"], pre[i], acts[i + 1], ga)
        grads[2 * i] = acts[i].T @ gz + reg_grad(spec["kernel_regularizer"], weights[2 * i])
        grads[2 * i + 1] = gz.sum(0) + reg_grad(spec["bias_regularizer"], weights[2 * i + 1])
        if i > 0:
            ga = gz @ weights[2 * i].T
            gz = act_bwd(layers[i - 1]["activation"], pre[i - 1], acts[i], ga)
    return grads


def np_constraint(cfg, w):
    if cfg is None:
        return w
    if cfg["class_name"] == "MaxNorm":
        axis = cfg["config"]["axis"]
        n = np.sqrt((w * w).sum(axis, keepdims=True))
        return w * np.clip(n, 0, cfg["config"]["max_value"]) / (K_EPS + n)
    if cfg["class_name"] == "NonNeg":
        return w * (w >= 0)
    raise ValueError(cfg)


class NpOptimizer:
    """The Keras 2.0.5 update rules (KERAS_API.md 4.3), float64."""

    def __init__(self, class_name, cfg, shapes, eps_inside_sqrt=False):
        self.kind, self.cfg, self.it = class_name, cfg, 0
        self.eps_inside = eps_inside_sqrt
        self.s1 = [np.zeros(s) for s in shapes]
        self.s2 = [np.zeros(s) for s in shapes]

    def _denom(self, a):
        eps = self.cfg["epsilon"]
        return np.sqrt(a + eps) if self.eps_inside else np.sqrt(a) + eps

    def step(self, weights, grads):
        c = self.cfg
        lr = c["lr"] / (1 + c.get("decay", 0.0) * self.it)
        t = self.it + 1
        new = []
        for j, (p, g) in enumerate(zip(weights, grads)):
            if self.kind == "SGD":
                v = c["momentum"] * self.s1[j] - lr * g
                self.s1[j] = v
                new.append(p + c["momentum"] * v - lr * g if c["nesterov"] else p + v)
            elif self.kind == "Adam":
                lr_t = lr * np.sqrt(1 - c["beta_2"] ** t) / (1 - c["beta_1"] ** t)
                self.s1[j] = c["beta_1"] * self.s1[j] + (1 - c["beta_1"]) * g
                self.s2[j] = c["beta_2"] * self.s2[j] + (1 - c["beta_2"]) * g * g
                new.append(p - lr_t * self.s1[j] / (np.sqrt(self.s2[j]) + c["epsilon"]))
            elif self.kind == "RMSprop":
                self.s1[j] = c["rho"] * self.s1[j] + (1 - c["rho"]) * g * g
                new.append(p - lr * g / self._denom(self.s1[j]))
            elif self.kind == "Adagrad":
                self.s1[j] = self.s1[j] + g * g
                new.append(p - lr * g / self._denom(self.s1[j]))
            else:
                raise ValueError(self.kind)
        self.it += 1
        return new


def np_train(case, cfg, weights, batches, eps_inside_sqrt=False):
    """2.0.5 train_on_batch over `batches`; returns per-step outputs and weight snapshots."""
    weights = [w.astype(np.float64) for w in weights]
    opt = NpOptimizer(case["optimizer"][0], cfg, [w.shape for w in weights], eps_inside_sqrt)
    outs, snaps = [], []
    for xb, yb in batches:
        outs.append(np_test_batch(case, weights, xb, yb))
        new = opt.step(weights, np_grads(case, weights, xb, yb))
        for i, spec in enumerate(case["layers"]):
            new[2 * i] = np_constraint(spec["kernel_constraint"], new[2 * i])
            new[2 * i + 1] = np_constraint(spec["bias_constraint"], new[2 * i + 1])
        weights = new
        snaps.append(weights)
    return np.array(outs), snaps


def max_rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b) / (np.abs(b) + 1e-3))) if a.size else 0.0


def check_case(name, case, entry, arrays):
    """Compare the tf-keras fixture with the numpy 2.0.5 reference; returns the max errors."""
    cfg = entry["optimizer"]["config"]
    n_w = len(entry["weight_shapes"])
    init = [arrays[f"init_{i}"] for i in range(n_w)]
    x, y = arrays["x"], arrays["y"]
    batches = [(x[:BATCH], y[:BATCH])] * STEPS
    outs, snaps = np_train(case, cfg, init, batches)
    rec = np.concatenate([arrays["loss_steps"][:, None], arrays["metric_steps"]], axis=1)
    err = {
        "step1_loss": max_rel(rec[0, 0], outs[0, 0]),
        "steps": max_rel(rec, outs),
        "after1": max(max_rel(arrays[f"after1_{i}"], snaps[0][i]) for i in range(n_w)),
        "afterK": max(max_rel(arrays[f"afterK_{i}"], snaps[-1][i]) for i in range(n_w)),
    }
    _, acts = np_forward(case, snaps[-1], arrays["x_test"])
    err["predict"] = max_rel(arrays["predict"], acts[-1])
    err["evaluate"] = max_rel(arrays["evaluate"], np_evaluate(
        case, snaps[-1], arrays["x_test"], arrays["y_test"], entry["evaluate_batch_size"]))
    if case["optimizer"][0] in ("RMSprop", "Adagrad"):
        _, inside = np_train(case, cfg, init, batches, eps_inside_sqrt=True)
        # Not a failure criterion: the size of the other epsilon convention (absolute).
        err["eps_inside_vs_outside_afterK"] = max(
            float(np.max(np.abs(inside[-1][i] - snaps[-1][i]))) for i in range(n_w))
    if entry["fit"]:
        err["fit"] = check_fit(case, entry, arrays, init)
    return err


def check_fit(case, entry, arrays, init):
    fit = entry["fit"]
    x, y = arrays["x"], arrays["y"]
    split = int(len(x) * (1 - fit["validation_split"]))
    bs = fit["batch_size"]
    xt, yt, xv, yv = x[:split], y[:split], x[split:], y[split:]
    weights = [w.astype(np.float64) for w in init]
    opt = NpOptimizer(case["optimizer"][0], entry["optimizer"]["config"],
                      [w.shape for w in weights])
    hist = {k: [] for k in entry["history_keys"]}
    names = entry["metrics_names"]
    for _ in range(fit["epochs"]):
        outs, sizes = [], []
        for s in range(0, split, bs):
            xb, yb = xt[s:s + bs], yt[s:s + bs]
            outs.append(np_test_batch(case, weights, xb, yb))
            sizes.append(len(xb))
            weights = opt.step(weights, np_grads(case, weights, xb, yb))
        epoch = np.average(np.array(outs), axis=0, weights=sizes)
        val = np_evaluate(case, weights, xv, yv, bs)
        for j, n in enumerate(names):
            hist[n].append(epoch[j])
            hist["val_" + n].append(val[j])
    err = max(max_rel(arrays[f"fit_{k}"], hist[k]) for k in hist)
    return max(err, max(max_rel(arrays[f"fit_weights_{i}"], weights[i])
                        for i in range(len(weights))))


# ------------------------------------------------------------------------------- main

TOLERANCE = 1e-4  # float32 tf-keras vs float64 numpy, relative with a 1e-3 floor


def main():
    keras.utils.set_random_seed(0)
    tf.config.experimental.enable_op_determinism()
    os.makedirs(OUT_DIR, exist_ok=True)
    manifest, failures = {}, []
    for index, (name, case) in enumerate(CASES.items()):
        seed = 1000 + index
        arrays, history_keys, eval_batch = run_case(name, case, seed)
        n_w = 2 * len(case["layers"])
        weights = [arrays[f"init_{i}"] for i in range(n_w)]
        entry = json_entry(name, case, seed, history_keys, eval_batch, weights)
        for key, value in arrays.items():
            if value.dtype == np.float64:
                arrays[key] = value.astype(np.float32)
            if not np.all(np.isfinite(arrays[key])):
                failures.append(f"{name}: non-finite {key}")
        np.savez_compressed(os.path.join(OUT_DIR, entry["npz"]), **arrays)
        manifest[name] = entry

        err = check_case(name, case, entry, arrays)
        losses = ", ".join(f"{v:.6f}" for v in arrays["loss_steps"])
        print(f"{name:18s} losses [{losses}]")
        print(f"{'':18s} " + "  ".join(f"{k}={v:.1e}" for k, v in err.items()))
        for key, value in err.items():
            if key != "eps_inside_vs_outside_afterK" and value > TOLERANCE:
                failures.append(f"{name}: {key} differs from the 2.0.5 reference by {value:.2e}")
        if np.ptp(arrays["loss_steps"]) == 0:
            failures.append(f"{name}: loss does not change")

    with open(os.path.join(OUT_DIR, "mlp_cases.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=False)
        f.write("\n")
    if failures:
        print("\n".join(failures), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
