"""Box geometry for association: pairwise IoU and size-relative centre distance.

Boxes are ``(x1, y1, x2, y2)`` in pixels, float. Degenerate boxes (zero or negative width or
height) have zero area; their IoU with anything is 0 rather than NaN, so a bad detector box can
never win a match by accident.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


def _as_boxes(boxes: npt.ArrayLike, name: str) -> FloatArray:
    arr = np.asarray(boxes, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 4:
        if arr.size == 0:
            return arr.reshape(0, 4)
        raise ValueError(f"{name} must have shape (N, 4) as x1, y1, x2, y2; got {arr.shape}")
    return arr


def box_area(boxes: npt.ArrayLike) -> FloatArray:
    b = _as_boxes(boxes, "boxes")
    # np.maximum, not np.clip: same result, a fraction of the call overhead on small arrays.
    result: FloatArray = np.maximum(b[:, 2] - b[:, 0], 0.0) * np.maximum(b[:, 3] - b[:, 1], 0.0)
    return result


def iou_matrix(a: npt.ArrayLike, b: npt.ArrayLike) -> FloatArray:
    """IoU of every box in ``a`` (N, 4) with every box in ``b`` (M, 4) → (N, M)."""
    aa = _as_boxes(a, "a")
    bb = _as_boxes(b, "b")
    ix1 = np.maximum(aa[:, None, 0], bb[None, :, 0])
    iy1 = np.maximum(aa[:, None, 1], bb[None, :, 1])
    ix2 = np.minimum(aa[:, None, 2], bb[None, :, 2])
    iy2 = np.minimum(aa[:, None, 3], bb[None, :, 3])
    inter = np.maximum(ix2 - ix1, 0.0) * np.maximum(iy2 - iy1, 0.0)
    union = box_area(aa)[:, None] + box_area(bb)[None, :] - inter
    out = np.zeros_like(inter)
    np.divide(inter, union, out=out, where=union > 0.0)
    return out


def box_centres(boxes: npt.ArrayLike) -> FloatArray:
    b = _as_boxes(boxes, "boxes")
    return np.stack(((b[:, 0] + b[:, 2]) * 0.5, (b[:, 1] + b[:, 3]) * 0.5), axis=1)


def centre_distance_ratio(a: npt.ArrayLike, b: npt.ArrayLike, min_size: float = 1.0) -> FloatArray:
    """Centre distance of every pair in units of the pair's mean box size, per axis → (N, M).

    ``hypot(dx / mean width, dy / mean height)``, sides floored at ``min_size`` pixels. Per axis,
    because defects are thin: a 40 x 4 px scratch may be predicted 10 px off along its length
    (0.25 of it) but not 10 px across it (2.5 of it, another defect). 1.0 means one box apart.
    """
    aa = _as_boxes(a, "a")
    bb = _as_boxes(b, "b")
    ca = box_centres(aa)
    cb = box_centres(bb)
    wa = np.maximum(aa[:, 2] - aa[:, 0], min_size)
    ha = np.maximum(aa[:, 3] - aa[:, 1], min_size)
    wb = np.maximum(bb[:, 2] - bb[:, 0], min_size)
    hb = np.maximum(bb[:, 3] - bb[:, 1], min_size)
    dx = (ca[:, None, 0] - cb[None, :, 0]) / (0.5 * (wa[:, None] + wb[None, :]))
    dy = (ca[:, None, 1] - cb[None, :, 1]) / (0.5 * (ha[:, None] + hb[None, :]))
    result: FloatArray = np.hypot(dx, dy)
    return result


def size_ratio_matrix(a: npt.ArrayLike, b: npt.ArrayLike, min_size: float = 1.0) -> FloatArray:
    """Largest of the width and height ratios (>= 1) of every pair → (N, M).

    Width and height separately, not area: a 77 x 9 px scratch and a 13 x 40 px blob have about
    the same area but are plainly not the same defect. Sides are floored at ``min_size`` so a
    one-pixel jitter of a thin box does not read as a shape change.
    """
    aa = _as_boxes(a, "a")
    bb = _as_boxes(b, "b")
    wa = np.maximum(aa[:, 2] - aa[:, 0], min_size)[:, None]
    ha = np.maximum(aa[:, 3] - aa[:, 1], min_size)[:, None]
    wb = np.maximum(bb[:, 2] - bb[:, 0], min_size)[None, :]
    hb = np.maximum(bb[:, 3] - bb[:, 1], min_size)[None, :]
    rw = wa / wb
    rh = ha / hb
    result: FloatArray = np.maximum(np.maximum(rw, 1.0 / rw), np.maximum(rh, 1.0 / rh))
    return result


def pad_to_min_size(boxes: npt.ArrayLike, min_size: float) -> FloatArray:
    """Widen sides shorter than ``min_size`` about the box centre.

    A scratch box 3 px tall loses all overlap with itself when the detector draws it 2 px lower,
    and 1 px of jitter swings its IoU from 1.0 to 0.2; padded to 8 px, IoU measures what matters
    for such a defect, the overlap along its length.
    """
    b = _as_boxes(boxes, "boxes")
    out = b.copy()
    for lo, hi in ((0, 2), (1, 3)):
        short = (b[:, hi] - b[:, lo]) < min_size
        if short.any():
            mid = (b[short, lo] + b[short, hi]) * 0.5
            out[short, lo] = mid - min_size * 0.5
            out[short, hi] = mid + min_size * 0.5
    return out


def _padded(boxes: FloatArray, min_size: float
            ) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Centres and sides floored at ``min_size``: (cx, cy, w, h)."""
    return ((boxes[:, 0] + boxes[:, 2]) * 0.5, (boxes[:, 1] + boxes[:, 3]) * 0.5,
            np.maximum(boxes[:, 2] - boxes[:, 0], min_size),
            np.maximum(boxes[:, 3] - boxes[:, 1], min_size))


