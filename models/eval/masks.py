"""Mask quality of the refiner, in frame pixels, beside the box-only estimate.

Two sets of crops, both from the *held-out* world (part families, background and a defect style
training never sees) and seeds training never uses:

- ``jittered``: crops around each defect's true box jittered as at training time;
- ``detector`` (with a detector model): crops around the detector's true-positive boxes (IoU >=
  0.5 with a truth box of the same class), refined with the detector's class — the edge's case.

Each crop goes through the edge runtime (:class:`edge.refine.model.Refiner`), the chosen mask is
pasted back with :func:`lineinspect.crops.paste_mask` at the manifest's threshold, and scored
against the instance's true mask: IoU, and the relative area error ``|refined - truth| / truth``.
The box-only figures score the box the crop was made from as if it were the mask (area = box
w x h). A crop the refiner returns ``None`` for is scored as its box (what the edge keeps).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

from edge.refine.model import Refiner
from lineinspect.classes import DEFECT_CLASSES
from lineinspect.crops import Window, crop_image, crop_window, paste_mask
from lineinspect.masks import mask_box

Box = tuple[float, float, float, float]
BATCH = 16


class MaskEvalConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: Path
    count: int = Field(400, ge=1, description="jittered-box crops")
    seed: int = Field(9001, description="held-out seed; training uses other seeds")
    world: str = "heldout"
    detector: Path | None = None
    frames: int = Field(150, ge=1, description="frames for the detector pass")
    threads: int = Field(1, ge=1)
    # Frames this many pixels wide. 416 (the v1/v2 detector's input) is the harsh measure: a
    # defect covers few pixels, so one pixel of boundary costs much IoU. A 640x480 camera (the
    # held-out line videos) gives each defect 1.5x the pixels on a side.
    frame_width: int = Field(416, ge=64)


def mask_iou(pred: npt.NDArray[np.bool_], truth: npt.NDArray[np.bool_]) -> float:
    """Intersection over union; two empty masks agree perfectly (1.0)."""
    union = int(np.logical_or(pred, truth).sum())
    return 1.0 if union == 0 else int(np.logical_and(pred, truth).sum()) / union


def area_error(pred_area: float, truth_area: float) -> float:
    """``|pred - truth| / truth``; a truth of 0 pixels is an error (nothing to compare to)."""
    if truth_area <= 0:
        raise ValueError("truth area must be > 0")
    return abs(pred_area - truth_area) / truth_area


def box_as_mask(box: Box, width: int, height: int) -> npt.NDArray[np.bool_]:
    """The pixels whose centres lie inside ``box`` (the box-only 'mask')."""
    x1, y1, x2, y2 = box
    xs, ys = np.arange(width) + 0.5, np.arange(height) + 0.5
    cols = (xs >= x1) & (xs < x2)
    rows = (ys >= y1) & (ys < y2)
    return np.asarray(rows[:, None] & cols[None, :], dtype=bool)


@dataclass(frozen=True)
class Case:
    """One crop to score: where it came from, the class asked for, and the truth."""

    image: npt.NDArray[np.uint8]  # the frame
    box: Box
    class_id: int  # the class passed to refine() (truth's, or the detector's)
    truth: npt.NDArray[np.bool_]  # the instance's frame mask


@dataclass(frozen=True)
class Score:
    class_id: int
    iou: float
    area_err: float
    box_iou: float
    box_area_err: float
    refined: bool  # False: the refiner returned None and the box was kept
    class_agrees: bool


def score_cases(refiner: Refiner, cases: Iterable[Case]) -> Iterator[Score]:
    """Crop, refine (in batches), paste back and score each case."""
    batch: list[tuple[Case, Window]] = []
    for case in cases:
        batch.append((case, crop_window(case.box, refiner.pad, refiner.min_side)))
        if len(batch) == BATCH:
            yield from _score_batch(refiner, batch)
            batch = []
    if batch:
        yield from _score_batch(refiner, batch)


def _score_batch(refiner: Refiner, batch: list[tuple[Case, Window]]) -> Iterator[Score]:
    s = refiner.input_size
    crops = np.stack([crop_image(c.image, w, s) for c, w in batch])
    names = [DEFECT_CLASSES[c.class_id] for c, _ in batch]
    for (case, win), got in zip(batch, refiner.refine_batch(crops, names), strict=True):
        h, w = case.truth.shape
        boxmask = box_as_mask(case.box, w, h)
        truth_area = float(case.truth.sum())
        if got is None:
            pred, agrees = boxmask, False
        else:
            pred = paste_mask(got.prob, win, w, h, refiner.mask_threshold).full(w, h)
            agrees = got.class_name == DEFECT_CLASSES[case.class_id]
        yield Score(case.class_id, mask_iou(pred, case.truth),
                    area_error(float(pred.sum()), truth_area), mask_iou(boxmask, case.truth),
                    area_error(float(boxmask.sum()), truth_area), got is not None, agrees)


def summarise(scores: list[Score]) -> dict[str, Any]:
    """Mean IoU and median area error, refined and box-only, overall and per class."""
    def block(rows: list[Score]) -> dict[str, Any]:
        if not rows:
            return {"n": 0}
        return {"n": len(rows),
                "mask_iou_mean": round(float(np.mean([r.iou for r in rows])), 4),
                "area_err_median": round(float(np.median([r.area_err for r in rows])), 4),
                "box_iou_mean": round(float(np.mean([r.box_iou for r in rows])), 4),
                "box_area_err_median": round(float(np.median([r.box_area_err for r in rows])), 4),
                "refined_share": round(float(np.mean([r.refined for r in rows])), 4),
                "class_agrees_share": round(float(np.mean([r.class_agrees for r in rows])), 4)}

    out = {"all": block(scores)}
    for k, name in enumerate(DEFECT_CLASSES):
        out[name] = block([r for r in scores if r.class_id == k])
    return out


def jittered_cases(cfg: MaskEvalConfig, pad: float, min_side: float) -> Iterator[Case]:
    """Held-out defects, boxes jittered as at training time (same generator as training)."""
    from models.data.randomized import render_frame
    from models.data.refiner_crops import jitter_box

    n, index = 0, 0
    while n < cfg.count:
        rng = np.random.default_rng([cfg.seed, index, 12])
        image, instances = render_frame(rng, cfg.world, cfg.frame_width)
        index += 1
        for cls, mask in instances:
            tight = mask_box(mask)
            if cls >= len(DEFECT_CLASSES) or tight is None or n >= cfg.count:
                continue
            box = jitter_box(rng, tuple(float(v) for v in tight))  # type: ignore[arg-type]
            n += 1
            yield Case(image, box, cls, mask)


def _box_iou(a: Box, b: Box) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def detector_cases(cfg: MaskEvalConfig) -> Iterator[Case]:
    """Crops around the detector's true positives on held-out frames (greedy matching by score,
    same class, box IoU >= 0.5); the class asked for is the detector's."""
    from edge.detect.detector import Detector
    from edge.detect.settings import DetectorSettings
    from models.data.randomized import render_frame

    det = Detector(DetectorSettings(model=cfg.detector, providers=["cpu"],
                                    intra_op_threads=cfg.threads, warmup_runs=0))
    for index in range(cfg.frames):
        rng = np.random.default_rng([cfg.seed, index, 13])
        image, instances = render_frame(rng, cfg.world, cfg.frame_width)
        truths = [(c, m, mask_box(m)) for c, m in instances if c < len(DEFECT_CLASSES)]
        used: set[int] = set()
        found = det.detect(image)
        for xyxy, cid in zip(found.xyxy, found.class_id, strict=True):
            name = det.class_names[int(cid)]
            if name not in DEFECT_CLASSES:
                continue
            box = tuple(float(v) for v in xyxy)
            best, best_iou = -1, 0.5
            for j, (c, _, tb) in enumerate(truths):
                if j in used or tb is None or DEFECT_CLASSES[c] != name:
                    continue
                iou = _box_iou(box, tuple(float(v) for v in tb))  # type: ignore[arg-type]
                if iou >= best_iou:
                    best, best_iou = j, iou
            if best >= 0:
                used.add(best)
                yield Case(image, box, DEFECT_CLASSES.index(name), truths[best][1])  # type: ignore[arg-type]


