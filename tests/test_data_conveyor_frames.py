"""The fine-tuning dataset cut from conveyor scenes: labels that match the frames, the runtime's
resize, and no leak of the evaluation scenes into training."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from lineinspect.render.line import RandomConveyor
from lineinspect.render.video import ConveyorScene, GroundTruth
from lineinspect.render.world import WORLDS
from models.data.conveyor_frames import (
    EVAL_SEEDS,
    LINE_EVAL_SEEDS,
    LINE_LATER_FRAME,
    write_conveyor_dataset,
    yolo_lines,
)


@pytest.mark.parametrize(("box", "size", "line"), [
    ((0, 0, 640, 480), (640, 480), "2 0.500000 0.500000 1.000000 1.000000"),
    ((10, 20, 30, 60), (640, 480), "2 0.031250 0.083333 0.031250 0.083333"),
    ((600, 0, 640, 48), (640, 480), "2 0.968750 0.050000 0.062500 0.100000"),
])  # fmt: skip
def test_yolo_lines_normalise_by_the_frame(box: tuple[int, int, int, int],
                                           size: tuple[int, int], line: str) -> None:
    assert yolo_lines([GroundTruth(1, 0, 2, box)], *size) == [line]


def test_dataset_frames_and_labels_match_the_scene(tmp_path: Path) -> None:
    data = write_conveyor_dataset(tmp_path / "ds", train_seeds=[7, 8], val_seeds=[9],
                                  frames=4, every=11)
    spec = yaml.safe_load(data.read_text())
    assert spec["train"] == "images/train" and spec["val"] == "images/val"
    assert spec["names"] == {0: "scratch", 1: "crack", 2: "dent"}
    train = sorted((tmp_path / "ds" / "images" / "train").glob("*.jpg"))
    assert len(train) == 8 and len(list((tmp_path / "ds" / "images" / "val").glob("*"))) == 4

    scene = ConveyorScene(8)
    frame, truth = scene.render(33)  # the fourth frame taken, every 11th
    name = "s0008_f00033"
    img = cv2.imread(str(tmp_path / "ds" / "images" / "train" / f"{name}.jpg"))
    assert img.shape == (240, 320, 3)  # the model input's width, the camera's aspect
    # The pixels the edge runtime sees: the same linear downscale (JPEG q95 chroma subsampling
    # and the sensor noise it smooths account for the rest).
    expected = cv2.resize(frame, (320, 240), interpolation=cv2.INTER_LINEAR)
    assert np.abs(img.astype(int) - expected.astype(int)).mean() < 4.0
    labels = (tmp_path / "ds" / "labels" / "train" / f"{name}.txt").read_text().split("\n")
    assert [ln for ln in labels if ln] == yolo_lines(truth, 640, 480)
    total = sum(len(ConveyorScene(s).render(i * 11)[1]) for s in (7, 8) for i in range(4))
    written = sum(len(p.read_text().split("\n")) - 1
                  for p in (tmp_path / "ds" / "labels" / "train").glob("*.txt"))
    assert written == total and total > 0


def test_classic_conveyor_frames_can_label_their_parts(tmp_path: Path) -> None:
    data = write_conveyor_dataset(tmp_path / "ds", train_seeds=[7], val_seeds=[9], frames=6,
                                  every=13, size=640, parts=True)
    assert yaml.safe_load(data.read_text())["names"] == {0: "scratch", 1: "crack", 2: "dent",
                                                          3: "part"}
    scene = ConveyorScene(7)
    seen_part = 0
    for k in range(6):
        frame, defects, parts = scene.render_all(k * 13)
        assert np.array_equal(frame, ConveyorScene(7).render(k * 13)[0])  # same pixels
        rows = (tmp_path / "ds" / "labels" / "train" / f"s0007_f{k * 13:05d}.txt").read_text()
        assert [r for r in rows.split("\n") if r] == yolo_lines(defects + parts, 640, 480)
        for d in defects:  # every defect lies on a visible part's box
            owner = [p for p in parts if p.part_id == d.part_id]
            assert len(owner) == 1 and owner[0].class_name == "part"
            (x1, y1, x2, y2), (px1, py1, px2, py2) = d.box, owner[0].box
            assert px1 <= x1 and py1 <= y1 and x2 <= px2 and y2 <= py2
        for p in parts:  # clipped to the frame, never empty
            x1, y1, x2, y2 = p.box
            assert 0 <= x1 < x2 <= 640 and 0 <= y1 < y2 <= 480
        seen_part += len(parts)
    assert seen_part >= 4


@pytest.mark.parametrize(("train", "val"), [([0, 5], [6]), ([5], [1]), ([5, 6], [6])])
def test_evaluation_scenes_and_overlaps_are_refused(tmp_path: Path, train: list[int],
                                                    val: list[int]) -> None:
    with pytest.raises(ValueError, match="seed"):
        write_conveyor_dataset(tmp_path / "ds", train, val, frames=1)
    assert not (tmp_path / "ds").exists()  # nothing written
    assert {0, 1} == EVAL_SEEDS  # the scenes tests/test_track_conveyor.py scores


def test_randomised_line_frames_label_parts_and_refuse_the_evaluation_lines(
        tmp_path: Path) -> None:
    data = write_conveyor_dataset(tmp_path / "line", [5], [6], frames=4, every=9, size=416,
                                  world="heldout")
    names = yaml.safe_load(data.read_text())["names"]
    assert names == {0: "scratch", 1: "crack", 2: "dent", 3: "part"}
    rows = [r.split() for f in (tmp_path / "line" / "labels" / "train").glob("*.txt")
            for r in f.read_text().splitlines()]
    assert any(r[0] == "3" for r in rows)
    with pytest.raises(ValueError, match="evaluation"):
        write_conveyor_dataset(tmp_path / "bad", [1000], [6], world="heldout")


def test_an_evaluation_line_is_trainable_only_after_its_clip(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="evaluation"):
        write_conveyor_dataset(tmp_path / "early", [1000], [6], frames=1,
                               world="heldout", first_frame=LINE_LATER_FRAME - 1)
    assert not (tmp_path / "early").exists()
    data = write_conveyor_dataset(tmp_path / "later", [1000], [6], frames=2, every=5,
                                  size=320, world="heldout", first_frame=LINE_LATER_FRAME)
    names = sorted(p.name for p in (data.parent / "images" / "train").iterdir())
    assert names == [f"s1000_f{LINE_LATER_FRAME:05d}.jpg", f"s1000_f{LINE_LATER_FRAME + 5:05d}.jpg"]
    with pytest.raises(ValueError, match="first_frame"):
        write_conveyor_dataset(tmp_path / "neg", [5], [6], world="heldout", first_frame=-1)


@pytest.mark.parametrize("seed", sorted(LINE_EVAL_SEEDS))
def test_no_part_of_an_evaluation_clip_is_in_view_from_the_later_frame(seed: int) -> None:
    # The card's line videos: 30 s at 15 fps (synth-video --seconds 30).
    line = RandomConveyor(WORLDS["heldout"], seed, fps=15.0)
    in_clip = {p.part_id for i in range(450) for p, _ in line.visible_parts(i)}
    later = {p.part_id for i in range(LINE_LATER_FRAME, LINE_LATER_FRAME + 300)
             for p, _ in line.visible_parts(i)}
    assert in_clip and later
    assert not in_clip & later
