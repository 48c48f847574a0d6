"""The `kgraph` command line: converts a real tf-keras file to ONNX, describes files, and
reports errors with exit status 1 (unusable input) or 2 (usage)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from kgraph.cli import main

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "saving"


def _run_module(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run([sys.executable, "-m", "kgraph", *args], capture_output=True, text=True,
                          cwd=cwd, env=env)  # fmt: skip


def test_python_m_kgraph_converts_a_tf_keras_file_to_onnx(tmp_path):
    out = tmp_path / "conv.onnx"
    run = _run_module("convert", str(FIXTURES / "tfk_conv_rmsprop.h5"), str(out), cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "Wrote" in run.stdout and "inference graph" in run.stdout
    proto = onnx.load(str(out))
    onnx.checker.check_model(proto)
    expected = np.load(FIXTURES / "tfk_conv_rmsprop.npz")
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    (got,) = sess.run(None, {proto.graph.input[0].name: expected["x"]})
    np.testing.assert_allclose(got, expected["predict"], rtol=1e-5, atol=1e-6)


def test_convert_training_and_opset(tmp_path, capsys):
    out = tmp_path / "step.onnx"
    assert main(["convert", str(FIXTURES / "tfk_mlp_adam.h5"), str(out), "--training"]) == 0
    assert "train step" in capsys.readouterr().out
    proto = onnx.load(str(out))
    assert [o.name for o in proto.graph.output][:2] == ["loss", "acc"]
    assert main(["convert", str(FIXTURES / "tfk_mlp_adam.h5"), str(tmp_path / "m17.onnx"), "--opset", "17"]) == 0
    assert onnx.load(str(tmp_path / "m17.onnx")).opset_import[0].version == 17


def test_summary_of_model_weight_and_onnx_files(tmp_path, capsys):
    assert main(["summary", str(FIXTURES / "tfk_functional_sgd.h5")]) == 0
    text = capsys.readouterr().out
    assert "Keras model file (keras_version 2.21.0" in text
    assert "inner (Sequential)" in text and "Total params: 48" in text
    assert "Training config: optimizer SGD" in text and "Optimizer state: 7 weights" in text
    assert main(["summary", str(FIXTURES / "tfk_functional_weights.h5")]) == 0
    text = capsys.readouterr().out
    assert "Keras weight file" in text and "out_a/kernel:0" in text and "(7, 2)" in text
    out = tmp_path / "m.onnx"
    assert main(["convert", str(FIXTURES / "tfk_functional_sgd.h5"), str(out)]) == 0
    capsys.readouterr()
    assert main(["summary", str(out)]) == 0
    text = capsys.readouterr().out
    assert "in_a: float32[batch, 5]" in text and "out_b: float32[batch, 1]" in text
    assert "Metadata kgraph_version" in text and "opset ai.onnx 18" in text


def test_help_usage_errors_and_user_errors_have_distinct_exit_codes(tmp_path, capsys):
    assert main(["--help"]) == 0
    assert "convert" in capsys.readouterr().out
    assert main(["convert", "--help"]) == 0
    assert "--training" in capsys.readouterr().out
    assert main([]) == 2
    assert "a command is required" in capsys.readouterr().err
    assert main(["convert"]) == 2
    assert main(["frobnicate"]) == 2
    capsys.readouterr()
    assert main(["convert", str(tmp_path / "missing.h5"), str(tmp_path / "x.onnx")]) == 1
    assert "missing.h5: no such file" in capsys.readouterr().err
    (tmp_path / "junk.h5").write_bytes(b"\x00" * 64)
    assert main(["convert", str(tmp_path / "junk.h5"), str(tmp_path / "x.onnx")]) == 1
    assert "not a readable HDF5 file" in capsys.readouterr().err
    assert main(["convert", str(FIXTURES / "tfk_functional_weights.h5"), str(tmp_path / "x.onnx")]) == 1
    assert "holds only weights" in capsys.readouterr().err
    (tmp_path / "junk.onnx").write_bytes(b"\xff" * 64)
    assert main(["summary", str(tmp_path / "junk.onnx")]) == 1
    assert "not a readable ONNX file" in capsys.readouterr().err
    (tmp_path / "notes.txt").write_text("hello")
    assert main(["summary", str(tmp_path / "notes.txt")]) == 1
    assert "unknown file type" in capsys.readouterr().err
    assert not (tmp_path / "x.onnx").exists()


def test_the_console_script_entry_point_is_declared():
    text = (ROOT / "pyproject.toml").read_text()
    section = text.split("[project.scripts]", 1)[1].split("\n[", 1)[0]
    assert section.strip() == 'kgraph = "kgraph.__main__:main"'
    import kgraph.__main__ as entry

    assert entry.main is main


@pytest.mark.parametrize("argv", [["--version"]])
def test_version(argv, capsys):
    import kgraph

    assert main(argv) == 0
    assert capsys.readouterr().out.strip() == f"kgraph {kgraph.__version__}"
