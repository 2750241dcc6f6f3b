"""Refiner export: one self-contained ONNX that onnxruntime runs, equal to PyTorch, with a
manifest the edge runtime accepts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

from edge.refine.manifest import load_refiner_manifest
from edge.refine.model import Refiner
from lineinspect.manifest import manifest_path_for, sha256_file
from models.export.refiner import INPUT, OUTPUTS, RefinerExportConfig, export_refiner
from models.train.refiner import load_refiner
from models.train.refiner_model import RefinerGraph, build_model
from tests._refiner_tiny import built_checkpoint


@pytest.fixture(scope="module", params=["swin", "resnet"])
def exported(tmp_path_factory: pytest.TempPathFactory,
             request: pytest.FixtureRequest) -> tuple[Path, Path]:
    """Both backbones the refiner can be built with export to a graph onnxruntime runs."""
    work = tmp_path_factory.mktemp(f"refiner-export-{request.param}")
    ckpt = built_checkpoint(work / "tiny.pt", backbone=request.param)
    (path,) = export_refiner(RefinerExportConfig(checkpoint=ckpt, out=work / "art", name="tiny"))
    return ckpt, path


def test_onnx_matches_torch_on_a_batch(exported: tuple[Path, Path]) -> None:
    ckpt, path = exported
    assert not list(path.parent.glob("*.data"))  # weights inside the one file
    model, arch, _ = load_refiner(ckpt)
    s = arch.input_size
    crops = np.random.default_rng(0).integers(0, 256, (3, s, s, 3), dtype=np.uint8)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = sess.run(list(OUTPUTS), {INPUT: crops})
    with torch.no_grad():
        want = [t.numpy() for t in RefinerGraph(model)(torch.from_numpy(crops))]
    assert got[0].shape == (3, arch.num_queries, len(arch.class_names) + 1)
    assert got[1].shape == (3, arch.num_queries, s // 4, s // 4)
    for g, w in zip(got, want, strict=True):
        assert float(np.abs(g - w).max()) < 1e-3


def test_manifest_describes_the_file(exported: tuple[Path, Path]) -> None:
    ckpt, path = exported
    m = load_refiner_manifest(manifest_path_for(path))
    assert m.sha256 == sha256_file(path) and m.file == path.name
    assert m.input.size == 64 and m.crop.pad == 0.25 and m.crop.min_side == 24.0
    assert m.class_names == ["scratch", "crack", "dent"]
    _, arch, _ = load_refiner(ckpt)
    assert m.architecture == f"mask2former-{arch.backbone}"  # what a reader of the manifest sees
    assert max(m.metrics["export_parity"].values()) < 1e-3
    r = Refiner(path)
    crops = np.zeros((2, 64, 64, 3), np.uint8)
    assert len(r.refine_batch(crops, ["dent", None])) == 2 and r.last_ms > 0


def test_the_weights_ship_beside_the_onnx_and_warm_start_a_run(
        exported: tuple[Path, Path]) -> None:
    """A longer or a line's own training starts from the shipped refiner (train-refiner --init
    takes the weights file the manifest names), not from scratch."""
    ckpt, path = exported
    m = load_refiner_manifest(manifest_path_for(path))
    assert m.checkpoint is not None and m.checkpoint.format == "lineinspect-refiner"
    weights = path.parent / m.checkpoint.file
    assert m.checkpoint.sha256 == sha256_file(weights)
    warm = torch.load(weights, map_location="cpu", weights_only=False)
    model, arch, _ = load_refiner(ckpt)
    fresh = build_model(arch)
    fresh.load_state_dict(warm["model"])  # fp16 on disk, into the fp32 parameters
    for name, p in fresh.state_dict().items():
        want = model.state_dict()[name]
        assert p.dtype == want.dtype and torch.allclose(p, want, rtol=1e-2, atol=1e-3), name
