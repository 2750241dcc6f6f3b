"""A synthetic conveyor: parts pass under a fixed camera, with per-frame ground truth.

``ConveyorScene.render(i)`` is a pure function of (seed, i): the same frame index always gives the
same image and the same labels, so a source can seek, loop or be re-created at will, and tests can
compare events with the truth. Each physical defect keeps one ``defect_id`` for every frame it is
visible in, which is what event-level recall is measured against.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import cv2
import numpy as np

from lineinspect.masks import mask_box
from lineinspect.render.params import TRAIN, RenderParams
from lineinspect.render.randomized import DETECTOR_CLASSES, PART_CLASS_ID
from lineinspect.render.scene import Look, PlacedPart, make_belt, make_part, sample_look

NOISE_BANK = 8  # pre-drawn sensor-noise fields, cycled; drawing fresh noise costs ~10 ms a frame
MIN_VISIBLE = 0.5  # a defect counts as visible when this share of its pixels is in the frame


@dataclass(frozen=True)
class GroundTruth:
    defect_id: int
    part_id: int
    class_id: int
    box: tuple[int, int, int, int]  # x1, y1, x2, y2 (x2/y2 exclusive), clipped to the frame

    @property
    def class_name(self) -> str:
        return DETECTOR_CLASSES[self.class_id]


@dataclass
class _PartPlan:
    part_id: int
    start: float  # frame index at which the part's leading edge enters
    cy: float
    radius: float
    n_defects: int


class ConveyorScene:
    """Deterministic conveyor video: parts enter on the left and leave on the right."""

    def __init__(self, seed: int = 0, width: int = 640, height: int = 480, fps: float = 15.0,
                 params: RenderParams = TRAIN, crossing_s: float = 4.0) -> None:
        self.seed, self.width, self.height, self.fps = seed, width, height, fps
        self.params = params
        rng = np.random.default_rng([seed, 99])
        self.look: Look = sample_look(rng, params)
        self.look.motion = 0  # motion blur is per frame below, from the belt speed
        self.look.blur = min(self.look.blur, 0.8)
        self._period = int(rng.integers(50, 90))
        self._belt = make_belt(rng, height, width, params, self.look, self._period)
        self._r_range = (0.28 * height, 0.4 * height)
        self.speed = (width + 2 * self._r_range[1]) / (crossing_s * fps)  # px per frame
        yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
        g = self.look.grad
        light = self.look.gain * (1 + g[0] * (xx / width - 0.5) + g[1] * (yy / height - 0.5))
        self._light = light[..., None]
        self._noise = [rng.normal(0, self.look.noise, (height, width, 3)).astype(np.float32)
                       for _ in range(NOISE_BANK)]
        self._plans: list[_PartPlan] = []
        self._sprites: dict[int, PlacedPart] = {}
        self._canvas = np.empty((height, width, 3), np.float32)

    # -- the plan: when each part enters, how big it is, how many defects it carries ------------
    def _plan(self, k: int) -> _PartPlan:
        while len(self._plans) <= k:
            j = len(self._plans)
            rng = np.random.default_rng([self.seed, 1, j])
            radius = rng.uniform(*self._r_range)
            if j == 0:
                start = 0.0
            else:
                prev = self._plans[-1]
                gap = rng.uniform(0.25, 1.0) * 2 * radius
                start = prev.start + (2 * prev.radius + gap) / self.speed
            margin = radius * 0.9
            cy = rng.uniform(margin, max(margin, self.height - margin))
            n_def = 0 if rng.random() < 0.25 else int(rng.integers(1, 5))
            self._plans.append(_PartPlan(j, start, cy, radius, n_def))
        return self._plans[k]

    def _sprite(self, plan: _PartPlan) -> PlacedPart:
        sp = self._sprites.get(plan.part_id)
        if sp is None:
            rng = np.random.default_rng([self.seed, 2, plan.part_id])
            sp = make_part(rng, plan.radius, self.params, self.look, plan.n_defects)
            self._sprites[plan.part_id] = sp
        return sp

    def visible_parts(self, index: int) -> list[tuple[_PartPlan, float]]:
        """Parts overlapping the frame at ``index`` with their centre x."""
        return visible_on_belt(self._plan, self._sprites, index, self.speed, self.width)

    def render(self, index: int) -> tuple[np.ndarray, list[GroundTruth]]:
        """Frame ``index`` as BGR uint8 and the defects visible in it."""
        img, defects, _ = self.render_all(index)
        return img, defects

    def render_all(self, index: int) -> tuple[np.ndarray, list[GroundTruth], list[GroundTruth]]:
        """Frame ``index``, its visible defects, and the visible parts' boxes (class ``part``,
        the v3 detector's id; ``defect_id`` part_id * 100 + 99, as on randomised lines)."""
        w = self.width
        off = round(index * self.speed) % self._period
        canvas = self._canvas
        canvas[:] = self._belt[:, self._period - off:self._period - off + w]
        defects: list[GroundTruth] = []
        parts: list[GroundTruth] = []
        for plan, cx in self.visible_parts(index):
            part = self._sprite(plan)
            d, visible = _place(canvas, part, plan, cx)
            defects.extend(d)
            parts.extend(visible)
        out = canvas * self._light
        if self.look.blur > 0:
            out = cv2.GaussianBlur(out, (0, 0), self.look.blur)
        out += self._noise[index % NOISE_BANK]
        return np.clip(out, 0, 255).astype(np.uint8), defects, parts

    def parts_between(self, first: int, last: int) -> int:
        """Number of distinct parts visible in frames ``first..last`` (the parts denominator)."""
        ids = {p.part_id for i in (first, last) for p, _ in self.visible_parts(i)}
        k = 0
        while (plan := self._plan(k)).start <= last:
            if plan.start >= first:
                ids.add(plan.part_id)
            k += 1
        return len(ids)


