"""A domain-randomised conveyor: a line the detector may never have seen, with per-frame truth.

Like :class:`lineinspect.render.video.ConveyorScene` (same ``render(i) -> (image, truth)``
contract, pure in ``(seed, i)``, one ``defect_id`` per physical defect), but every scene draws its
parts, finishes, background, camera and belt speed from a :class:`~lineinspect.render.world.World`:
mono or colour, light that drifts over time, motion blur from the belt speed, parts from 15 % to
60 % of the frame height, one or two lanes. Built from :data:`~lineinspect.render.world.
HELDOUT_WORLD` it is the zero-shot test: a line made only of families training never saw.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from lineinspect.masks import mask_box
from lineinspect.render.backgrounds import make_background
from lineinspect.render.optics import Camera, develop, light_field, sample_camera
from lineinspect.render.randomized import (
    PART_CLASS_ID,
    Sprite,
    make_sprite,
    place_sprite,
    visibility_floor,
)
from lineinspect.render.video import MIN_VISIBLE, NOISE_BANK, GroundTruth, visible_on_belt
from lineinspect.render.world import World

LIGHT_STEPS = 32  # the drifting light is precomputed at this many phases


@dataclass(frozen=True)
class _Plan:
    part_id: int
    start: float  # frame index at which the part's leading edge enters
    cy: float
    radius: float
    n_defects: int


class RandomConveyor:
    """Deterministic randomised line: parts enter on the left and leave on the right."""

    def __init__(self, world: World, seed: int = 0, width: int = 640, height: int = 480,
                 fps: float = 15.0) -> None:
        self.world, self.seed, self.width, self.height, self.fps = world, seed, width, height, fps
        rng = np.random.default_rng([seed, 77])
        self.camera: Camera = sample_camera(rng, world.p_mono)
        self._period = int(rng.integers(40, 140))
        bg = world.backgrounds[int(rng.integers(0, len(world.backgrounds)))]
        self.background_name = bg
        self._belt = make_background(rng, bg, height, width, self._period)
        lo, hi = max(0.15, world.part_scale[0]), min(0.6, world.part_scale[1])
        self._r_range = (lo * height / 2, hi * height / 2)
        self.speed = (width + 2 * self._r_range[1]) / (rng.uniform(2.5, 6.0) * fps)
        self._exposure = float(rng.uniform(0.0, 0.5))  # share of the frame time the shutter is open
        self._lanes = 2 if rng.random() < 0.3 else 1
        self._shadow = float(rng.uniform(0.1, 0.45))
        self._p_clean = float(rng.uniform(0.15, 0.35))
        cycle = self.camera.drift_period_s
        self._lights = [light_field(self.camera, height, width, cycle * k / LIGHT_STEPS)
                        for k in range(LIGHT_STEPS)]
        self._noise = [rng.normal(0, self.camera.noise, (height, width, 3)).astype(np.float32)
                       for _ in range(NOISE_BANK)]
        self._plans: list[_Plan] = []
        self._sprites: dict[int, Sprite] = {}

    def _plan(self, k: int) -> _Plan:
        while len(self._plans) <= k:
            j = len(self._plans)
            rng = np.random.default_rng([self.seed, 11, j])
            radius = rng.uniform(*self._r_range) / (1.4 if self._lanes == 2 else 1.0)
            if j == 0:
                start = 0.0
            else:
                prev = self._plans[-1]
                gap = rng.uniform(0.2, 1.2) * 2 * radius
                lag = 0.0 if self._lanes == 2 and j % 2 else (2 * prev.radius + gap)
                start = prev.start + lag / self.speed
            lane = j % self._lanes
            band = self.height / self._lanes
            margin = min(radius * 0.9, band / 2)
            cy = lane * band + rng.uniform(margin, max(margin, band - margin))
            n_def = 0 if rng.random() < self._p_clean else int(rng.integers(1, 5))
            self._plans.append(_Plan(j, start, cy, radius, n_def))
        return self._plans[k]

    def _sprite(self, plan: _Plan) -> Sprite:
        sp = self._sprites.get(plan.part_id)
        if sp is None:
            rng = np.random.default_rng([self.seed, 12, plan.part_id])
            sp = make_sprite(rng, self.world, plan.radius, plan.n_defects,
                             visibility_floor(self.camera))
            self._sprites[plan.part_id] = sp
        return sp

    def visible_parts(self, index: int) -> list[tuple[_Plan, float]]:
        """Parts overlapping the frame at ``index`` with their centre x."""
        return visible_on_belt(self._plan, self._sprites, index, self.speed, self.width)

    def render_all(self, index: int) -> tuple[np.ndarray, list[GroundTruth], list[GroundTruth]]:
        """Frame ``index``: BGR uint8, the visible defects, and the visible parts' boxes."""
        # A belt moves with the parts; rollers turn in place.
        moving = self.background_name != "rollers"
        off = round(index * self.speed) % self._period if moving else 0
        canvas = self._belt[:, self._period - off:self._period - off + self.width].copy()
        defects: list[GroundTruth] = []
        parts: list[GroundTruth] = []
        for plan, cx in self.visible_parts(index):
            sprite = self._sprite(plan)
            placed = place_sprite(canvas, sprite, cx, plan.cy, self._shadow)
            if placed is None:
                continue
            d, p = _truth(sprite, plan, *placed)
            defects.extend(d)
            parts.extend(p)
        t = index / self.fps
        phase = int(t / self.camera.drift_period_s * LIGHT_STEPS) % LIGHT_STEPS
        rng = np.random.default_rng([self.seed, 13, index])
        img = develop(rng, canvas, self.camera, self._lights[phase],
                      motion=self.speed * self._exposure, noise=self._noise[index % NOISE_BANK])
        return img, defects, parts

    def render(self, index: int) -> tuple[np.ndarray, list[GroundTruth]]:
        img, defects, _ = self.render_all(index)
        return img, defects


