"""MLflow registry round trip on a real (local SQLite) MLflow store."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import onnx
import pytest
from onnx import TensorProto, helper

from models.registry.mlflow_registry import pull_model, register_model


def _tiny_onnx(path: Path, scale: float) -> None:
    """A real, loadable ONNX graph (y = x * scale); the registry never looks inside."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])
    s = helper.make_tensor("s", TensorProto.FLOAT, [1], [scale])
    graph = helper.make_graph([helper.make_node("Mul", ["x", "s"], ["y"])], "g", [x], [y], [s])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))


def _exported(tmp: Path, name: str, scale: float) -> tuple[Path, Path]:
    model = tmp / f"{name}.onnx"
    _tiny_onnx(model, scale)
    manifest = model.with_suffix(".json")
    sha = hashlib.sha256(model.read_bytes()).hexdigest()
    manifest.write_text(json.dumps({"name": name, "version": "1", "sha256": sha,
                                    "metrics": {"mAP50": 0.9}}))
    return model, manifest


@pytest.mark.slow
def test_register_alias_and_pull(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    a, a_man = _exported(tmp_path, "det-a", 2.0)
    b, b_man = _exported(tmp_path, "det-b", 3.0)
    v1 = register_model(a, a_man, uri, alias="production")
    v2 = register_model(b, b_man, uri, alias="staging")
    assert (v1, v2) == (1, 2)

    prod = pull_model("production", tmp_path / "edge", uri)
    assert prod.read_bytes() == a.read_bytes()
    assert prod.with_suffix(".json").is_file()
    stag = pull_model("staging", tmp_path / "edge2", uri)
    assert stag.read_bytes() == b.read_bytes()

    # Promote staging: the production alias now resolves to version 2.
    register_model(b, b_man, uri, alias="production")
    again = pull_model("production", tmp_path / "edge3", uri)
    assert again.read_bytes() == b.read_bytes()


def test_register_refuses_mismatching_manifest(tmp_path: Path) -> None:
    model, manifest = _exported(tmp_path, "det", 2.0)
    _tiny_onnx(model, 5.0)  # the file changed after its manifest was written
    with pytest.raises(ValueError, match="sha256"):
        register_model(model, manifest, f"sqlite:///{tmp_path / 'm.db'}", alias="staging")


def test_unknown_alias_rejected(tmp_path: Path) -> None:
    model, manifest = _exported(tmp_path, "det", 2.0)
    with pytest.raises(ValueError, match="alias"):
        register_model(model, manifest, f"sqlite:///{tmp_path / 'm.db'}", alias="prod")


def _with_checkpoint(model: Path, manifest: Path, payload: bytes) -> Path:
    ckpt = model.with_suffix(".pt")
    ckpt.write_bytes(payload)
    meta = json.loads(manifest.read_text())
    meta["checkpoint"] = {"file": ckpt.name, "sha256": hashlib.sha256(payload).hexdigest(),
                          "file_size": len(payload), "format": "ultralytics", "imgsz": 416}
    manifest.write_text(json.dumps(meta))
    return ckpt


@pytest.mark.slow
def test_pull_brings_the_checkpoint_the_manifest_names(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    model, manifest = _exported(tmp_path, "det", 2.0)
    ckpt = _with_checkpoint(model, manifest, b"weights-v3")
    register_model(model, manifest, uri, alias="production")
    pulled = pull_model("production", tmp_path / "edge", uri)
    assert (pulled.parent / ckpt.name).read_bytes() == b"weights-v3"


def test_register_refuses_a_checkpoint_that_changed(tmp_path: Path) -> None:
    model, manifest = _exported(tmp_path, "det", 2.0)
    ckpt = _with_checkpoint(model, manifest, b"weights-v3")
    ckpt.write_bytes(b"tampered!!")
    with pytest.raises(ValueError, match="sha256"):
        register_model(model, manifest, f"sqlite:///{tmp_path / 'm.db'}", alias="staging")
