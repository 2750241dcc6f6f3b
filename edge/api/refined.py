"""The refiner's masks on API uploads: crop each defect detection, refine, paste back, measure,
and the JSON shape and drawing of the result. Shared by ``/predict`` and ``lineinspect predict``.

Pure functions of (image, detections, refiner): no server imports, no locks (callers serialise
use of a shared refiner). Crops use the refiner's own ``pad``/``min_side``/``input_size`` through
``lineinspect.crops``, the same geometry it was trained on.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from edge.api.schemas import (
    ImageResult,
    RefinedDetection,
    RefinedImageResult,
    RefinerInfo,
    Rle,
)
from edge.detect.types import Detections
from edge.refine.measure import measure
from edge.stream.annotate import class_colour, draw_overlay, fill_mask, line_width
from edge.stream.hub import Overlay
from lineinspect.classes import NON_DEFECT_CLASSES
from lineinspect.crops import Pasted, crop_image, crop_window, paste_mask
from lineinspect.masks import rle_encode

if TYPE_CHECKING:  # the batch CLI uses this module without the server's imports
    from edge.api.deps import PredictRefiner

ModelView = Literal["detector", "refiner", "both"]
# Query values: the three views, and the names the seeds' docs use for them (mask2former means
# "detect, then refine every defect detection": both).
VIEWS: dict[str, ModelView] = {"detector": "detector", "refiner": "refiner", "both": "both",
                               "yolo": "detector", "mask2former": "both"}
MODEL_CHOICES = tuple(VIEWS)


def canonical_model(name: str) -> ModelView:
    """``yolo`` -> ``detector``, ``mask2former`` -> ``both``; raises ValueError naming the
    accepted values for anything else."""
    try:
        return VIEWS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; use one of {', '.join(VIEWS)}") from None


@dataclass(frozen=True, slots=True)
class Refined:
    """One detection's mask in image pixels and what is measured on it."""

    pasted: Pasted
    area_px: int
    length_px: float
    width_px: float
    score: float


def refinable(class_name: str, refiner: PredictRefiner) -> bool:
    """Defect classes the refiner knows; ``part`` is never refined (not a defect)."""
    return class_name in refiner.class_names and class_name not in NON_DEFECT_CLASSES


def refine_box(image: np.ndarray, box: Sequence[float], class_name: str,
               refiner: PredictRefiner) -> Refined | None:
    """The refiner's mask for one box, or None if it finds none (no mask pixel survives the
    refiner's threshold once pasted back)."""
    h, w = image.shape[:2]
    x1, y1, x2, y2 = (float(v) for v in box)
    if not (x2 > x1 and y2 > y1):
        return None  # a degenerate box has no window to crop
    win = crop_window((x1, y1, x2, y2), refiner.pad, refiner.min_side)
    out = refiner.refine(crop_image(image, win, refiner.input_size), class_name)
    if out is None:
        return None
    pasted = paste_mask(out.prob, win, w, h, refiner.mask_threshold)
    m = measure(pasted)  # the same sizes the edge's refined events carry
    if m.area_px == 0:
        return None
    return Refined(pasted, m.area_px, round(m.length_px, 2), round(m.width_px, 2),
                   float(out.score))


def refine_all(image: np.ndarray, det: Detections, names: Sequence[str],
               refiner: PredictRefiner) -> tuple[list[Refined | None], float]:
    """One entry per detection (None: not refined) and the refiner's total time in ms."""
    t0 = time.perf_counter()
    out: list[Refined | None] = []
    for box, cid in zip(det.xyxy.tolist(), det.class_id.tolist(), strict=True):
        name = names[cid] if 0 <= cid < len(names) else str(cid)
        out.append(refine_box(image, box, name, refiner) if refinable(name, refiner) else None)
    return out, (time.perf_counter() - t0) * 1000


def refined_result(base: ImageResult, refined: Sequence[Refined | None], refine_ms: float,
                   view: ModelView) -> RefinedImageResult:
    """``base`` (the detector-only result) with the masks: every detection for ``both``, the
    refined ones only for ``refiner``."""
    rows = []
    for d, r in zip(base.detections, refined, strict=True):
        if r is None and view == "refiner":
            continue
        extra = _mask_fields(r, base.width, base.height)
        rows.append(RefinedDetection(class_id=d.class_id, class_name=d.class_name,
                                     score=d.score, box=d.box,
                                     **extra))
    return RefinedImageResult(file=base.file, width=base.width, height=base.height,
                              detections=rows, inference_ms=base.inference_ms,
                              refine_ms=round(refine_ms, 3))


def _mask_fields(r: Refined | None, width: int, height: int) -> dict[str, object]:
    if r is None:
        return {"refined": False, "mask": None, "area_px": None, "length_px": None,
                "width_px": None, "refiner_score": None}
    rle = rle_encode(r.pasted.full(width, height))
    return {"refined": True, "mask": Rle(size=rle["size"], counts=rle["counts"]),
            "area_px": r.area_px, "length_px": r.length_px, "width_px": r.width_px,
            "refiner_score": round(min(max(r.score, 0.0), 1.0), 6)}


def refiner_info(refiner: PredictRefiner) -> RefinerInfo:
    m = getattr(refiner, "manifest", None)  # the real Refiner's; a bare session has none
    return RefinerInfo(name=str(getattr(m, "name", "refiner")),
                       version=str(getattr(m, "version", "")),
                       sha256=str(getattr(m, "sha256", "")),
                       classes=list(refiner.class_names), input_size=int(refiner.input_size),
                       mask_threshold=float(refiner.mask_threshold))


def draw_masks(canvas: np.ndarray, masks: Sequence[tuple[Pasted, tuple[int, int, int]]],
               ) -> np.ndarray:
    """Each mask filled and outlined in its colour, in place, as the stream draws them; returns
    ``canvas``. Drawn before the boxes so labels stay on top."""
    outline = max(1, line_width(*canvas.shape[:2]) // 2)
    for pasted, colour in masks:
        fill_mask(canvas, pasted, colour, outline)
    return canvas


def draw_outcome(image: np.ndarray, det: Detections, refined: Sequence[Refined | None],
                 view: ModelView, names: Sequence[str]) -> np.ndarray:
    """A copy of ``image`` with the masks (translucent fill, outline) and then the boxes of
    what the response lists: every detection, or for ``refiner`` the refined ones only."""
    masks = [(r.pasted, class_colour(int(cid))) for r, cid in
             zip(refined, det.class_id.tolist(), strict=True) if r is not None]
    if view == "refiner":
        keep = np.array([r is not None for r in refined], dtype=bool)
        det = Detections(det.xyxy[keep], det.score[keep], det.class_id[keep])
    canvas = draw_masks(image.copy(), masks)
    return draw_overlay(canvas, Overlay(det.xyxy, det.class_id, det.score, class_names=names))
