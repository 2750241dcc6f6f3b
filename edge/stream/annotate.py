"""Drawing detections onto frames: boxes, class, score and track id.

Pure functions of (image, overlay). The stream draws at stream rate and only while someone is
watching, on its own resized copy, never on the detect thread; the HTTP API draws uploads.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from edge.stream.hub import Overlay

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


def draw_overlay(canvas: np.ndarray, overlay: Overlay, scale_x: float = 1.0,
                 scale_y: float = 1.0) -> np.ndarray:
    """Draw ``overlay`` onto ``canvas`` in place (boxes scaled by ``scale_x``/``scale_y`` when the
    canvas is a resized frame) and return it."""
    n = len(overlay)
    if n == 0:
        return canvas
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
