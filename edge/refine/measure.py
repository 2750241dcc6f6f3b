"""Sizes of a refined mask: area, and length and width of its minimum-area rectangle, in pixels
and, for a calibrated camera, in millimetres on the belt plane.

Pure functions of a pasted mask (``lineinspect.crops.Pasted``: a frame region and its offset).

* Area in px is the pixel count (what the contract's ``area_px`` must equal for a mask).
* Length / width: ``cv2.minAreaRect`` over the *corners* of the boundary pixels, so a straight
  1-pixel-wide scratch of n pixels measures n x 1 (over pixel centres it would be n-1 x 0).
* With ``mm_per_px`` (a camera looking straight down) every figure scales by it (area by its
  square). With a ``homography`` (image px -> plane mm) the corner points are mapped with
  ``cv2.perspectiveTransform`` and the rectangle is fitted in the plane; the area is the sum
  over the mask's pixels of the homography's local area scale ``|det H| / w(x, y)^3`` — the
  exact Jacobian of a projective map, per pixel. (The polygon area of the mapped contour, the
  other way, loses the outer half-pixel ring: a thin scratch's contour polygon has area ~0.)
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from lineinspect.crops import Pasted

# Offsets from a pixel centre to its four corners.
_CORNERS = np.array([[-0.5, -0.5], [0.5, -0.5], [0.5, 0.5], [-0.5, 0.5]], dtype=np.float32)


@dataclass(frozen=True, slots=True)
class Calibration:
    """One camera's image → belt-plane mapping; both None: uncalibrated (pixels only)."""

    mm_per_px: float | None = None
    homography: npt.NDArray[np.float64] | None = None  # 3x3, px -> mm

    @property
    def calibrated(self) -> bool:
        return self.mm_per_px is not None or self.homography is not None

    @staticmethod
    def of(mm_per_px: float | None, homography: list[list[float]] | None) -> Calibration:
        h = None if homography is None else np.asarray(homography, dtype=np.float64)
        return Calibration(mm_per_px, h)


@dataclass(frozen=True, slots=True)
class Measurement:
    area_px: int
    length_px: float
    width_px: float
    area_mm2: float | None = None
    length_mm: float | None = None
    width_mm: float | None = None


def _rect_sides(points: npt.NDArray[np.float32]) -> tuple[float, float]:
    (_, _), (a, b), _ = cv2.minAreaRect(points)
    return (float(max(a, b)), float(min(a, b)))


def boundary_corners(pasted: Pasted) -> npt.NDArray[np.float32]:
    """Frame-pixel corners of the mask's outer boundary pixels, (N, 2) float32."""
    m = np.ascontiguousarray(pasted.mask, dtype=np.uint8)
    contours, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return np.zeros((0, 2), np.float32)
    centres = np.concatenate([c.reshape(-1, 2) for c in contours]).astype(np.float32)
    centres += np.array([pasted.x0, pasted.y0], dtype=np.float32)
    return (centres[:, None, :] + _CORNERS[None, :, :]).reshape(-1, 2)


def homography_area(pasted: Pasted, h: npt.NDArray[np.float64]) -> float:
    """Plane area of the mask under ``h``: the sum of the local area scale over its pixels."""
    ys, xs = np.nonzero(pasted.mask)
    if xs.size == 0:
        return 0.0
    x = xs.astype(np.float64) + pasted.x0
    y = ys.astype(np.float64) + pasted.y0
    w = h[2, 0] * x + h[2, 1] * y + h[2, 2]
    return float(np.sum(abs(np.linalg.det(h)) / np.abs(w) ** 3))


def measure(pasted: Pasted, cal: Calibration | None = None) -> Measurement:
    """Area, length and width of ``pasted``; millimetre figures only when ``cal`` is calibrated
    (the homography wins over ``mm_per_px`` when both are set)."""
    cal = cal if cal is not None else Calibration()
    area = int(np.count_nonzero(pasted.mask))
    if area == 0:
        return Measurement(0, 0.0, 0.0)
    corners = boundary_corners(pasted)
    length, width = _rect_sides(corners)
    if cal.homography is not None:
        plane = cv2.perspectiveTransform(corners.reshape(-1, 1, 2).astype(np.float64),
                                         cal.homography).reshape(-1, 2).astype(np.float32)
        length_mm, width_mm = _rect_sides(plane)
        return Measurement(area, length, width, homography_area(pasted, cal.homography),
                           length_mm, width_mm)
    if cal.mm_per_px is not None:
        s = cal.mm_per_px
        return Measurement(area, length, width, area * s * s, length * s, width * s)
    return Measurement(area, length, width)
