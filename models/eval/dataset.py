"""Read a YOLO-format detection dataset split (ours or a user's) for evaluation."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from lineinspect.images import images_in


@dataclass
class Sample:
    image: Path
    rows: np.ndarray  # (N, 5): class, cx, cy, w, h normalised (YOLO label rows)

    def ground_truth(self, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
        """(xyxy pixels (N, 4), class ids (N,)) for an image of size ``h`` x ``w``."""
        r = self.rows
        cx, cy, bw, bh = r[:, 1] * w, r[:, 2] * h, r[:, 3] * w, r[:, 4] * h
        xyxy = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1)
        return xyxy, r[:, 0].astype(np.int64)


def load_data_yaml(path: Path) -> tuple[Path, dict[str, str], list[str]]:
    """Return (dataset root, {split: images dir}, class names) from an ultralytics data.yaml."""
    doc = yaml.safe_load(path.read_text())
    if not isinstance(doc, dict) or "names" not in doc:
        raise ValueError(f"{path}: not a YOLO data.yaml (no 'names')")
    root = Path(doc.get("path") or path.parent)
    if not root.is_absolute():
        root = (path.parent / root).resolve()
    names = doc["names"]
    names_list = [names[k] for k in sorted(names)] if isinstance(names, dict) else list(names)
    splits = {k: str(doc[k]) for k in ("train", "val", "test") if k in doc}
    return root, splits, names_list


def iter_split(images_dir: Path) -> Iterator[Sample]:
    """Yield samples with labels read from the sibling ``labels`` folder (YOLO convention)."""
    if not images_dir.is_dir():
        raise FileNotFoundError(f"images folder {images_dir} does not exist")
    for img in images_in(images_dir):
        label = Path(str(img.parent).replace("/images", "/labels", 1)) / f"{img.stem}.txt"
        has_rows = label.exists() and label.stat().st_size > 0
        rows = np.loadtxt(label, ndmin=2) if has_rows else np.zeros((0, 5))
        yield Sample(img, rows.reshape(-1, 5))
