"""Golden fixtures for `kgraph.applications`, made by real Keras (tf-keras 2.21).

What it makes
-------------
``tests/fixtures/applications/`` holds

* ``structure.json``: for VGG16, VGG19, InceptionV3 and Xception built with
  ``include_top=False, weights=None`` at the small input sizes of
  ``tests/applications_cases.GOLDEN``: per layer (in ``model.layers`` order) its class,
  its name where Keras 2.0.5 gives it one explicitly (``None`` for automatic names such
  as ``conv2d_3``, which differ between frameworks), and its weights' short names and
  shapes. These four architectures are the same in tf-keras and Keras 2.0.5 (same
  layers, order, names and weight shapes; tf-keras only lowered InceptionV3's minimum
  size from 139 to 75). ResNet50 is not among them: tf-keras rewrote it with other names
  and a global pooling top.
* ``predictions.npz``: the outputs of the same models loaded with
  ``applications_cases.deterministic_weight`` (set per layer, in order) for
  ``golden_input(name)`` (key = model name; the inputs are regenerated, not stored).
* ``vgg16_block1.h5``: ``save_weights`` of VGG16's first block (input -> block1_pool,
  38,720 parameters, about 160 KB) with the deterministic weights, and in
  ``predictions.npz`` under ``VGG16_block1`` that sub-model's output for
  ``applications_cases.BLOCK1_INPUT`` (16x16). The whole network's weights (59 MB) are
  too large to store.

How to run
----------
TensorFlow is needed only here, never by the test suite::

    cd <repo root> && /work/venv-tf/bin/python tools/make_applications_fixtures.py
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402
from applications_cases import (  # noqa: E402
    BLOCK1_INPUT,
    GOLDEN,
    golden_input,
    set_deterministic,
)

OUT = ROOT / "tests" / "fixtures" / "applications"
AUTO_NAME = re.compile(r"^(input|conv2d|batch_normalization|activation|add|concatenate|"
                       r"max_pooling2d|average_pooling2d)(_\d+)?$")  # fmt: skip


def _structure(model: keras.Model) -> list[dict]:
    rows = []
    for layer in model.layers:
        rows.append({
            "class": type(layer).__name__,
            "name": None if AUTO_NAME.match(layer.name) else layer.name,
            "weights": [[w.name.split("/")[-1], list(w.shape)] for w in layer.weights],
        })  # fmt: skip
    return rows


def main() -> None:
    tf.random.set_seed(0)
    OUT.mkdir(parents=True, exist_ok=True)
    structure, arrays = {}, {}
    for name, (shape, _) in GOLDEN.items():
        keras.backend.clear_session()
        model = getattr(keras.applications, name)(include_top=False, weights=None,
                                                  input_shape=shape)  # fmt: skip
        set_deterministic(model)
        x = golden_input(name)
        structure[name] = _structure(model)
        arrays[name] = model.predict(x, verbose=0)
        print(name, len(model.layers), model.count_params(), arrays[name].shape)
    keras.backend.clear_session()
    vgg = keras.applications.VGG16(include_top=False, weights=None)  # any input size
    set_deterministic(vgg)
    block1 = keras.Model(vgg.input, vgg.get_layer("block1_pool").output)
    block1.save_weights(str(OUT / "vgg16_block1.h5"))
    arrays["VGG16_block1"] = block1.predict(BLOCK1_INPUT, verbose=0)
    (OUT / "structure.json").write_text(json.dumps(structure, separators=(",", ":")) + "\n")
    np.savez_compressed(OUT / "predictions.npz", **arrays)


if __name__ == "__main__":
    main()
