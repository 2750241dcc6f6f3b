"""Letterbox pre-processing: the geometry of ultralytics' ``LetterBox(auto=False, center=True)``.

A frame is resized keeping its aspect ratio, padded to the model's input size with a constant,
converted BGR → RGB and scaled to 0..1, written straight into the caller's float NCHW buffer.
Camera frames keep one size, so the geometry and the resize buffer are computed once per frame
size and reused; only the image area of the buffer is rewritten per frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Geometry:
    """How a ``src`` frame maps into a ``dst`` model input (all in pixels)."""

    src_h: int
    src_w: int
    dst_h: int
    dst_w: int
    new_h: int
    new_w: int
    top: int
    left: int

    @property
    def gain_x(self) -> float:
        return self.new_w / self.src_w

    @property
    def gain_y(self) -> float:
        return self.new_h / self.src_h


def compute_geometry(src_hw: tuple[int, int], dst_hw: tuple[int, int],
                     scaleup: bool = True) -> Geometry:
    """Scale and padding exactly as ultralytics computes them (including its rounding)."""
    src_h, src_w = src_hw
    dst_h, dst_w = dst_hw
    if min(src_h, src_w, dst_h, dst_w) < 1:
        raise ValueError(f"letterbox needs positive sizes, got frame {src_hw} → input {dst_hw}")
    r = min(dst_h / src_h, dst_w / src_w)
    if not scaleup:
        r = min(r, 1.0)
    new_w, new_h = max(round(src_w * r), 1), max(round(src_h * r), 1)
    # ultralytics splits odd padding with round(d/2 - 0.1): the extra pixel goes bottom/right.
    top = round((dst_h - new_h) / 2 - 0.1)
    left = round((dst_w - new_w) / 2 - 0.1)
    return Geometry(src_h, src_w, dst_h, dst_w, new_h, new_w, top, left)


def fill_padding(out_chw: np.ndarray, geom: Geometry, pad_value: int) -> None:
    """Fill the whole buffer with the pad colour; the image area is overwritten per frame."""
    out_chw[...] = pad_value / 255.0


def letterbox_into(frame_bgr: np.ndarray, geom: Geometry, out_chw: np.ndarray,
                   resized: np.ndarray | None = None) -> None:
    """Write ``frame_bgr`` (H, W, 3 uint8) into ``out_chw`` (3, dst_h, dst_w) as RGB 0..1.

    ``resized`` (new_h, new_w, 3 uint8) is a scratch buffer reused across frames; the padding
    area of ``out_chw`` must already hold the pad colour (:func:`fill_padding`).
    """
    if (frame_bgr.shape[0], frame_bgr.shape[1]) == (geom.new_h, geom.new_w):
        img = frame_bgr
    else:
        img = cv2.resize(frame_bgr, (geom.new_w, geom.new_h), dst=resized,
                         interpolation=cv2.INTER_LINEAR)
    y0, x0 = geom.top, geom.left
    area = out_chw[:, y0:y0 + geom.new_h, x0:x0 + geom.new_w]
    for c in range(3):
        # Division, not multiplication by 1/255, so values equal ultralytics' bit for bit.
        np.divide(img[:, :, 2 - c], 255.0, out=area[c], casting="unsafe")


def unletterbox_boxes(xyxy: np.ndarray, geom: Geometry) -> None:
    """In place: boxes in model-input pixels → original frame pixels, clipped to the frame."""
    xyxy[:, 0::2] -= geom.left
    xyxy[:, 1::2] -= geom.top
    xyxy[:, 0::2] /= geom.gain_x
    xyxy[:, 1::2] /= geom.gain_y
    np.clip(xyxy[:, 0::2], 0, geom.src_w, out=xyxy[:, 0::2])
    np.clip(xyxy[:, 1::2], 0, geom.src_h, out=xyxy[:, 1::2])


def letterbox_boxes(xyxy: np.ndarray, geom: Geometry) -> None:
    """In place: frame pixels → model-input pixels (inverse of :func:`unletterbox_boxes`)."""
    xyxy[:, 0::2] *= geom.gain_x
    xyxy[:, 1::2] *= geom.gain_y
    xyxy[:, 0::2] += geom.left
    xyxy[:, 1::2] += geom.top


class Letterboxer:
    """Per-slot cache of geometry and resize buffer, so a steady camera allocates nothing."""

    def __init__(self, dst_hw: tuple[int, int], pad_value: int = 114, scaleup: bool = True) -> None:
        self._dst_hw = dst_hw
        self._pad = pad_value
        self._scaleup = scaleup
        self._geom: dict[int, Geometry] = {}
        self._resized: dict[int, np.ndarray] = {}

    def __call__(self, frame_bgr: np.ndarray, out_chw: np.ndarray, slot: int = 0) -> Geometry:
        if frame_bgr.ndim != 3 or frame_bgr.shape[2] != 3 or frame_bgr.dtype != np.uint8:
            raise ValueError(f"frame must be an (H, W, 3) uint8 BGR image, got shape "
                             f"{frame_bgr.shape} dtype {frame_bgr.dtype}")
        h, w = frame_bgr.shape[:2]
        geom = self._geom.get(slot)
        if geom is None or (geom.src_h, geom.src_w) != (h, w):
            geom = compute_geometry((h, w), self._dst_hw, self._scaleup)
            self._geom[slot] = geom
            self._resized[slot] = np.empty((geom.new_h, geom.new_w, 3), np.uint8)
            fill_padding(out_chw, geom, self._pad)
        letterbox_into(frame_bgr, geom, out_chw, self._resized[slot])
        return geom
