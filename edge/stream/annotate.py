"""Drawing detections onto frames: refined masks, boxes, class, score and track id.

Pure functions of (image, overlay). The stream draws at stream rate and only while someone is
watching, on its own resized copy, never on the detect thread; the HTTP API draws uploads.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from edge.stream.hub import Overlay
from lineinspect.crops import Pasted

# Saturated BGR colours that stand out against grey metal and belts, one per class id (cycled).
PALETTE: tuple[tuple[int, int, int], ...] = (
    (0, 0, 255),  # red
    (255, 0, 255),  # magenta
    (0, 255, 255),  # yellow
    (255, 128, 0),  # azure
    (0, 255, 0),  # green
    (0, 128, 255),  # orange
    (255, 255, 0),  # cyan
    (128, 0, 255),  # pink-purple
)
_FONT = cv2.FONT_HERSHEY_SIMPLEX
MASK_ALPHA = 0.45  # translucent: the defect's own pixels stay visible under the fill


def class_colour(class_id: int) -> tuple[int, int, int]:
    return PALETTE[int(class_id) % len(PALETTE)]


def line_width(height: int, width: int) -> int:
    """Box line width that stays visible after video compression: ~1/200 of the short side."""
    return max(2, round(min(height, width) / 200))


def label_text(class_name: str, score: float, track_id: int) -> str:
    text = f"{class_name} {score:.2f}"
    return f"{text} #{track_id}" if track_id >= 0 else text


def _name(names: Sequence[str], class_id: int) -> str:
    return names[class_id] if 0 <= class_id < len(names) else f"class {class_id}"


def _track_class(overlay: Overlay, track_id: int) -> int:
    idx = np.flatnonzero(overlay.track_id == track_id)
    if idx.size == 0 or idx[0] >= overlay.class_id.shape[0]:
        return 0
    return max(int(overlay.class_id[idx[0]]), 0)


def fill_mask(canvas: np.ndarray, p: Pasted, colour: tuple[int, int, int], outline: int,
              scale_x: float = 1.0, scale_y: float = 1.0) -> None:
    """Fill one mask translucently in ``colour`` and outline it, in place (scaled like the
    boxes when the canvas is a resized frame). The stream and ``/predict_and_visualize`` both
    draw with it, so a mask looks the same in both."""
    h, w = canvas.shape[:2]
    mh, mw = p.mask.shape
    x0, y0 = round(p.x0 * scale_x), round(p.y0 * scale_y)
    x1, y1 = round((p.x0 + mw) * scale_x), round((p.y0 + mh) * scale_y)
    cx0, cy0, cx1, cy1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
    if cx1 <= cx0 or cy1 <= cy0:
        return
    m = p.mask.astype(np.uint8)
    if (x1 - x0, y1 - y0) != (mw, mh):
        m = np.asarray(cv2.resize(m, (x1 - x0, y1 - y0), interpolation=cv2.INTER_NEAREST),
                       dtype=np.uint8)
    sub = np.ascontiguousarray(m[cy0 - y0:cy1 - y0, cx0 - x0:cx1 - x0])
    sel = sub.astype(bool)
    if not sel.any():
        return
    region = canvas[cy0:cy1, cx0:cx1]
    blend = region[sel].astype(np.float32) * (1.0 - MASK_ALPHA)
    region[sel] = (blend + np.array(colour, np.float32) * MASK_ALPHA).astype(np.uint8)
    contours, _ = cv2.findContours(sub, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    cv2.drawContours(canvas, contours, -1, colour, outline, cv2.LINE_8, offset=(cx0, cy0))


def draw_masks(canvas: np.ndarray, overlay: Overlay, scale_x: float = 1.0,
               scale_y: float = 1.0) -> np.ndarray:
    """Fill each refined mask of ``overlay`` in its track's class colour (:func:`fill_mask`)."""
    outline = max(1, line_width(*canvas.shape[:2]) // 2)
    for tid, p in overlay.masks:
        fill_mask(canvas, p, class_colour(_track_class(overlay, tid)), outline, scale_x,
                  scale_y)
    return canvas


def draw_overlay(canvas: np.ndarray, overlay: Overlay, scale_x: float = 1.0,
                 scale_y: float = 1.0) -> np.ndarray:
    """Draw ``overlay`` onto ``canvas`` in place (boxes scaled by ``scale_x``/``scale_y`` when the
    canvas is a resized frame) and return it."""
    n = len(overlay)
    if n == 0:
        return canvas
    if overlay.masks:
        draw_masks(canvas, overlay, scale_x, scale_y)
    h, w = canvas.shape[:2]
    thick = line_width(h, w)
    font_scale = max(0.4, min(h, w) / 800)
    text_thick = max(1, thick // 2)
    boxes = overlay.xyxy
    tracks = overlay.track_id
    for i in range(n):
        x1 = round(float(boxes[i, 0]) * scale_x)
        y1 = round(float(boxes[i, 1]) * scale_y)
        x2 = round(float(boxes[i, 2]) * scale_x)
        y2 = round(float(boxes[i, 3]) * scale_y)
        cid = int(overlay.class_id[i]) if i < overlay.class_id.shape[0] else -1
        colour = class_colour(max(cid, 0))
        cv2.rectangle(canvas, (x1, y1), (x2, y2), colour, thick, cv2.LINE_8)
        score = float(overlay.score[i]) if i < overlay.score.shape[0] else 0.0
        tid = int(tracks[i]) if i < tracks.shape[0] else -1
        text = label_text(_name(overlay.class_names, cid), score, tid)
        (tw, th), base = cv2.getTextSize(text, _FONT, font_scale, text_thick)
        ty = y1 - 2 if y1 - th - base - 2 >= 0 else min(h - 1, y2 + th + base + 2)
        cv2.rectangle(canvas, (x1, ty - th - base), (x1 + tw + 2, ty + 1), colour, cv2.FILLED)
        cv2.putText(canvas, text, (x1 + 1, ty - base + 1), _FONT, font_scale, (0, 0, 0),
                    text_thick, cv2.LINE_AA)
    return canvas


def annotate(frame: np.ndarray, overlay: Overlay) -> np.ndarray:
    """A copy of ``frame`` with ``overlay`` drawn on it; ``frame`` is left untouched."""
    return draw_overlay(frame.copy(), overlay)
