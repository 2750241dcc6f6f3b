"""Write a synthetic defect dataset: YOLO detection labels plus COCO instance masks (RLE).

Layout (what ultralytics and COCO tools expect)::

    OUT/images/{train,val}/NNNNNN.jpg
    OUT/labels/{train,val}/NNNNNN.txt        YOLO boxes: class cx cy w h (normalised)
    OUT/labels-seg/{train,val}/NNNNNN.txt    YOLO-seg polygons: class x1 y1 x2 y2 ... (normalised)
    OUT/annotations/instances_{split}.json   COCO, segmentation as uncompressed RLE
    OUT/data.yaml                            ultralytics dataset file
    OUT/recipe.json                          what produced it (seed, counts, preset, version)

Every image is drawn from its own generator seeded by (seed, split, index), so a dataset is
reproducible bit for bit and can be rendered in parallel.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from lineinspect.masks import mask_box, rle_encode
from lineinspect.render.params import CLASS_NAMES, PRESETS
from lineinspect.render.randomized import DETECTOR_CLASSES, PART_CLASS_ID
from lineinspect.render.scene import polygon_of, render_image
from models.data.layout import SPLIT_IDS, write_split_dataset

RECIPE_VERSION = 1


def yolo_box_line(class_id: int, box: Sequence[int], width: int, height: int) -> str:
    """One YOLO detection label: ``class cx cy w h``, normalised to the image size."""
    x1, y1, x2, y2 = box
    return (f"{class_id} {(x1 + x2) / 2 / width:.6f} {(y1 + y2) / 2 / height:.6f} "
            f"{(x2 - x1) / width:.6f} {(y2 - y1) / height:.6f}")


def _render_one(args: tuple[str, int, int, int, str, Path, bool]) -> dict[str, Any]:
    split, index, seed, size, preset, out, parts = args
    rng = np.random.default_rng([seed, SPLIT_IDS[split], index])
    params = PRESETS[preset]
    img, masks = render_image(rng, size, size, params, PART_CLASS_ID if parts else None)
    name = f"{index:06d}"
    q = int(rng.integers(*params.jpeg_quality))
    cv2.imwrite(str(out / "images" / split / f"{name}.jpg"), img, [cv2.IMWRITE_JPEG_QUALITY, q])
    det_lines, seg_lines, anns = [], [], []
    for cls, m in masks:
        box = mask_box(m)
        if box is None:
            continue
        x1, y1, x2, y2 = box
        det_lines.append(yolo_box_line(cls, box, size, size))
        poly = polygon_of(m)
        if len(poly) >= 6:
            seg_lines.append(f"{cls} " + " ".join(f"{v / size:.5f}" for v in poly))
        anns.append({"category_id": cls, "bbox": [x1, y1, x2 - x1, y2 - y1],
                     "area": int(m.sum()), "segmentation": rle_encode(m), "iscrowd": 0})
    det_text = "\n".join(det_lines) + "\n" * bool(det_lines)
    (out / "labels" / split / f"{name}.txt").write_text(det_text)
    (out / "labels-seg" / split / f"{name}.txt").write_text(
        "\n".join(seg_lines) + "\n" * bool(seg_lines))
    return {"file_name": f"images/{split}/{name}.jpg", "width": size, "height": size, "anns": anns}


def write_dataset(out: Path, counts: dict[str, int], seed: int, size: int = 320,
                  preset: str = "train", workers: int = 2, parts: bool = False) -> Path:
    """Render the dataset and return the path of its ``data.yaml``.

    ``parts`` labels every visible part as class ``part`` (id 3, the v3 detector's classes) on
    the same images, so this renderer's stills can train beside the randomised world's.
    """
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}")
    recipe = {"generator": "lineinspect.models.data.synth", "recipe_version": RECIPE_VERSION,
              "seed": seed, "counts": counts, "image_size": size, "preset": preset,
              "parts": parts, "params": asdict(PRESETS[preset])}
    return write_split_dataset(
        out, counts, DETECTOR_CLASSES if parts else CLASS_NAMES, recipe, _render_one,
        lambda split, i: (split, i, seed, size, preset, out.resolve(), parts), workers,
        split_stats=lambda records: {"defect_free_images": sum(1 for r in records
                                                               if not r["anns"])})
