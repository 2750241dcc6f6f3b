"""Write a domain-randomised detection dataset (``lineinspect models synth --world W``).

Same layout and label formats as :mod:`models.data.synth` (YOLO boxes, YOLO-seg polygons, COCO
RLE, ``data.yaml``, ``recipe.json``), with four classes — the three defects and ``part`` — and
frames at camera aspect ratios. A share of the frames is rendered at a camera's resolution and
scaled down to the model input the way the edge letterbox does, so thin defects arrive as soft
sub-pixel lines, as they do at run time. Every image has its own generator seeded by
``(seed, split, index)``: reproducible, and rendered in parallel.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from lineinspect.masks import mask_box, rle_encode
from lineinspect.render.randomized import DETECTOR_CLASSES, Instance, render_still
from lineinspect.render.scene import polygon_of
from lineinspect.render.world import WORLDS
from models.data.layout import SPLIT_IDS, write_split_dataset
from models.data.synth import yolo_box_line

RECIPE_VERSION = 1
# (width, height) at the model input, and the share of frames rendered at a camera's resolution
# (640 wide) and scaled down.
ASPECTS = ((416, 312), (416, 234), (416, 416))
P_DOWNSCALED = 0.5
CAMERA_WIDTH = 640


def _shrink(img: np.ndarray, inst: list[Instance], w: int,
            h: int) -> tuple[np.ndarray, list[Instance]]:
    small = cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR)
    out = []
    for c, m in inst:
        cover = cv2.resize(m.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA)
        mk = cover > 0.2
        if mk.any():
            out.append((c, mk))
    return small, out


def render_frame(rng: np.random.Generator, world_name: str) -> tuple[np.ndarray, list[Instance]]:
    """One training frame at the model input size, with its instances."""
    w, h = ASPECTS[int(rng.choice(len(ASPECTS), p=[0.5, 0.25, 0.25]))]
    world = WORLDS[world_name]
    if rng.random() < P_DOWNSCALED:
        big_h = round(h * CAMERA_WIDTH / w)
        img, inst = render_still(rng, big_h, CAMERA_WIDTH, world)
        return _shrink(img, inst, w, h)
    return render_still(rng, h, w, world)


def write_sample(out: Path, split: str, name: str, img: np.ndarray,
                 inst: list[Instance]) -> dict[str, Any]:
    """Write one image with its YOLO, YOLO-seg labels; returns its COCO record."""
    h, w = img.shape[:2]
    cv2.imwrite(str(out / "images" / split / f"{name}.jpg"), img, [cv2.IMWRITE_JPEG_QUALITY, 95])
    det, seg, anns = [], [], []
    for cls, m in inst:
        box = mask_box(m)
        if box is None:
            continue
        x1, y1, x2, y2 = box
        det.append(yolo_box_line(cls, box, w, h))
        poly = polygon_of(m)
        if len(poly) >= 6:
            seg.append(f"{cls} " + " ".join(
                f"{v / (w if k % 2 == 0 else h):.5f}" for k, v in enumerate(poly)))
        anns.append({"category_id": cls, "bbox": [x1, y1, x2 - x1, y2 - y1],
                     "area": int(m.sum()), "segmentation": rle_encode(m), "iscrowd": 0})
    (out / "labels" / split / f"{name}.txt").write_text("\n".join(det) + "\n" * bool(det))
    (out / "labels-seg" / split / f"{name}.txt").write_text("\n".join(seg) + "\n" * bool(seg))
    return {"file_name": f"images/{split}/{name}.jpg", "width": w, "height": h, "anns": anns}


def _render_one(args: tuple[str, int, int, str, Path]) -> dict[str, Any]:
    split, index, seed, world_name, out = args
    rng = np.random.default_rng([seed, SPLIT_IDS[split], index, 7])
    img, inst = render_frame(rng, world_name)
    return write_sample(out, split, f"{index:06d}", img, inst)


def write_randomized(out: Path, counts: dict[str, int], seed: int, world: str = "train",
                     workers: int = 2) -> Path:
    """Render the dataset and return the path of its ``data.yaml``."""
    if world not in WORLDS:
        raise ValueError(f"unknown world {world!r}; choose one of {sorted(WORLDS)}")
    recipe = {"generator": "lineinspect.models.data.randomized", "recipe_version": RECIPE_VERSION,
              "seed": seed, "counts": counts, "world": asdict(WORLDS[world])}
    return write_split_dataset(out, counts, DETECTOR_CLASSES, recipe, _render_one,
                               lambda split, i: (split, i, seed, world, out.resolve()), workers)
