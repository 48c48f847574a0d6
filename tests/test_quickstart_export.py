"""The quickstart example trains to high accuracy; exported models serve without kgraph."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import onnx

import kgraph.backend as K
from kgraph.layers import Dense, Dropout
from kgraph.models import Sequential

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))


def test_quickstart_mlp_reaches_high_accuracy(tmp_path):
    import quickstart

    acc = quickstart.main(epochs=15, verbose=0, out_dir=str(tmp_path))
    assert acc > 0.95
    assert (tmp_path / "digits_mlp.onnx").exists()


def test_export_serves_in_plain_onnxruntime_at_another_batch_size(tmp_path):
    K.clear_session()
    np.random.seed(3)
    model = Sequential([Dense(8, activation="tanh", input_dim=5), Dropout(0.3), Dense(2, activation="softmax")])
    model.compile("adam", "categorical_crossentropy")
    x = np.random.rand(64, 5).astype("float32")
    y = np.eye(2, dtype="float32")[np.random.randint(0, 2, 64)]
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    path = tmp_path / "m.onnx"
    model.export(str(path))
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto)
    assert [i.name for i in proto.graph.input] == ["dense_1_input"]
    assert [o.name for o in proto.graph.output] == ["dense_2"]
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    assert {p.key for p in proto.metadata_props} >= {"kgraph_version", "keras_config"}
    assert all(n.domain in ("", "ai.onnx") for n in proto.graph.node)
    x_new = np.random.rand(7, 5).astype("float32")
    np.save(tmp_path / "x.npy", x_new)
    script = textwrap.dedent(
        f"""
        import sys, numpy as np, onnxruntime as ort
        s = ort.InferenceSession({str(path)!r}, providers=["CPUExecutionProvider"])
        out = s.run(None, {{"dense_1_input": np.load({str(tmp_path / 'x.npy')!r})}})[0]
        np.save({str(tmp_path / 'out.npy')!r}, out)
        assert "kgraph" not in sys.modules
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, cwd=tmp_path)
    np.testing.assert_allclose(np.load(tmp_path / "out.npy"), model.predict(x_new), rtol=1e-6, atol=1e-7)
