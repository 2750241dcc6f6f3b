"""The edge refiner runtime (edge/refine/model.py) with the shipped artifact: it loads, refuses
a corrupted or mismatched file with an error naming the problem, and on held-out crops returns
masks far better than a trivial mask."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from edge.refine.model import SHIPPED_REFINER, RefinedMask, Refiner
from lineinspect.classes import DEFECT_CLASSES
from lineinspect.crops import paste_mask
from lineinspect.manifest import ManifestError, manifest_path_for
from models.data.refiner_crops import make_crops
from models.eval.masks import mask_iou


@pytest.fixture(scope="module")
def refiner() -> Refiner:
    return Refiner()


def test_shipped_artifact_loads_with_its_crop_geometry(refiner: Refiner) -> None:
    assert SHIPPED_REFINER.name == "lineinspect-refiner-v1.onnx" and SHIPPED_REFINER.is_file()
    assert SHIPPED_REFINER.stat().st_size < 10 * 2**20
    assert refiner.class_names == DEFECT_CLASSES
    assert (refiner.input_size, refiner.pad, refiner.min_side) == (160, 0.25, 24.0)
    assert 0 < refiner.mask_threshold < 1


def _copy(tmp_path: Path) -> Path:
    dst = tmp_path / SHIPPED_REFINER.name
    shutil.copy(SHIPPED_REFINER, dst)
    shutil.copy(manifest_path_for(SHIPPED_REFINER), manifest_path_for(dst))
    return dst


def test_corrupted_file_is_refused_naming_the_sha(tmp_path: Path) -> None:
    path = _copy(tmp_path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ManifestError, match="sha256"):
        Refiner(path)


@pytest.mark.parametrize(("field", "value", "match"), [
    (("input", "size"), 128, "input shape"),
    (("outputs", "mask_logits"), "masks", "output names"),
    (("file_size",), 123, "file size"),
])
def test_manifest_that_does_not_match_the_model_is_refused(tmp_path: Path, field: tuple[str, ...],
                                                           value: object, match: str) -> None:
    path = _copy(tmp_path)
    manifest = json.loads(manifest_path_for(path).read_text())
    node = manifest
    for key in field[:-1]:
        node = node[key]
    node[field[-1]] = value
    manifest_path_for(path).write_text(json.dumps(manifest))
    with pytest.raises(ManifestError, match=match):
        Refiner(path)


def test_missing_manifest_is_named(tmp_path: Path) -> None:
    path = _copy(tmp_path)
    manifest_path_for(path).unlink()
    with pytest.raises(ManifestError, match="manifest not found"):
        Refiner(path)


def test_wrong_crop_is_refused_and_an_empty_batch_is_empty(refiner: Refiner) -> None:
    with pytest.raises(ValueError, match="uint8"):
        refiner.refine(np.zeros((128, 128, 3), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        refiner.refine(np.zeros((160, 160, 3), np.float32))
    assert refiner.refine_batch(np.zeros((0, 160, 160, 3), np.uint8), []) == []


def test_held_out_masks_beat_the_trivial_mask(refiner: Refiner) -> None:
    samples = make_crops(24, seed=4242, size=refiner.input_size, world="heldout",
                         keep_frame_mask=True)
    crops = np.stack([s.image for s in samples])
    names = [DEFECT_CLASSES[int(s.classes[0])] for s in samples]
    got = refiner.refine_batch(crops, names)
    ious, trivial = [], []
    full = np.ones((refiner.input_size,) * 2, np.float32)  # the whole window as the mask
    for s, g in zip(samples, got, strict=True):
        assert s.frame_mask is not None
        h, w = s.frame_mask.shape
        trivial.append(mask_iou(paste_mask(full, s.window, w, h).full(w, h), s.frame_mask))
        if g is None:
            ious.append(0.0)
            continue
        assert isinstance(g, RefinedMask) and g.prob.shape == full.shape
        assert g.prob.dtype == np.float32 and 0.0 <= g.score <= 1.0
        pred = paste_mask(g.prob, s.window, w, h, refiner.mask_threshold).full(w, h)
        ious.append(mask_iou(pred, s.frame_mask))
    print(f"mean IoU {np.mean(ious):.3f} vs whole window {np.mean(trivial):.3f}")
    assert np.mean(ious) > 0.38 and np.mean(ious) > 2 * np.mean(trivial)
    one = refiner.refine(crops[0], names[0])  # the single-crop path agrees with the batch
    assert one is not None and got[0] is not None
    assert np.allclose(one.prob, got[0].prob, atol=1e-4) and one.class_name == got[0].class_name
