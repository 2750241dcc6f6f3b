"""A test set painted by code we did not write: PyPI's ``defect-synthesis`` on our clean parts.

Our renderer draws the defect-free scene (held-out families, background and camera); the
defects are painted afterwards by ``defect-synthesis`` generators (its ``ScratchGenerator`` and
``CrackGenerator``), restricted to each part by its ROI mask, one defect per call so every
instance has its own exact mask. Its ``TextureWarpGenerator`` (a dent, by its description) was
judged and left out: on the smooth finishes of machined parts its displacement field changes
almost no pixel, yet its mask covers the whole disc it displaced, so it would label invisible
defects (seen on every sample rendered while building this; the model card says so). Nothing of
ours decides what a defect looks like here, so a model that learned our painters' habits only
scores low.

It is in the ``train`` extra (its ``opencv-python`` dependency is ultralytics' too). Its
generators use Python's global ``random``; each image seeds it, so the set is reproducible.
"""

from __future__ import annotations

import random
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from lineinspect.render.randomized import DETECTOR_CLASSES, PART_CLASS_ID, Instance, render_still
from lineinspect.render.world import WORLDS
from models.data.layout import SPLIT_IDS, write_split_dataset
from models.data.randomized import write_sample

RECIPE_VERSION = 1
MIN_PIXELS = 8
CLASS_OF = {"scratch": 0, "crack": 1}  # theirs -> ours


def _generators(r: float) -> dict[str, Any]:
    """Their generators with sizes scaled to a part of radius ``r`` px (defaults: 640 px art)."""
    from defect_synthesis import CrackGenerator, ScratchGenerator

    big = max(8, int(r * 0.9))
    return {
        "scratch": ScratchGenerator(stroke_count_range=(1, 1),
                                    length_range=(max(6, int(r * 0.25)), big)),
        "crack": CrackGenerator(base_length_range=(max(8, int(r * 0.3)), big),
                                base_width_range=(1, 2), max_branches=3),
    }


def paint_external(img: np.ndarray, parts: list[np.ndarray], rng: np.random.Generator,
                   max_defects: int = 3) -> tuple[np.ndarray, list[Instance]]:
    """Let ``defect-synthesis`` paint 0–``max_defects`` defects on each part mask."""
    out: list[Instance] = []
    for part in parts:
        ys, xs = np.nonzero(part)
        if xs.size < 400:
            continue
        r = 0.5 * max(xs.max() - xs.min(), ys.max() - ys.min())
        gens = _generators(r)
        free = cv2.erode(part.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
        for _ in range(int(rng.integers(0, max_defects + 1))):
            kind = str(rng.choice(list(CLASS_OF)))
            res = gens[kind].apply(img, roi_mask=free.astype(np.uint8) * 255)
            mask = (res.anomaly_mask > 0) & free
            if mask.sum() < MIN_PIXELS:
                continue
            img = res.image
            free &= ~(cv2.dilate(mask.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0)
            out.append((CLASS_OF[kind], mask))
    return img, out


def _render_one(args: tuple[str, int, int, str, Path]) -> dict[str, Any]:
    split, index, seed, world_name, out = args
    rng = np.random.default_rng([seed, SPLIT_IDS[split], index, 31])
    random.seed(int(rng.integers(0, 2**31)))
    clean_world = replace(WORLDS[world_name], p_no_defect=1.0)
    img, inst = render_still(rng, 312, 416, clean_world)
    parts = [m for c, m in inst if c == PART_CLASS_ID]
    img, defects = paint_external(img, parts, rng)
    return write_sample(out, split, f"{index:06d}", img, inst + defects)


def write_external(out: Path, count: int, seed: int, world: str = "heldout",
                   workers: int = 2) -> Path:
    """A ``test`` split of ``count`` images; returns its ``data.yaml``."""
    import defect_synthesis

    recipe = {"generator": "defect-synthesis on lineinspect clean parts",
              "defect_synthesis_version": getattr(defect_synthesis, "__version__", "unknown"),
              "recipe_version": RECIPE_VERSION, "seed": seed, "world": asdict(WORLDS[world]),
              "class_of": CLASS_OF}
    return write_split_dataset(out, {"test": count}, DETECTOR_CLASSES, recipe, _render_one,
                               lambda split, i: (split, i, seed, world, out.resolve()), workers)
