"""A detection dataset cut from conveyor videos: the camera's own view, for fine-tuning.

The still-image renderer (``synth``) centres one part in a square; a line camera sees parts enter
and leave the frame, clipped by its edges, smaller after the letterbox to the model's input, on a
moving belt. A model trained on stills alone misses more of those (the conveyor recall test says
so), the way a real deployment fine-tunes on frames of its own line.

Frames are rendered by :class:`~lineinspect.render.video.ConveyorScene` and resized to the model
input's width with the same linear interpolation the edge letterbox uses, so training sees the
pixels the runtime will. Scenes are chosen by seed; keep the seeds the evaluation uses (0 and 1 in
the tests) out of training, which :func:`write_conveyor_dataset` refuses to mix.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import yaml

from lineinspect.render.line import RandomConveyor
from lineinspect.render.params import CLASS_NAMES
from lineinspect.render.randomized import DETECTOR_CLASSES
from lineinspect.render.video import ConveyorScene, GroundTruth
from lineinspect.render.world import WORLDS
from models.data.synth import yolo_box_line

RECIPE_VERSION = 1
EVAL_SEEDS = frozenset({0, 1})  # the conveyor scenes event-level recall is measured on
# Randomised lines the model card's event recall is measured on (held-out world videos).
LINE_EVAL_SEEDS = frozenset({1000, 1001, 1002})
# Those videos are 30 s at 15 fps (frames 0-449) and a part crosses the frame in at most 6 s (90
# frames, RandomConveyor's speed): from this frame on no part of an evaluation clip is in view.
# Later frames of an evaluation line are that line's later footage, what a user labels to adapt
# a model to their own line, so they may be trained on (the adaptation curve in the card).
LINE_LATER_FRAME = 600


def yolo_lines(truth: Sequence[GroundTruth], width: int, height: int) -> list[str]:
    """YOLO box lines (class cx cy w h, normalised) for one frame's ground truth."""
    return [yolo_box_line(t.class_id, t.box, width, height) for t in truth]


def _scene_truth(scene: ConveyorScene | RandomConveyor, index: int,
                 parts: bool) -> tuple[np.ndarray, list[GroundTruth]]:
    """A frame and its labels: defects, and with ``parts`` the visible parts too."""
    if not parts:
        return scene.render(index)
    img, defects, visible = scene.render_all(index)
    return img, defects + visible


def _write_split(out: Path, split: str, seeds: Sequence[int],
                 make_scene: Callable[[int], ConveyorScene | RandomConveyor], frames: int,
                 every: int, size: int, first_frame: int, parts: bool) -> dict[str, Any]:
    img_dir, lbl_dir = out / "images" / split, out / "labels" / split
    img_dir.mkdir(parents=True, exist_ok=True)
    lbl_dir.mkdir(parents=True, exist_ok=True)
    names = DETECTOR_CLASSES if parts else CLASS_NAMES
    per_class = [0] * len(names)
    n = 0
    for seed in seeds:
        scene = make_scene(seed)
        dsize = (size, round(size * scene.height / scene.width))
        for k in range(frames):
            index = first_frame + k * every
            img, truth = _scene_truth(scene, index, parts)
            small = cv2.resize(img, dsize, interpolation=cv2.INTER_LINEAR)
            name = f"s{seed:04d}_f{index:05d}"
            cv2.imwrite(str(img_dir / f"{name}.jpg"), small, [cv2.IMWRITE_JPEG_QUALITY, 95])
            lines = yolo_lines(truth, scene.width, scene.height)
            (lbl_dir / f"{name}.txt").write_text("\n".join(lines) + "\n" * bool(lines))
            for t in truth:
                per_class[t.class_id] += 1
            n += 1
    return {"images": n, "seeds": list(seeds), "first_frame": first_frame,
            "instances": dict(zip(names, per_class, strict=True))}


def write_conveyor_dataset(out: Path, train_seeds: Sequence[int], val_seeds: Sequence[int],
                           frames: int = 40, every: int = 7, size: int = 320,
                           fps: float = 15.0, world: str | None = None,
                           first_frame: int = 0, parts: bool = False) -> Path:
    """Render ``frames`` frames (one every ``every``, from ``first_frame``) of each seed's
    scene; returns data.yaml.

    With ``world``, scenes are randomised lines of that world (four classes, parts labelled);
    the evaluation lines are accepted from :data:`LINE_LATER_FRAME` on. Without it, v2's
    conveyor; ``parts`` labels its parts too (four classes), for a detector with a ``part``
    class trained beside randomised lines.
    """
    if first_frame < 0:
        raise ValueError(f"first_frame must be >= 0, got {first_frame}")
    eval_seeds = EVAL_SEEDS if world is None else LINE_EVAL_SEEDS
    if world is not None and first_frame >= LINE_LATER_FRAME:
        eval_seeds = frozenset()
    mixed = eval_seeds & set(train_seeds) | eval_seeds & set(val_seeds)
    if mixed:
        raise ValueError(f"seeds {sorted(mixed)} are the evaluation scenes; train on others")
    if set(train_seeds) & set(val_seeds):
        raise ValueError("a seed may be in train or in val, not both")
    if frames < 1 or every < 1:
        raise ValueError("frames and every must be >= 1")
    out = out.resolve()
    w = WORLDS[world] if world is not None else None
    parts = parts or w is not None

    def make_scene(seed: int) -> ConveyorScene | RandomConveyor:
        return RandomConveyor(w, seed, fps=fps) if w is not None else ConveyorScene(seed, fps=fps)

    stats = {split: _write_split(out, split, seeds, make_scene, frames, every, size, first_frame,
                                 parts)
             for split, seeds in (("train", train_seeds), ("val", val_seeds))}
    names = DETECTOR_CLASSES if parts else CLASS_NAMES
    data = {"path": str(out), "names": dict(enumerate(names)),
            "train": "images/train", "val": "images/val"}
    (out / "data.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    recipe = {"generator": "lineinspect.models.data.conveyor_frames",
              "recipe_version": RECIPE_VERSION, "frames": frames, "every": every, "size": size,
              "fps": fps, "world": world, "parts": parts, "stats": stats}
    (out / "recipe.json").write_text(json.dumps(recipe, indent=2))
    return out / "data.yaml"
