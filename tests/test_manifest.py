"""Manifest verification: the edge refuses a model that is not the one its manifest describes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edge.detect.detector import Detector
from edge.detect.settings import DetectorSettings
from lineinspect.manifest import (
    ManifestError,
    ModelManifest,
    load_manifest,
    load_verified,
    manifest_path_for,
    record_metrics,
    sha256_file,
    verify_model,
    write_manifest,
)
from tests._tiny_onnx import make_const_model, random_preds, with_manifest

NAMES = ["scratch", "crack", "dent"]


def _model(tmp_path: Path, nc: int = 3, imgsz: tuple[int, int] = (320, 320),
           dynamic: bool = False, name: str = "m.onnx") -> Path:
    return make_const_model(tmp_path / name, random_preds(nc), imgsz, dynamic,
                            names=[f"c{i}" for i in range(nc)] if nc != 3 else NAMES)


def _refused_by_both(model: Path, manifest: ModelManifest, *phrases: str) -> None:
    """verify_model and the edge Detector (which reads <model>.json) both refuse, naming it."""
    write_manifest(manifest, manifest_path_for(model))
    with pytest.raises(ManifestError) as direct:
        verify_model(model, manifest)
    with pytest.raises(ManifestError) as edge:
        Detector(DetectorSettings(model=model, providers=["cpu"], warmup_runs=0))
    for msg in (str(direct.value), str(edge.value)):
        for phrase in phrases:
            assert phrase in msg, f"{phrase!r} not in {msg!r}"
        assert "Traceback" not in msg


def test_matching_model_loads(tmp_path: Path) -> None:
    model = _model(tmp_path)
    written = with_manifest(model, NAMES)
    manifest, io = load_verified(model)
    assert manifest == written
    assert (io.input_name, io.output_name, io.dynamic_batch) == ("images", "output0", False)
    assert manifest.output.channels == 7 and manifest.output.anchors == 2100
    assert manifest.sha256 == sha256_file(model)
    det = Detector(DetectorSettings(model=model, providers=["cpu"], warmup_runs=1))
    assert det.class_names == tuple(NAMES)


def test_sha256_mismatch_is_refused_naming_both_digests(tmp_path: Path) -> None:
    model = _model(tmp_path)
    manifest = with_manifest(model, NAMES)
    # Another model of exactly the same size: only the digest can tell them apart.
    other = make_const_model(tmp_path / "other.onnx", random_preds(3, seed=1), names=NAMES)
    model.write_bytes(other.read_bytes())
    _refused_by_both(model, manifest, "sha256", manifest.sha256, sha256_file(model))


def test_size_mismatch_is_refused(tmp_path: Path) -> None:
    model = _model(tmp_path)
    manifest = with_manifest(model, NAMES)
    with model.open("ab") as f:
        f.write(b"\0")
    _refused_by_both(model, manifest, "file size", f"{manifest.file_size} bytes")


def test_wrong_class_count_is_refused(tmp_path: Path) -> None:
    model = _model(tmp_path, nc=3)
    # A manifest claiming 4 classes for a 3-class model (digest and size are right).
    manifest = with_manifest(model, [*NAMES, "pit"])
    _refused_by_both(model, manifest, "output channels", "manifest expects 8 (4 classes",
                     "model has 7 (3 classes)")


def test_wrong_input_size_is_refused(tmp_path: Path) -> None:
    model = _model(tmp_path, imgsz=(256, 256))
    good = with_manifest(model, NAMES)
    manifest = with_manifest(model, NAMES, input=good.input.model_copy(update={"size": (320, 320)}))
    _refused_by_both(model, manifest, "input size", "[3, 320, 320]", "[3, 256, 256]")


def test_dynamic_batch_claim_must_match(tmp_path: Path) -> None:
    model = _model(tmp_path, dynamic=True)
    manifest = with_manifest(model, NAMES, dynamic_batch=False)
    _refused_by_both(model, manifest, "dynamic batch")


def test_class_names_must_match_onnx_metadata(tmp_path: Path) -> None:
    model = _model(tmp_path)
    manifest = with_manifest(model, ["scratch", "dent", "crack"])
    _refused_by_both(model, manifest, "class names")


def test_corrupt_file_gets_a_clear_message_not_a_protobuf_traceback(tmp_path: Path) -> None:
    model = _model(tmp_path)
    manifest = with_manifest(model, NAMES)
    data = bytearray(model.read_bytes())
    data[: len(data) // 2] = np.random.default_rng(0).integers(0, 256, len(data) // 2,
                                                              np.uint8).tobytes()
    model.write_bytes(bytes(data))
    # The manifest is re-pointed at the corrupt bytes: only the ONNX parse can catch it.
    manifest = manifest.model_copy(update={"sha256": sha256_file(model)})
    _refused_by_both(model, manifest, "is not a valid ONNX model", str(model))


def test_missing_model_file(tmp_path: Path) -> None:
    model = _model(tmp_path)
    manifest = with_manifest(model, NAMES)
    model.unlink()
    with pytest.raises(ManifestError, match="model file not found"):
        verify_model(model, manifest)


def test_missing_manifest_is_refused_by_the_edge(tmp_path: Path) -> None:
    model = _model(tmp_path)
    with pytest.raises(ManifestError, match=r"manifest not found: .*m\.json"):
        Detector(DetectorSettings(model=model, providers=["cpu"]))


@pytest.mark.parametrize(("content", "expected"), [
    ("{not json", "not valid JSON"),
    ('{"name": "x"}', "is invalid: version: Field required"),
])
def test_bad_manifest_json(tmp_path: Path, content: str, expected: str) -> None:
    path = tmp_path / "m.json"
    path.write_text(content)
    with pytest.raises(ManifestError, match=expected):
        load_manifest(path)


def test_unknown_manifest_key_is_rejected(tmp_path: Path) -> None:
    model = _model(tmp_path)
    with_manifest(model, NAMES)
    path = manifest_path_for(model)
    raw = json.loads(path.read_text())
    raw["clases"] = NAMES
    path.write_text(json.dumps(raw))
    with pytest.raises(ManifestError, match="clases: Extra inputs are not permitted"):
        load_manifest(path)


def test_recorded_metrics_keep_the_model_loadable(tmp_path: Path) -> None:
    model = _model(tmp_path)
    with_manifest(model, NAMES)
    record_metrics(manifest_path_for(model), {"mAP50": 0.9, "heldout": {"seed": 7}})
    updated = record_metrics(manifest_path_for(model), {"mAP50-95": 0.6})
    assert updated.metrics == {"mAP50": 0.9, "heldout": {"seed": 7}, "mAP50-95": 0.6}
    manifest, _ = load_verified(model)
    assert manifest.metrics == updated.metrics


def test_manifest_json_round_trip(tmp_path: Path) -> None:
    model = _model(tmp_path)
    manifest = with_manifest(model, NAMES)
    assert load_manifest(manifest_path_for(model)) == manifest
    assert manifest_path_for(Path("a/det-v1-int8.onnx")) == Path("a/det-v1-int8.json")