class BeltPlan(Protocol):
    @property
    def part_id(self) -> int: ...

    @property
    def start(self) -> float: ...

    @property
    def radius(self) -> float: ...


PlanT = TypeVar("PlanT", bound=BeltPlan)


def visible_on_belt(plan_at: Callable[[int], PlanT], sprites: dict[int, Any], index: int,
                    speed: float, width: int) -> list[tuple[PlanT, float]]:
    """Parts (in entry order) overlapping a frame ``width`` wide at ``index``, with centre x.

    Parts enter at the left edge at ``plan.start`` and move ``speed`` px a frame. Sprites of
    parts that have left are forgotten, so an endless conveyor stays bounded in memory.
    """
    out = []
    k = 0
    while (plan := plan_at(k)).start <= index:
        cx = -plan.radius + (index - plan.start) * speed
        if cx - plan.radius < width:
            out.append((plan, cx))
        k += 1
    live = {p.part_id for p, _ in out}
    for pid in [p for p in sprites if p not in live and p < min(live, default=0)]:
        del sprites[pid]
    return out


def _place(canvas: np.ndarray, part: PlacedPart, plan: _PartPlan,
           cx: float) -> tuple[list[GroundTruth], list[GroundTruth]]:
    h, w = canvas.shape[:2]
    s = part.alpha.shape[0]
    x0, y0 = round(cx - s / 2), round(plan.cy - s / 2)
    sx0, sy0 = max(0, -x0), max(0, -y0)
    sx1, sy1 = min(s, w - x0), min(s, h - y0)
    if sx1 <= sx0 or sy1 <= sy0:
        return [], []
    dst = canvas[y0 + sy0:y0 + sy1, x0 + sx0:x0 + sx1]
    a = part.alpha[sy0:sy1, sx0:sx1, None]
    dst *= 1.0 - 0.35 * a  # contact shadow under the part
    dst[:] = dst * (1.0 - a) + part.bgr[sy0:sy1, sx0:sx1] * a
    truth = []
    for j, d in enumerate(part.defects):
        sub = d.mask[sy0:sy1, sx0:sx1]
        total = int(d.mask.sum())
        if total == 0 or sub.sum() < MIN_VISIBLE * total:
            continue
        box = mask_box(sub)
        if box is None:
            continue
        bx1, by1, bx2, by2 = box
        ox, oy = x0 + sx0, y0 + sy0
        truth.append(GroundTruth(plan.part_id * 100 + j, plan.part_id, d.class_id,
                                 (bx1 + ox, by1 + oy, bx2 + ox, by2 + oy)))
    parts = []
    pbox = mask_box(part.alpha[sy0:sy1, sx0:sx1] > 0.5)
    if pbox is not None:
        ox, oy = x0 + sx0, y0 + sy0
        parts.append(GroundTruth(plan.part_id * 100 + 99, plan.part_id, PART_CLASS_ID,
                                 (pbox[0] + ox, pbox[1] + oy, pbox[2] + ox, pbox[3] + oy)))
    return truth, parts


def write_video(out: Path, seed: int = 0, seconds: float = 60.0, fps: float = 15.0,
                width: int = 640, height: int = 480) -> tuple[Path, Path]:
    """Render an MP4 and ``<stem>.gt.jsonl`` (one line per frame). Returns both paths."""
    scene = ConveyorScene(seed, width, height, fps)
    out.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter.fourcc(*"mp4v"), fps, (width, height))
    if not writer.isOpened():
        raise RuntimeError(f"cannot open a video writer for {out}")
    gt_path = out.with_suffix(".gt.jsonl")
    n = math.ceil(seconds * fps)
    with gt_path.open("w") as gt:
        for i in range(n):
            img, truth = scene.render(i)
            writer.write(img)
            parts = [p.part_id for p, _ in scene.visible_parts(i)]
            gt.write(json.dumps({"frame": i, "parts": parts, "defects": [
                {"defect_id": t.defect_id, "part_id": t.part_id, "class_id": t.class_id,
                 "class_name": t.class_name, "box": list(t.box)} for t in truth]}) + "\n")
    writer.release()
    return out, gt_path
