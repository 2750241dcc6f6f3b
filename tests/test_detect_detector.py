"""The Detector end to end on a real ONNX model whose output is known exactly.

The model (tests/_tiny_onnx.py) always outputs the same YOLOv8-layout predictions in model-input
pixels, so every answer below is worked out by hand: letterbox geometry, decode, class-aware NMS
and the scale back to each frame's own pixels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge.detect.detector import Detector
from edge.detect.settings import DetectorSettings
from tests._tiny_onnx import make_const_model, with_manifest

NAMES = ["scratch", "crack", "dent"]
ANCHORS = 2100

# Input pixels (320x320): A = (50,90)-(100,130) scratch 0.9; B = same box, crack 0.8 (other class:
# kept); C = A shifted by 2 px, scratch 0.6 (same class, IoU 0.92: suppressed); D = elsewhere,
# dent 0.3 (kept at conf 0.25, dropped at 0.5).
ROWS = [
    (75, 110, 50, 40, [0.9, 0.1, 0.0]),
    (75, 110, 50, 40, [0.05, 0.8, 0.0]),
    (77, 110, 50, 40, [0.6, 0.0, 0.0]),
    (200, 200, 20, 20, [0.0, 0.0, 0.3]),
]


def _preds() -> np.ndarray:
    preds = np.zeros((4 + len(NAMES), ANCHORS), np.float32)
    preds[:4] = 1.0
    for i, (cx, cy, w, h, s) in enumerate(ROWS):
        preds[:, 100 * i + 7] = [cx, cy, w, h, *s]
    return preds


def _detector(tmp_path: Path, dynamic: bool = False, **kw: object) -> Detector:
    path = make_const_model(tmp_path / f"const{'-dyn' if dynamic else ''}.onnx", _preds(),
                            dynamic=dynamic, names=NAMES)
    with_manifest(path, NAMES)
    settings = DetectorSettings(model=path, providers=["cpu"], intra_op_threads=1, **kw)
    det = Detector(settings)
    det.warmup()
    return det


# Frame size → where input box (50,90)-(100,130) and (190,190)-(210,210) land in the frame.
FRAMES = [
    ((320, 320), [[50, 90, 100, 130], [190, 190, 210, 210]]),
    ((480, 640), [[100, 100, 200, 180], [380, 300, 420, 340]]),   # r 0.5, top pad 40
    ((640, 480), [[20, 180, 120, 260], [300, 380, 340, 420]]),    # r 0.5, left pad 40
    ((160, 160), [[25, 45, 50, 65], [95, 95, 105, 105]]),         # upscaled x2
]


@pytest.mark.parametrize(("hw", "boxes"), FRAMES)
def test_detect_known_answer(tmp_path: Path, hw: tuple[int, int], boxes: list[list[float]]) -> None:
    det = _detector(tmp_path, conf_threshold=0.25, iou_threshold=0.7)
    out = det.detect(np.zeros((*hw, 3), np.uint8))
    assert out.class_id.tolist() == [0, 1, 2]
    np.testing.assert_allclose(out.score, [0.9, 0.8, 0.3], atol=1e-6)
    np.testing.assert_allclose(out.xyxy, [boxes[0], boxes[0], boxes[1]], atol=1e-3)
    assert out.xyxy.dtype == np.float32 and out.class_id.dtype == np.int32 and len(out) == 3


def test_thresholds_come_from_settings(tmp_path: Path) -> None:
    det = _detector(tmp_path, conf_threshold=0.5, iou_threshold=0.95, max_detections=2)
    out = det.detect(np.zeros((320, 320, 3), np.uint8))
    # IoU 0.92 < 0.95: C survives NMS, but max_detections keeps the best two; D is below 0.5.
    np.testing.assert_allclose(out.score, [0.9, 0.8], atol=1e-6)


@pytest.mark.parametrize("dynamic", [False, True])
def test_batch_of_cameras_with_different_frame_sizes(tmp_path: Path, dynamic: bool) -> None:
    det = _detector(tmp_path, dynamic=dynamic, batch_size=3)
    assert det.batch_capacity == (3 if dynamic else 1)
    frames = [np.zeros((*hw, 3), np.uint8) for hw, _ in FRAMES] * 2  # 8 frames: chunks of 3
    results = det.detect_batch(frames)
    assert len(results) == 8 and det.timings.frames == 8
    for res, (_, boxes) in zip(results, FRAMES * 2, strict=True):
        np.testing.assert_allclose(res.xyxy, [boxes[0], boxes[0], boxes[1]], atol=1e-3)
    single = det.detect(frames[1])
    np.testing.assert_array_equal(single.xyxy, results[1].xyxy)


def test_timings_are_recorded_per_call(tmp_path: Path) -> None:
    det = _detector(tmp_path)
    det.detect(np.zeros((480, 640, 3), np.uint8))
    t = det.timings
    assert t.frames == 1 and t.pre_ms > 0 and t.infer_ms > 0 and t.post_ms > 0
    assert t.total_ms == pytest.approx(t.pre_ms + t.infer_ms + t.post_ms)
    timings = det.timings
    det.detect(np.zeros((480, 640, 3), np.uint8))
    assert det.timings is timings  # updated in place, no per-call object


def test_input_buffer_is_reused(tmp_path: Path) -> None:
    det = _detector(tmp_path)
    buf = det._input
    ptr = buf.ctypes.data
    for _ in range(3):
        det.detect(np.zeros((480, 640, 3), np.uint8))
    assert det._input is buf and buf.ctypes.data == ptr


def test_bad_frame_is_named(tmp_path: Path) -> None:
    det = _detector(tmp_path)
    with pytest.raises(ValueError, match=r"\(H, W, 3\) uint8 BGR"):
        det.detect(np.zeros((480, 640), np.uint8))
