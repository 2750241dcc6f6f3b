"""Constant-velocity motion of boxes on a conveyor.

Each track keeps an exponential moving average of its centre velocity (pixels per frame sequence
step); its predicted box is the last measured box shifted by ``velocity * frames since seen``.
A Kalman filter buys little here: a belt moves at a near-constant speed, the detector's box noise
is roughly constant, and the one thing an EMA lacks — a good velocity for a *newly* seen defect —
is supplied by the belt prior: the camera-wide mean velocity of the established tracks, because
everything on one belt moves together.
"""

from __future__ import annotations

import numpy as np

from edge.track.iou import FloatArray


def predict_boxes(boxes: FloatArray, velocities: FloatArray, steps: FloatArray) -> FloatArray:
    """Shift each box (T, 4) by its velocity (T, 2) times its step count (T,)."""
    shift = velocities * steps[:, None]
    result: FloatArray = boxes + np.concatenate((shift, shift), axis=1)
    return result


def clip_boxes(boxes: FloatArray, width: float, height: float) -> FloatArray:
    """Clip to the frame, as the detector's boxes are: a part leaving the view shows a cut box."""
    out = np.maximum(boxes, 0.0)
    np.minimum(out[:, 0::2], width, out=out[:, 0::2])
    np.minimum(out[:, 1::2], height, out=out[:, 1::2])
    return out


def centre_outside(boxes: FloatArray, width: float, height: float) -> np.ndarray:
    """True where the box centre lies outside the frame: the defect has left the view."""
    cx = (boxes[:, 0] + boxes[:, 2]) * 0.5
    cy = (boxes[:, 1] + boxes[:, 3]) * 0.5
    result: np.ndarray = (cx < 0.0) | (cx >= width) | (cy < 0.0) | (cy >= height)
    return result


def measured_velocities(old: FloatArray, new: FloatArray, steps: FloatArray) -> FloatArray:
    """Centre displacement per step between old (T, 4) and new (T, 4) boxes → (T, 2)."""
    d = (new[:, 0:2] + new[:, 2:4] - old[:, 0:2] - old[:, 2:4]) * 0.5
    result: FloatArray = d / steps[:, None]
    return result


def ema(old: FloatArray, new: FloatArray, alpha: float) -> FloatArray:
    result: FloatArray = old + alpha * (new - old)
    return result