def _iou_of(pa: tuple[FloatArray, ...], pb: tuple[FloatArray, ...]) -> FloatArray:
    cxa, cya, wa, ha = pa
    cxb, cyb, wb, hb = pb
    iw = (np.minimum((cxa + wa * 0.5)[:, None], (cxb + wb * 0.5)[None, :])
          - np.maximum((cxa - wa * 0.5)[:, None], (cxb - wb * 0.5)[None, :]))
    ih = (np.minimum((cya + ha * 0.5)[:, None], (cyb + hb * 0.5)[None, :])
          - np.maximum((cya - ha * 0.5)[:, None], (cyb - hb * 0.5)[None, :]))
    inter = np.maximum(iw, 0.0) * np.maximum(ih, 0.0)
    union = (wa * ha)[:, None] + (wb * hb)[None, :] - inter
    iou = np.zeros_like(inter)
    np.divide(inter, union, out=iou, where=union > 0.0)
    return iou


def padded_iou(a: FloatArray, b: FloatArray, min_size: float) -> FloatArray:
    """``iou_matrix`` of the boxes padded to ``min_size`` (:func:`pad_to_min_size`)."""
    return _iou_of(_padded(a, min_size), _padded(b, min_size))


def pair_geometry(a: FloatArray, b: FloatArray, min_size: float
                  ) -> tuple[FloatArray, FloatArray, FloatArray]:
    """:func:`padded_iou`, ``centre_distance_ratio`` and ``size_ratio_matrix`` of (N, 4) x
    (M, 4), in one pass sharing the intermediate sides — the tracker's per-frame hot path."""
    pa = _padded(a, min_size)
    pb = _padded(b, min_size)
    iou = _iou_of(pa, pb)
    cxa, cya, wa, ha = pa
    cxb, cyb, wb, hb = pb
    fwa = wa[:, None]
    fha = ha[:, None]
    fwb = wb[None, :]
    fhb = hb[None, :]
    dx = 2.0 * (cxa[:, None] - cxb[None, :]) / (fwa + fwb)
    dy = 2.0 * (cya[:, None] - cyb[None, :]) / (fha + fhb)
    centre = np.hypot(dx, dy)
    rw = fwa / fwb
    rh = fha / fhb
    size = np.maximum(np.maximum(rw, 1.0 / rw), np.maximum(rh, 1.0 / rh))
    return iou, centre, size