def _truth(sprite: Sprite, plan: _Plan, origin: tuple[int, int],
           win: tuple[slice, slice]) -> tuple[list[GroundTruth], list[GroundTruth]]:
    ox, oy = origin
    defects = []
    for j, (cls, mk) in enumerate(sprite.defects):
        total = int(mk.sum())
        sub = mk[win]
        if total == 0 or sub.sum() < MIN_VISIBLE * total:
            continue
        box = mask_box(sub)
        if box is not None:
            defects.append(GroundTruth(plan.part_id * 100 + j, plan.part_id, cls,
                                       (box[0] + ox, box[1] + oy, box[2] + ox, box[3] + oy)))
    parts = []
    pbox = mask_box(sprite.alpha[win] > 0.5)
    if pbox is not None:
        parts.append(GroundTruth(plan.part_id * 100 + 99, plan.part_id, PART_CLASS_ID,
                                 (pbox[0] + ox, pbox[1] + oy, pbox[2] + ox, pbox[3] + oy)))
    return defects, parts


def write_line_video(out: Path, world: World, seed: int = 0, seconds: float = 60.0,
                     fps: float = 15.0, width: int = 640, height: int = 480) -> tuple[Path, Path]:
    """Render an MP4 and ``<stem>.gt.jsonl`` (one line per frame, defects and parts)."""
    scene = RandomConveyor(world, seed, width, height, fps)
    out.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter.fourcc(*"mp4v"), fps, (width, height))
    if not writer.isOpened():
        raise RuntimeError(f"cannot open a video writer for {out}")
    gt_path = out.with_suffix(".gt.jsonl")
    with gt_path.open("w") as gt:
        for i in range(math.ceil(seconds * fps)):
            img, defects, parts = scene.render_all(i)
            writer.write(img)
            gt.write(json.dumps({
                "frame": i, "parts": [p.part_id for p in parts],
                "part_boxes": [list(p.box) for p in parts],
                "defects": [{"defect_id": t.defect_id, "part_id": t.part_id,
                             "class_id": t.class_id, "class_name": t.class_name,
                             "box": list(t.box)} for t in defects]}) + "\n")
    writer.release()
    return out, gt_path
