"""Binary-mask helpers shared by the dataset writer, the edge refiner and the wire contract.

RLE here is COCO's *uncompressed* run-length encoding: runs over the mask in column-major
(Fortran) order, starting with a run of zeros. It is what pycocotools' ``frPyObjects`` accepts and
what the v1 event's optional ``mask`` field carries.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

BoolMask = npt.NDArray[np.bool_]


def rle_encode(mask: npt.NDArray[np.generic]) -> dict[str, list[int]]:
    """Encode an ``(H, W)`` mask (nonzero = set) as ``{"size": [H, W], "counts": [...]}``."""
    if mask.ndim != 2:
        raise ValueError(f"mask must be 2-D (H, W), got shape {mask.shape}")
    h, w = mask.shape
    flat = np.asarray(mask, dtype=bool).ravel(order="F")
    if flat.size == 0:
        return {"size": [int(h), int(w)], "counts": []}
    # Indices where the value changes; runs are the gaps between them.
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate(([0], change, [flat.size]))
    runs = np.diff(bounds).tolist()
    if flat[0]:
        runs = [0, *runs]
    return {"size": [int(h), int(w)], "counts": [int(r) for r in runs]}


def rle_decode(rle: dict[str, list[int]]) -> BoolMask:
    """Inverse of :func:`rle_encode`; raises ``ValueError`` on inconsistent counts."""
    h, w = (int(v) for v in rle["size"])
    counts = np.asarray(rle["counts"], dtype=np.int64)
    if (counts < 0).any():
        raise ValueError("RLE counts must be non-negative")
    if int(counts.sum()) != h * w:
        raise ValueError(
            f"RLE counts sum to {int(counts.sum())}, expected {h * w} for size {h}x{w}"
        )
    values = np.zeros(len(counts), dtype=bool)
    values[1::2] = True
    flat = np.repeat(values, counts)
    return flat.reshape((h, w), order="F")


def mask_box(mask: npt.NDArray[np.generic]) -> tuple[int, int, int, int] | None:
    """Tight ``(x1, y1, x2, y2)`` box (x2/y2 exclusive) of the set pixels, or ``None`` if empty."""
    ys = np.flatnonzero(mask.any(axis=1))
    if ys.size == 0:
        return None
    xs = np.flatnonzero(mask.any(axis=0))
    return int(xs[0]), int(ys[0]), int(xs[-1]) + 1, int(ys[-1]) + 1
