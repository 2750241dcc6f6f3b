"""Parity: our runtime's detections equal ultralytics' own ``predict`` of the same ONNX model.

Same images (rendered by our synthetic generator, several frame shapes so the letterbox really
pads), same conf/iou/max_det. Every ultralytics box must be matched by one of ours with the same
class, IoU >= 0.95 and |score difference| <= 0.01, and the counts must be equal.
ultralytics is a test-only dependency here; the runtime never imports it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from edge.detect.detector import Detector
from edge.detect.settings import DetectorSettings
from tests._models import offline_ultralytics, shipped_detector

# (height, width, seed): square, landscape, portrait, odd padding, small (upscaled).
FRAMES = [(320, 320, 1), (320, 320, 2), (480, 640, 3), (640, 480, 4), (300, 401, 5),
          (720, 1280, 6), (240, 240, 7), (320, 320, 8)]
SEED_BASE = 90_000  # far from the training/validation seeds


def _frames(tmp_path: Path) -> list[Path]:
    """Rendered frames saved losslessly, so both sides read identical pixels from disk."""
    from lineinspect.render.params import PRESETS
    from lineinspect.render.scene import render_image

    paths = []
    for h, w, seed in FRAMES:
        img, _ = render_image(np.random.default_rng([SEED_BASE, seed]), h, w, PRESETS["train"])
        path = tmp_path / f"frame-{seed}.png"
        cv2.imwrite(str(path), img)
        paths.append(path)
    return paths


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of one box ``a`` (4,) against boxes ``b`` (N, 4)."""
    w = np.clip(np.minimum(a[2], b[:, 2]) - np.maximum(a[0], b[:, 0]), 0, None)
    h = np.clip(np.minimum(a[3], b[:, 3]) - np.maximum(a[1], b[:, 1]), 0, None)
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]) - inter
    return np.asarray(inter / np.maximum(union, 1e-9))


@pytest.fixture(scope="module")
def model() -> Path:
    return shipped_detector()


@pytest.mark.parametrize(("conf", "iou"), [(0.25, 0.7), (0.1, 0.45)])
def test_detections_match_ultralytics_predict(model: Path, tmp_path: Path, conf: float,
                                              iou: float) -> None:
    offline_ultralytics()
    from ultralytics import YOLO

    frames = _frames(tmp_path)
    ours = Detector(DetectorSettings(model=model, providers=["cpu"], conf_threshold=conf,
                                     iou_threshold=iou, max_detections=300))
    theirs: Any = YOLO(str(model), task="detect")
    imgsz = list(ours.input_hw)
    total = 0
    for path in frames:
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
        assert img is not None
        mine = ours.detect(img)
        res: Any = theirs.predict(img, imgsz=imgsz, conf=conf, iou=iou, max_det=300, device="cpu",
                             verbose=False)[0]
        t_xyxy = res.boxes.xyxy.numpy()
        t_score = res.boxes.conf.numpy()
        t_cls = res.boxes.cls.numpy().astype(int)
        assert len(mine) == len(t_score), (
            f"{path.name}: {len(mine)} detections, ultralytics {len(t_score)}; ours "
            f"{mine.score.round(3).tolist()} theirs {t_score.round(3).tolist()}")
        for box, score, cls in zip(t_xyxy, t_score, t_cls, strict=True):
            same = mine.class_id == cls
            assert same.any(), f"{path.name}: no box of class {cls} for ultralytics' {box}"
            ious = _iou(box, mine.xyxy[same])
            best = int(np.argmax(ious))
            assert ious[best] >= 0.95, f"{path.name}: best IoU {ious[best]:.3f} for {box}"
            assert abs(float(mine.score[same][best]) - float(score)) <= 0.01
        total += len(t_score)
    # A model that finds nothing would "match" trivially.
    assert total >= 8, f"only {total} detections over {len(frames)} frames; parity unproven"
