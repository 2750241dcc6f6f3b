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
# (width, height) at a 416-wide model input (other widths scale them), and the share of frames
# rendered at a camera's resolution (640 wide for a 416 input, the same ratio for others) and
# scaled down.
ASPECTS = ((416, 312), (416, 234), (416, 416))
P_DOWNSCALED = 0.5
CAMERA_WIDTH = 640
DEFAULT_WIDTH = 416


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


def render_frame(rng: np.random.Generator, world_name: str,
                 width: int = DEFAULT_WIDTH) -> tuple[np.ndarray, list[Instance]]:
    """One training frame ``width`` pixels wide (the model input), with its instances."""
    aw, ah = ASPECTS[int(rng.choice(len(ASPECTS), p=[0.5, 0.25, 0.25]))]
    w, h = width, round(ah * width / aw)
    world = WORLDS[world_name]
    if rng.random() < P_DOWNSCALED:
        big_w = round(CAMERA_WIDTH * width / DEFAULT_WIDTH)
        img, inst = render_still(rng, round(h * big_w / w), big_w, world)
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


def _render_one(args: tuple[str, int, int, str, Path, int]) -> dict[str, Any]:
    split, index, seed, world_name, out, width = args
    rng = np.random.default_rng([seed, SPLIT_IDS[split], index, 7])
    img, inst = render_frame(rng, world_name, width)
    return write_sample(out, split, f"{index:06d}", img, inst)


def write_randomized(out: Path, counts: dict[str, int], seed: int, world: str = "train",
                     workers: int = 2, width: int = DEFAULT_WIDTH) -> Path:
    """Render the dataset (frames ``width`` pixels wide) and return its ``data.yaml`` path."""
    if world not in WORLDS:
        raise ValueError(f"unknown world {world!r}; choose one of {sorted(WORLDS)}")
    if not 64 <= width <= 2048:
        raise ValueError(f"frame width {width} is outside 64..2048 pixels")
    recipe = {"generator": "lineinspect.models.data.randomized", "recipe_version": RECIPE_VERSION,
              "seed": seed, "counts": counts, "width": width, "world": asdict(WORLDS[world])}
    return write_split_dataset(out, counts, DETECTOR_CLASSES, recipe, _render_one,
                               lambda split, i: (split, i, seed, world, out.resolve(), width),
                               workers)
