"""The v2 renderer's stills with their parts labelled: the same images and defect labels as
without, plus one ``part`` row per visible part, so classic stills can train beside the
randomised world's (a v3 that keeps v2's in-distribution accuracy)."""

from __future__ import annotations

from pathlib import Path

import yaml

from lineinspect.render.randomized import DETECTOR_CLASSES, PART_CLASS_ID
from models.data.synth import write_dataset


def _rows(path: Path) -> list[list[float]]:
    return [[float(v) for v in line.split()] for line in path.read_text().splitlines()]


def test_parts_are_labelled_without_changing_the_images_or_defects(tmp_path: Path) -> None:
    plain = write_dataset(tmp_path / "plain", {"train": 8}, seed=5, size=160, workers=1)
    parts = write_dataset(tmp_path / "parts", {"train": 8}, seed=5, size=160, workers=1,
                          parts=True)
    assert yaml.safe_load(parts.read_text())["names"] == dict(enumerate(DETECTOR_CLASSES))
    assert len(yaml.safe_load(plain.read_text())["names"]) == 3
    seen_parts = 0
    for label in sorted((tmp_path / "plain" / "labels" / "train").glob("*.txt")):
        other = tmp_path / "parts" / "labels" / "train" / label.name
        img = Path(str(label).replace("labels", "images")).with_suffix(".jpg")
        assert img.read_bytes() == Path(str(other).replace("labels", "images")).with_suffix(
            ".jpg").read_bytes()
        defects = _rows(label)
        rows = _rows(other)
        assert [r for r in rows if r[0] != PART_CLASS_ID] == defects
        boxes = [r for r in rows if r[0] == PART_CLASS_ID]
        seen_parts += len(boxes)
        assert 1 <= len(boxes) <= 2
        for _, cx, cy, _, _ in defects:  # every defect lies on a labelled part
            assert any(abs(cx - p[1]) <= p[3] / 2 + 1e-3 and abs(cy - p[2]) <= p[4] / 2 + 1e-3
                       for p in boxes)
    assert seen_parts >= 8
