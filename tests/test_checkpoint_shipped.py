"""The shipped detector's trainable checkpoint: named and verified by the manifest, and the same
network as the ONNX the edge runs (so fine-tuning starts from what ships, not from scratch)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from lineinspect.manifest import ManifestError, checkpoint_path, load_manifest, manifest_path_for
from lineinspect.render.video import ConveyorScene
from tests._models import offline_ultralytics, shipped_detector


def test_manifests_name_a_checkpoint_that_verifies() -> None:
    model = shipped_detector()
    ckpt = checkpoint_path(model, load_manifest(manifest_path_for(model)))
    assert ckpt.suffix == ".pt" and ckpt.stat().st_size < 15_000_000
    int8 = model.with_name(model.stem + "-int8.onnx")
    assert checkpoint_path(int8, load_manifest(manifest_path_for(int8))) == ckpt


def test_a_changed_checkpoint_is_refused(tmp_path: Path) -> None:
    model = shipped_detector()
    for f in (model, manifest_path_for(model), model.with_suffix(".pt")):
        shutil.copy(f, tmp_path / f.name)
    copy = tmp_path / model.name
    with (tmp_path / model.with_suffix(".pt").name).open("ab") as fh:
        fh.write(b"\0")
    with pytest.raises(ManifestError, match="checkpoint"):
        checkpoint_path(copy, load_manifest(manifest_path_for(copy)))


@pytest.mark.slow
def test_checkpoint_computes_what_the_onnx_computes() -> None:
    import onnxruntime as ort
    import torch

    from edge.detect.letterbox import compute_geometry, fill_padding, letterbox_into
    offline_ultralytics()
    model = shipped_detector()
    man = load_manifest(manifest_path_for(model))
    ckpt = torch.load(checkpoint_path(model, man), map_location="cpu", weights_only=False)
    net = ckpt["model"].float().eval()
    size = man.input.size[0]
    img, _ = ConveyorScene(seed=3).render(40)
    geom = compute_geometry(img.shape[:2], (size, size))
    x = np.empty((1, 3, size, size), np.float32)
    fill_padding(x[0], geom, man.input.letterbox.pad_value)
    letterbox_into(img, geom, x[0])
    with torch.no_grad():
        ours = net(torch.from_numpy(x))[0].numpy()
    ref = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"]).run(
        None, {man.input.name: x})[0]
    assert ours.shape == ref.shape
    # fp16 weights: class scores within 0.02 of the fp32 export everywhere, and the boxes of the
    # anchors that would become detections within 1.5 px (rounding, not another network).
    assert np.abs(ours[:, 4:] - ref[:, 4:]).max() < 0.02
    confident = ref[0, 4:].max(axis=0) > 0.25
    assert confident.sum() >= 3
    assert np.abs(ours[0, :4, confident] - ref[0, :4, confident]).max() < 1.5


@pytest.mark.slow
def test_recovered_checkpoint_is_the_exported_network(tmp_path: Path) -> None:
    """`models recover-checkpoint`: fused ONNX weights back into a trainable model, exactly."""
    import onnxruntime as ort
    import torch

    from models.train.recover import checkpoint_from_onnx

    offline_ultralytics()
    model = shipped_detector()
    man = load_manifest(manifest_path_for(model))
    size = man.input.size[0]
    net = checkpoint_from_onnx(model, list(man.class_names), size)["model"].eval()
    x = np.random.default_rng(0).random((1, 3, size, size), dtype=np.float32)
    with torch.no_grad():
        ours = net(torch.from_numpy(x))[0].numpy()
    ref = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"]).run(
        None, {man.input.name: x})[0]
    assert np.abs(ours - ref).max() < 0.02  # float rounding on values up to the input size
