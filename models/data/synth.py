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

import json
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import yaml

from lineinspect.masks import mask_box, rle_encode
from lineinspect.render.params import CLASS_NAMES, PRESETS
from lineinspect.render.scene import polygon_of, render_image

RECIPE_VERSION = 1
SPLIT_IDS = {"train": 0, "val": 1, "test": 2}


def yolo_box_line(class_id: int, box: Sequence[int], width: int, height: int) -> str:
    """One YOLO detection label: ``class cx cy w h``, normalised to the image size."""
    x1, y1, x2, y2 = box
    return (f"{class_id} {(x1 + x2) / 2 / width:.6f} {(y1 + y2) / 2 / height:.6f} "
            f"{(x2 - x1) / width:.6f} {(y2 - y1) / height:.6f}")


def _render_one(args: tuple[str, int, int, int, str, Path]) -> dict[str, Any]:
    split, index, seed, size, preset, out = args
    rng = np.random.default_rng([seed, SPLIT_IDS[split], index])
    params = PRESETS[preset]
    img, masks = render_image(rng, size, size, params)
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


def _coco(records: list[dict[str, Any]]) -> dict[str, Any]:
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for img_id, rec in enumerate(records):
        images.append({"id": img_id, "file_name": rec["file_name"], "width": rec["width"],
                       "height": rec["height"]})
        for a in rec["anns"]:
            annotations.append({"id": len(annotations), "image_id": img_id, **a})
    cats = [{"id": i, "name": n} for i, n in enumerate(CLASS_NAMES)]
    return {"images": images, "annotations": annotations, "categories": cats}


def write_dataset(out: Path, counts: dict[str, int], seed: int, size: int = 320,
                  preset: str = "train", workers: int = 2) -> Path:
    """Render the dataset and return the path of its ``data.yaml``."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}")
    out = out.resolve()
    for split in counts:
        if split not in SPLIT_IDS:
            raise ValueError(f"unknown split {split!r}")
        for sub in ("images", "labels", "labels-seg"):
            (out / sub / split).mkdir(parents=True, exist_ok=True)
    (out / "annotations").mkdir(parents=True, exist_ok=True)
    stats: dict[str, Any] = {}
    for split, n in counts.items():
        jobs = [(split, i, seed, size, preset, out) for i in range(n)]
        if workers > 1 and n > 8:
            with ProcessPoolExecutor(workers) as pool:
                records = list(pool.map(_render_one, jobs, chunksize=16))
        else:
            records = [_render_one(j) for j in jobs]
        coco = _coco(records)
        (out / "annotations" / f"instances_{split}.json").write_text(json.dumps(coco))
        per_class = [0] * len(CLASS_NAMES)
        for a in coco["annotations"]:
            per_class[a["category_id"]] += 1
        empty = sum(1 for r in records if not r["anns"])
        stats[split] = {"images": n, "instances": dict(zip(CLASS_NAMES, per_class, strict=False)),
                        "defect_free_images": empty}
    data = {"path": str(out), "names": dict(enumerate(CLASS_NAMES))}
    data.update({("train" if s == "train" else s): f"images/{s}" for s in counts})
    if "val" not in counts and "test" in counts:
        data["val"] = "images/test"
    (out / "data.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    recipe = {"generator": "lineinspect.models.data.synth", "recipe_version": RECIPE_VERSION,
              "seed": seed, "counts": counts, "image_size": size, "preset": preset,
              "params": asdict(PRESETS[preset]), "stats": stats}
    (out / "recipe.json").write_text(json.dumps(recipe, indent=2))
    return out / "data.yaml"