def evaluate_refiner(cfg: MaskEvalConfig) -> dict[str, Any]:
    """The figures for the model card: see the module docstring."""
    refiner = Refiner(cfg.model, intra_op_threads=cfg.threads)
    report: dict[str, Any] = {"world": cfg.world, "seed": cfg.seed, "model": cfg.model.name,
                              "frame_width": cfg.frame_width}
    report["jittered"] = summarise(list(score_cases(
        refiner, jittered_cases(cfg, refiner.pad, refiner.min_side))))
    if cfg.detector is not None:
        report["detector"] = summarise(list(score_cases(refiner, detector_cases(cfg))))
        report["detector"]["detector_model"] = cfg.detector.name
    return report


def resolution_ceiling(sizes: Iterable[int], count: int = 300, seed: int = 5,
                       world: str = "heldout") -> dict[str, dict[str, float]]:
    """The best mean IoU a stride-4 mask head could reach per crop size S, per class: each
    truth's crop coverage shrunk to S/4 (area), upsampled back (bilinear), pasted to the frame
    at 0.5. How S was chosen (models/README.md)."""
    import cv2

    from lineinspect.crops import crop_mask
    from models.data.refiner_crops import make_crops

    out: dict[str, dict[str, float]] = {}
    for size in sizes:
        per: dict[str, list[float]] = {name: [] for name in DEFECT_CLASSES}
        for s in make_crops(count, seed, size, world, keep_frame_mask=True):
            assert s.frame_mask is not None
            h, w = s.frame_mask.shape
            low = cv2.resize(crop_mask(s.frame_mask, s.window, size), (size // 4, size // 4),
                             interpolation=cv2.INTER_AREA)
            up = cv2.resize(low, (size, size), interpolation=cv2.INTER_LINEAR)
            pred = paste_mask(up, s.window, w, h, 0.5).full(w, h)
            per[DEFECT_CLASSES[int(s.classes[0])]].append(mask_iou(pred, s.frame_mask))
        out[str(size)] = {k: round(float(np.mean(v)), 4) for k, v in per.items() if v}
    return out
