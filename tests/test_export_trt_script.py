"""scripts/build_trt_engine.sh: the trtexec command it would run (no GPU here: --dry-run).

TensorRT itself cannot run on this machine; what is tested is everything the script decides
before calling trtexec: manifest reading, the sha256 refusal, precision flags, batch profiles.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests._models import REPO
from tests._tiny_onnx import make_const_model, random_preds, with_manifest

SCRIPT = REPO / "scripts" / "build_trt_engine.sh"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True,
                          timeout=60, check=False)


def _model(tmp_path: Path, dynamic: bool, precision: str = "fp32") -> Path:
    path = make_const_model(tmp_path / f"det-{precision}.onnx", random_preds(3), (320, 320),
                            dynamic)
    with_manifest(path, ["a", "b", "c"], precision=precision)
    return path


def test_fixed_batch_fp32_builds_fp16_engine(tmp_path: Path) -> None:
    model = _model(tmp_path, dynamic=False)
    res = _run(str(model), "--dry-run")
    assert res.returncode == 0, res.stderr
    cmd = res.stdout.split()
    assert cmd[0] == "trtexec" and f"--onnx={model}" in cmd and "--fp16" in cmd
    assert f"--saveEngine={tmp_path / 'det-fp32-fp16-b1.engine'}" in cmd
    assert not any(c.startswith("--minShapes") for c in cmd)


def test_dynamic_int8_model_gets_a_batch_profile_and_int8(tmp_path: Path) -> None:
    model = _model(tmp_path, dynamic=True, precision="int8")
    res = _run(str(model), "--max-batch", "6", "--dry-run", "--trtexec", "/opt/trt/trtexec")
    assert res.returncode == 0, res.stderr
    cmd = res.stdout.split()
    assert cmd[0] == "/opt/trt/trtexec" and "--int8" in cmd and "--fp16" in cmd
    assert "--minShapes=images:1x3x320x320" in cmd
    assert "--maxShapes=images:6x3x320x320" in cmd and "--optShapes=images:6x3x320x320" in cmd


def test_refuses_a_model_that_does_not_match_its_manifest(tmp_path: Path) -> None:
    model = _model(tmp_path, dynamic=False)
    with model.open("ab") as f:
        f.write(b"x")
    res = _run(str(model), "--dry-run")
    assert res.returncode == 2
    assert "sha256" in res.stderr and "does not match its manifest" in res.stderr
    assert res.stdout == ""


@pytest.mark.parametrize(("args", "message"), [
    (["--precision", "int8"], "needs an int8 (QDQ) model"),
    (["--max-batch", "0"], "--max-batch must be a positive integer"),
    (["--bogus"], "unknown option"),
])
def test_bad_options_are_named(tmp_path: Path, args: list[str], message: str) -> None:
    res = _run(str(_model(tmp_path, dynamic=False)), *args, "--dry-run")
    assert res.returncode == 2 and message in res.stderr


def test_missing_manifest(tmp_path: Path) -> None:
    model = make_const_model(tmp_path / "m.onnx", random_preds(3))
    res = _run(str(model), "--dry-run")
    assert res.returncode == 2 and "manifest not found" in res.stderr


def test_without_trtexec_it_says_how_to_get_it(tmp_path: Path) -> None:
    res = _run(str(_model(tmp_path, dynamic=False)))
    assert res.returncode == 2 and "trtexec not found" in res.stderr
