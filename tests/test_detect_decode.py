"""YOLOv8 decode and class-aware NMS on hand-made tensors with known answers."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from edge.detect.decode import DecodeParams, DecodeScratch, decode_yolov8, nms, nms_class_aware
from tests._models import offline_ultralytics

Row = tuple[float, float, float, float, list[float]]


def _pred(rows: Sequence[Row]) -> np.ndarray:
    """Rows of (cx, cy, w, h, [class scores]) → the [4+nc, A] layout of the model output."""
    return np.array([[cx, cy, w, h, *s] for cx, cy, w, h, s in rows], np.float32).T


def _decode(rows: Sequence[Row], **kw: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return decode_yolov8(_pred(rows), DecodeParams(**kw))  # type: ignore[arg-type]


def test_box_conversion_and_best_class() -> None:
    xyxy, score, cls = _decode([(50, 40, 20, 10, [0.1, 0.8, 0.3])])
    np.testing.assert_allclose(xyxy, [[40, 35, 60, 45]])
    assert score.tolist() == pytest.approx([0.8]) and cls.tolist() == [1]
    assert xyxy.dtype == np.float32 and score.dtype == np.float32 and cls.dtype == np.int32


def test_confidence_is_strictly_greater() -> None:
    rows = [(50, 50, 10, 10, [0.25, 0.0]), (150, 50, 10, 10, [0.0, 0.2500001])]
    _, score, cls = _decode(rows, conf=0.25)
    assert cls.tolist() == [1] and score.tolist() == pytest.approx([0.2500001])


# Same-class pairs: (second box, expected kept count). First box is (0,0)-(10,10), score 0.9.
# IoU of [0,0,10,10] and [x,0,x+10,10] is (10-x)/(10+x).
@pytest.mark.parametrize(("shift", "iou_thr", "kept"), [
    (0.0, 0.7, 1),        # identical → suppressed
    (1.0, 0.7, 1),        # IoU 9/11 = 0.818 > 0.7
    (2.0, 0.7, 2),        # IoU 8/12 = 0.667 <= 0.7
    (2.0, 0.6, 1),        # same pair, stricter threshold
    (5.0, 1 / 3, 2),      # IoU exactly 1/3 is not > 1/3 → kept (torchvision semantics)
    (10.0, 0.0, 2),       # touching edges: IoU 0 → kept even at threshold 0
])
def test_same_class_suppression(shift: float, iou_thr: float, kept: int) -> None:
    rows = [(5, 5, 10, 10, [0.9]), (5 + shift, 5, 10, 10, [0.6])]
    _, score, _ = _decode(rows, iou=iou_thr)
    assert len(score) == kept
    assert score[0] == pytest.approx(0.9)  # the best box always survives, first


def test_overlapping_boxes_of_different_classes_are_both_kept() -> None:
    rows = [(5, 5, 10, 10, [0.9, 0.0]), (5, 5, 10, 10, [0.0, 0.8]), (5.5, 5, 10, 10, [0.7, 0.0])]
    xyxy, score, cls = _decode(rows, iou=0.5)
    assert cls.tolist() == [0, 1] and score.tolist() == pytest.approx([0.9, 0.8])
    np.testing.assert_allclose(xyxy, [[0, 0, 10, 10], [0, 0, 10, 10]])


def test_suppressed_box_does_not_suppress_others() -> None:
    # A (0.9) suppresses B (0.8); B would have suppressed C (0.7), but B is gone, and C
    # overlaps A only a little, so C stays (greedy NMS, not "any overlap").
    rows = [(5, 5, 10, 10, [0.9]), (11, 5, 10, 10, [0.8]), (17, 5, 10, 10, [0.7])]
    _, score, _ = _decode(rows, iou=0.2)
    assert score.tolist() == pytest.approx([0.9, 0.7])


def test_max_det_keeps_the_best_in_descending_order() -> None:
    rows = [(20 * i + 5, 5, 10, 10, [s]) for i, s in enumerate([0.3, 0.9, 0.5, 0.7, 0.6])]
    _, score, _ = _decode(rows, max_det=3)
    assert score.tolist() == pytest.approx([0.9, 0.7, 0.6])


def test_max_nms_limits_candidates_to_the_highest_scores() -> None:
    rows = [(20 * i + 5, 5, 10, 10, [s]) for i, s in enumerate([0.3, 0.9, 0.5, 0.7])]
    xyxy, score, _ = decode_yolov8(_pred(rows), DecodeParams(max_nms=2))
    assert score.tolist() == pytest.approx([0.9, 0.7])
    np.testing.assert_allclose(xyxy[:, 0], [20, 60])


def test_nothing_above_threshold() -> None:
    xyxy, score, cls = _decode([(5, 5, 10, 10, [0.1, 0.2])], conf=0.5)
    assert xyxy.shape == (0, 4) and score.shape == (0,) and cls.shape == (0,)


def test_scratch_buffers_are_reused_and_resized() -> None:
    scratch = DecodeScratch(2)
    pred = _pred([(5, 5, 10, 10, [0.9]), (50, 5, 10, 10, [0.8])])
    best = scratch.best
    decode_yolov8(pred, DecodeParams(), scratch)
    assert scratch.best is best
    out = decode_yolov8(_pred([(5, 5, 10, 10, [0.9])] * 3), DecodeParams(), scratch)
    assert len(out[1]) == 1  # wrong-size scratch replaced, not mis-used


def test_bad_layout_is_named() -> None:
    with pytest.raises(ValueError, match=r"\[4\+nc, anchors\]"):
        decode_yolov8(np.zeros((4, 10), np.float32), DecodeParams())


@pytest.mark.parametrize(("boxes", "scores", "iou", "expected"), [
    ([], [], 0.5, []),
    ([[0, 0, 10, 10]], [0.5], 0.5, [0]),
    ([[0, 0, 10, 10], [0, 0, 10, 10]], [0.4, 0.6], 0.5, [1]),
    ([[0, 0, 10, 10], [20, 20, 30, 30], [1, 1, 11, 11]], [0.9, 0.8, 0.95], 0.5, [2, 1]),
])
def test_nms_table(boxes: list[list[float]], scores: list[float], iou: float,
                   expected: list[int]) -> None:
    keep = nms(np.array(boxes, np.float32).reshape(-1, 4), np.array(scores, np.float32), iou)
    assert keep.tolist() == expected


def test_class_aware_nms_keeps_identical_boxes_of_two_classes() -> None:
    boxes = np.array([[0, 0, 10, 10]] * 3, np.float32)
    keep = nms_class_aware(boxes, np.array([0.9, 0.8, 0.7], np.float32),
                           np.array([0, 1, 0]), iou=0.5)
    assert keep.tolist() == [0, 1]


@pytest.mark.parametrize(("conf", "iou"), [(0.25, 0.7), (0.05, 0.45), (0.5, 0.3)])
def test_matches_ultralytics_non_max_suppression(conf: float, iou: float) -> None:
    """Random clustered predictions: same boxes, scores, classes and order as ultralytics."""
    offline_ultralytics()
    import torch
    from ultralytics.utils.nms import non_max_suppression

    rng = np.random.default_rng(int(conf * 100 + iou * 10))
    nc, anchors = 3, 2100
    centers = rng.uniform(20, 300, (40, 2))
    pick = rng.integers(0, 40, anchors)
    pred = np.empty((4 + nc, anchors), np.float32)
    pred[:2] = (centers[pick] + rng.normal(0, 3, (anchors, 2))).T
    pred[2:4] = rng.uniform(8, 60, (2, anchors))
    pred[4:] = rng.beta(0.3, 3, (nc, anchors))
    theirs = non_max_suppression(torch.from_numpy(pred[None].copy()), conf, iou, max_det=300)[0]
    xyxy, score, cls = decode_yolov8(pred, DecodeParams(conf=conf, iou=iou))
    assert len(score) > 10
    assert len(score) == theirs.shape[0]
    np.testing.assert_allclose(xyxy, theirs[:, :4].numpy(), atol=1e-4)
    np.testing.assert_allclose(score, theirs[:, 4].numpy(), atol=1e-6)
    assert cls.tolist() == theirs[:, 5].numpy().astype(int).tolist()
