"""The refiner's view of a detection: a square window around its box, resized to the model's
input, and the way back from a mask on that window to frame pixels.

Shared by the training data (``models/data``, crops around true boxes) and the edge
(``edge/refine``, crops around detected boxes), so the model is trained on exactly the view it is
run on. All functions are pure; coordinates are frame pixels, ``(x1, y1, x2, y2)`` with x2/y2
exclusive, floats allowed.

The window is a square (a thin scratch's box can be 5 x 200 px; stretching it to a square would
teach the model shapes it never meets): side ``max(w, h) * (1 + 2 * pad)``, at least
``min_side`` pixels, centred on the box. It may reach past the frame: outside pixels are black
in the crop, and a pasted mask is clipped to the frame.
"""

from __future__ import annotations

from typing import NamedTuple

import cv2
import numpy as np
import numpy.typing as npt

DEFAULT_PAD = 0.25  # of the box's longer side, on each side
DEFAULT_MIN_SIDE = 24.0  # px: a 3 px pit still gets some context


class Window(NamedTuple):
    """A square in frame pixels: top-left corner and side (may extend past the frame)."""

    x0: float
    y0: float
    side: float

    def to_crop(self, size: int) -> float:
        """Scale from frame pixels to crop pixels for a ``size`` x ``size`` crop."""
        return size / self.side


def crop_window(box: tuple[float, float, float, float], pad: float = DEFAULT_PAD,
                min_side: float = DEFAULT_MIN_SIDE) -> Window:
    """The square window around ``box``: see the module docstring."""
    x1, y1, x2, y2 = box
    if not (x2 > x1 and y2 > y1):
        raise ValueError(f"box {box} is empty: need x2 > x1 and y2 > y1")
    if pad < 0:
        raise ValueError(f"pad must be >= 0, got {pad}")
    side = max(max(x2 - x1, y2 - y1) * (1.0 + 2.0 * pad), min_side)
    cx, cy = (x1 + x2) / 2.0, (y1 + y2) / 2.0
    return Window(cx - side / 2.0, cy - side / 2.0, side)


def _affine(win: Window, size: int) -> npt.NDArray[np.float64]:
    s = win.to_crop(size)
    return np.array([[s, 0.0, -win.x0 * s], [0.0, s, -win.y0 * s]], dtype=np.float64)


def crop_image(image: npt.NDArray[np.uint8], win: Window, size: int,
               out: npt.NDArray[np.uint8] | None = None) -> npt.NDArray[np.uint8]:
    """``image`` (H, W[, C]) seen through ``win``, resized to ``size`` x ``size``; outside the
    frame is black. ``out`` (same dtype, ``(size, size[, C])``) is filled in place if given."""
    flags = cv2.INTER_AREA if win.side > size else cv2.INTER_LINEAR
    shape = (size, size, *image.shape[2:])
    if out is not None and out.shape != shape:
        raise ValueError(f"out has shape {out.shape}, need {shape}")
    got = cv2.warpAffine(image, _affine(win, size), (size, size), dst=out, flags=flags,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return np.asarray(got, dtype=np.uint8)


def crop_mask(mask: npt.NDArray[np.generic], win: Window,
              size: int) -> npt.NDArray[np.float32]:
    """A frame-sized mask seen through ``win`` at ``size`` x ``size``: the fraction of each crop
    pixel the mask covers (area-averaged when shrinking), in [0, 1]. The training target; a
    threshold at 0.5 gives the binary mask."""
    flags = cv2.INTER_AREA if win.side > size else cv2.INTER_LINEAR
    got = cv2.warpAffine(np.asarray(mask, dtype=np.float32), _affine(win, size), (size, size),
                         flags=flags, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return np.asarray(got, dtype=np.float32)


class Pasted(NamedTuple):
    """A crop mask back in frame pixels: ``mask`` covers ``[y0:y0+h, x0:x0+w]`` of the frame."""

    x0: int
    y0: int
    mask: npt.NDArray[np.bool_]

    def full(self, width: int, height: int) -> npt.NDArray[np.bool_]:
        """The whole-frame mask (allocates ``height`` x ``width``)."""
        frame = np.zeros((height, width), dtype=bool)
        h, w = self.mask.shape
        frame[self.y0:self.y0 + h, self.x0:self.x0 + w] = self.mask
        return frame


def paste_mask(prob: npt.NDArray[np.generic], win: Window, width: int, height: int,
               threshold: float = 0.5) -> Pasted:
    """Map a crop mask back onto the frame's pixel grid, clipped to the ``width`` x ``height``
    frame. ``prob`` (``size`` x ``size``) is a probability (float) or a binary mask; it is
    interpolated and then thresholded, so a scratch 1.5 crop pixels wide comes back at its true
    width instead of whole crop pixels. Only the window's part of the frame is allocated;
    :meth:`Pasted.full` gives the whole frame."""
    mask = prob
    size = mask.shape[0]
    if mask.ndim != 2 or mask.shape[1] != size:
        raise ValueError(f"crop mask must be square (S, S), got shape {mask.shape}")
    x0 = max(0, int(np.floor(win.x0)))
    y0 = max(0, int(np.floor(win.y0)))
    x1 = min(width, int(np.ceil(win.x0 + win.side)))
    y1 = min(height, int(np.ceil(win.y0 + win.side)))
    if x1 <= x0 or y1 <= y0:
        return Pasted(0, 0, np.zeros((0, 0), dtype=bool))
    # The frame region → crop coordinates: the inverse of the crop's affine.
    s = win.to_crop(size)
    m = np.array([[s, 0.0, (x0 - win.x0) * s], [0.0, s, (y0 - win.y0) * s]], dtype=np.float64)
    src = np.asarray(mask, dtype=np.float32)
    region = cv2.warpAffine(src, m, (x1 - x0, y1 - y0),
                            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return Pasted(x0, y0, region >= threshold)
