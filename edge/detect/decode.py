"""Decode YOLOv8 output and run class-aware NMS, matching ultralytics' ``non_max_suppression``.

Output layout: ``[4 + nc, anchors]`` per image, rows 0-3 ``cx, cy, w, h`` in input pixels and
rows 4.. class scores (already sigmoid). Semantics copied from ultralytics 8.x predict:
single label per box (best class), candidates strictly above ``conf``, at most ``max_nms`` boxes
into NMS (highest scores), class-aware NMS by offsetting boxes by ``class * max_wh``, a box is
suppressed when its IoU with a kept box is strictly above ``iou``, at most ``max_det`` kept, in
descending score order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_WH = 7680  # ultralytics' per-class offset; larger than any input side


@dataclass(frozen=True)
class DecodeParams:
    conf: float = 0.25
    iou: float = 0.7
    max_det: int = 300
    max_nms: int = 30000


class DecodeScratch:
    """Per-anchor buffers reused across frames (the decode's only O(anchors) allocations)."""

    def __init__(self, anchors: int) -> None:
        self.best = np.empty(anchors, np.float32)
        self.mask = np.empty(anchors, np.bool_)


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    """Greedy NMS (torchvision semantics); returns kept indices in descending score order."""
    if boxes.shape[0] == 0:
        return np.empty(0, np.intp)
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    areas = (x2 - x1) * (y2 - y1)
    order = np.argsort(-scores, kind="stable")
    keep = np.empty(order.shape[0], np.intp)
    n = 0
    while order.size:
        i = order[0]
        keep[n] = i
        n += 1
        rest = order[1:]
        if not rest.size:
            break
        w = np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest])
        h = np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest])
        inter = np.maximum(w, 0) * np.maximum(h, 0)
        overlap = inter / (areas[i] + areas[rest] - inter)
        order = rest[~(overlap > iou)]  # NaN (two empty boxes) keeps, as torchvision does
    return keep[:n]


def nms_class_aware(boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray, iou: float,
                    max_wh: float = MAX_WH) -> np.ndarray:
    """Boxes of different classes never suppress each other (they are moved apart)."""
    if boxes.shape[0] == 0:
        return np.empty(0, np.intp)
    offset = (classes.astype(np.float32) * np.float32(max_wh))[:, None]
    return nms(boxes + offset, scores, iou)


Decoded = tuple[np.ndarray, np.ndarray, np.ndarray]


def decode_yolov8(pred: np.ndarray, params: DecodeParams,
                  scratch: DecodeScratch | None = None) -> Decoded:
    """One image's ``[4+nc, A]`` output → ``(xyxy (N,4) float32, score (N,), class (N,) int32)``.

    Boxes stay in model-input pixels; see :func:`edge.detect.letterbox.unletterbox_boxes`.
    """
    if pred.ndim != 2 or pred.shape[0] < 5:
        raise ValueError(f"expected a [4+nc, anchors] array, got shape {pred.shape}")
    anchors = pred.shape[1]
    if scratch is None or scratch.best.shape[0] != anchors:
        scratch = DecodeScratch(anchors)
    cls_scores = pred[4:]
    np.max(cls_scores, axis=0, out=scratch.best)
    np.greater(scratch.best, params.conf, out=scratch.mask)
    idx = np.flatnonzero(scratch.mask)
    if idx.size == 0:
        return np.empty((0, 4), np.float32), np.empty(0, np.float32), np.empty(0, np.int32)
    score = scratch.best[idx]
    if idx.size > params.max_nms:
        top = np.argsort(-score, kind="stable")[:params.max_nms]
        idx, score = idx[top], score[top]
    cls = np.argmax(cls_scores[:, idx], axis=0).astype(np.int32)
    xywh = pred[:4, idx].astype(np.float32, copy=False)
    half_wh = xywh[2:] / np.float32(2)
    xyxy = np.empty((idx.size, 4), np.float32)
    np.subtract(xywh[0], half_wh[0], out=xyxy[:, 0])
    np.subtract(xywh[1], half_wh[1], out=xyxy[:, 1])
    np.add(xywh[0], half_wh[0], out=xyxy[:, 2])
    np.add(xywh[1], half_wh[1], out=xyxy[:, 3])
    keep = nms_class_aware(xyxy, score, cls, params.iou)[:params.max_det]
    return xyxy[keep], score[keep].astype(np.float32, copy=False), cls[keep]
