"""The on-disk layout every dataset writer here shares (what ultralytics and COCO tools read)::

    OUT/images/{split}/NAME.jpg   OUT/labels/{split}/NAME.txt   OUT/labels-seg/{split}/NAME.txt
    OUT/annotations/instances_{split}.json   OUT/data.yaml   OUT/recipe.json

A writer supplies ``render(job) -> record`` (it writes one image and its label files and returns
the image's COCO record: file_name, width, height, anns) and ``job(split, index)``; this module
runs the jobs (in processes when there are many), then writes COCO, ``data.yaml`` and the recipe
with per-split statistics.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import yaml

SPLIT_IDS = {"train": 0, "val": 1, "test": 2}

Record = dict[str, Any]


def coco_document(records: list[Record], names: Sequence[str]) -> dict[str, Any]:
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for img_id, rec in enumerate(records):
        images.append({"id": img_id, "file_name": rec["file_name"], "width": rec["width"],
                       "height": rec["height"]})
        for a in rec["anns"]:
            annotations.append({"id": len(annotations), "image_id": img_id, **a})
    cats = [{"id": i, "name": n} for i, n in enumerate(names)]
    return {"images": images, "annotations": annotations, "categories": cats}


def write_split_dataset(out: Path, counts: dict[str, int], names: Sequence[str],
                        recipe: dict[str, Any], render: Callable[[Any], Record],
                        job: Callable[[str, int], Any], workers: int = 2,
                        split_stats: Callable[[list[Record]], dict[str, Any]] | None = None,
                        ) -> Path:
    """Run ``render(job(split, i))`` for every image; write COCO, data.yaml and recipe.json."""
    out = out.resolve()
    for split in counts:
        if split not in SPLIT_IDS:
            raise ValueError(f"unknown split {split!r}")
        for sub in ("images", "labels", "labels-seg"):
            (out / sub / split).mkdir(parents=True, exist_ok=True)
    (out / "annotations").mkdir(parents=True, exist_ok=True)
    stats: dict[str, Any] = {}
    for split, n in counts.items():
        jobs = [job(split, i) for i in range(n)]
        if workers > 1 and n > 8:
            with ProcessPoolExecutor(workers) as pool:
                records = list(pool.map(render, jobs, chunksize=16))
        else:
            records = [render(j) for j in jobs]
        coco = coco_document(records, names)
        (out / "annotations" / f"instances_{split}.json").write_text(json.dumps(coco))
        per_class = [0] * len(names)
        for a in coco["annotations"]:
            per_class[a["category_id"]] += 1
        stats[split] = {"images": n, "instances": dict(zip(names, per_class, strict=True)),
                        **(split_stats(records) if split_stats else {})}
    data: dict[str, Any] = {"path": str(out), "names": dict(enumerate(names))}
    data.update({s: f"images/{s}" for s in counts})
    if "val" not in counts and "test" in counts:
        data["val"] = "images/test"
    (out / "data.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    (out / "recipe.json").write_text(json.dumps({**recipe, "stats": stats}, indent=2))
    return out / "data.yaml"
