"""Compose parts on a conveyor belt and apply camera effects.

Used by both the still-image dataset (:mod:`models.data.synth`) and the conveyor video
(:mod:`lineinspect.render.video`), so the detector sees the same world in training and in the demo.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from lineinspect.render.defects import Defect, add_defects
from lineinspect.render.params import RenderParams
from lineinspect.render.parts import Sprite, render_part


@dataclass
class PlacedPart:
    """A part sprite with its defects, rotated, in BGR float, ready to be placed."""

    bgr: np.ndarray  # float32 (S, S, 3)
    alpha: np.ndarray  # float32 (S, S) in 0..1
    defects: list[Defect]


@dataclass
class Look:
    """Per-scene photometric choices (fixed over a video so parts look consistent)."""

    gain: float
    metal_tint: np.ndarray
    belt_tint: np.ndarray
    grad: tuple[float, float]
    noise: float
    blur: float
    motion: int


def sample_look(rng: np.random.Generator, params: RenderParams) -> Look:
    blur = rng.uniform(0.5, 1.3) if rng.random() < params.p_blur else 0.0
    motion = int(rng.integers(3, 8)) if rng.random() < params.p_blur * 0.5 else 0
    return Look(
        gain=rng.uniform(*params.light_gain),
        metal_tint=rng.uniform(0.94, 1.06, 3).astype(np.float32),
        belt_tint=np.array([rng.uniform(0.8, 1.2), rng.uniform(0.9, 1.25), rng.uniform(0.8, 1.1)],
                           np.float32),
        grad=(float(rng.normal(0, 0.15)), float(rng.normal(0, 0.15))),
        noise=rng.uniform(*params.noise_sigma),
        blur=blur,
        motion=motion,
    )


def make_part(rng: np.random.Generator, radius: float, params: RenderParams, look: Look,
              n_defects: int) -> PlacedPart:
    sprite: Sprite = render_part(rng, radius, params)
    defects = add_defects(rng, sprite, n_defects) if n_defects else []
    size = sprite.gray.shape[0]
    m = cv2.getRotationMatrix2D((size / 2, size / 2), rng.uniform(-params.max_rotation_deg,
                                                                  params.max_rotation_deg), 1.0)
    warp = lambda a, interp: cv2.warpAffine(a, m, (size, size), flags=interp)  # noqa: E731
    gray = warp(sprite.gray, cv2.INTER_LINEAR)
    alpha = warp(sprite.alpha.astype(np.float32) / 255.0, cv2.INTER_LINEAR)
    rotated = []
    for d in defects:
        mk = warp(d.mask.astype(np.float32), cv2.INTER_LINEAR) > 0.5
        if mk.sum() >= 6:
            rotated.append(Defect(d.class_id, mk))
    bgr = gray[..., None] * look.metal_tint[None, None, :]
    return PlacedPart(bgr=bgr.astype(np.float32), alpha=alpha, defects=rotated)


def make_belt(rng: np.random.Generator, h: int, w: int, params: RenderParams, look: Look,
              period: int) -> np.ndarray:
    """Belt texture of width ``w + period`` so a video can scroll it by ``offset % period``."""
    ww = w + period
    base = rng.uniform(*params.belt_gray)
    noise = cv2.GaussianBlur(rng.normal(0, 1, (h, ww)).astype(np.float32), (0, 0), 1.2) * 6
    belt = np.full((h, ww), base, np.float32) + noise
    for x in range(0, ww, period):  # cleats across the direction of travel
        cv2.line(belt, (x, 0), (x, h), base * 0.7, max(1, period // 30))
    if rng.random() < 0.5:  # side rails
        rail = int(h * rng.uniform(0.03, 0.08))
        belt[:rail] = base * 1.6
        belt[h - rail:] = base * 1.6
    return belt[..., None] * look.belt_tint[None, None, :]


def place(canvas: np.ndarray, part: PlacedPart, cx: float, cy: float,
          masks: list[tuple[int, np.ndarray]], part_class: int | None = None) -> None:
    """Alpha-blend ``part`` centred at (cx, cy) with a soft shadow; append its clipped masks
    (with ``part_class``, the visible part's own mask first)."""
    h, w = canvas.shape[:2]
    s = part.alpha.shape[0]
    x0, y0 = round(cx - s / 2), round(cy - s / 2)
    sx0, sy0 = max(0, -x0), max(0, -y0)
    sx1, sy1 = min(s, w - x0), min(s, h - y0)
    if sx1 <= sx0 or sy1 <= sy0:
        return
    dst = canvas[y0 + sy0:y0 + sy1, x0 + sx0:x0 + sx1]
    a = part.alpha[sy0:sy1, sx0:sx1, None]
    shadow = cv2.GaussianBlur(part.alpha, (0, 0), max(2.0, s * 0.02))
    d = max(2, s // 40)
    shadow = np.roll(shadow, (d, d), axis=(0, 1))[sy0:sy1, sx0:sx1, None]
    dst *= 1.0 - 0.45 * shadow
    covered = np.zeros((h, w), bool)
    covered[y0 + sy0:y0 + sy1, x0 + sx0:x0 + sx1] = part.alpha[sy0:sy1, sx0:sx1] > 0.5
    for _, m in masks:  # a part placed on top hides the defects under it
        m &= ~covered
    dst[:] = dst * (1.0 - a) + part.bgr[sy0:sy1, sx0:sx1] * a
    if part_class is not None:
        masks.append((part_class, covered.copy()))
    for d in part.defects:
        full = np.zeros((h, w), bool)
        full[y0 + sy0:y0 + sy1, x0 + sx0:x0 + sx1] = d.mask[sy0:sy1, sx0:sx1]
        masks.append((d.class_id, full))


def finish(rng: np.random.Generator, img: np.ndarray, look: Look) -> np.ndarray:
    """Lighting, optics and sensor noise; returns uint8 BGR."""
    h, w = img.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    light = look.gain * (1.0 + look.grad[0] * (xx / w - 0.5) + look.grad[1] * (yy / h - 0.5))
    out = img * light[..., None]
    if look.blur > 0:
        out = cv2.GaussianBlur(out, (0, 0), look.blur)
    if look.motion > 0:
        k = np.zeros((look.motion, look.motion), np.float32)
        k[look.motion // 2] = 1.0 / look.motion
        out = cv2.filter2D(out, -1, k)
    out += rng.normal(0, look.noise, out.shape).astype(np.float32)
    return np.clip(out, 0, 255).astype(np.uint8)


def render_image(rng: np.random.Generator, h: int, w: int, params: RenderParams,
                 part_class: int | None = None) -> tuple[np.ndarray, list[tuple[int, np.ndarray]]]:
    """One still: 1–2 parts on a belt. Returns (BGR uint8, [(class_id, mask HxW bool)]).

    With ``part_class`` every visible part is labelled too (the v3 detector's ``part``); the
    pixels and the defects are the same either way: no random draw depends on it.
    """
    look = sample_look(rng, params)
    period = int(rng.integers(40, 90))
    canvas = make_belt(rng, h, w, params, look, period)[:, :w].copy()
    n_parts = 2 if rng.random() < params.p_two_parts else 1
    masks: list[tuple[int, np.ndarray]] = []
    short = min(h, w)
    placed: list[tuple[float, float, float]] = []
    clean_image = rng.random() < params.p_no_defect
    for _ in range(n_parts):
        radius = rng.uniform(*params.part_radius) * short * (0.75 if n_parts == 2 else 1.0)
        # Mostly in view; sometimes cut by the frame edge as on a real conveyor. Parts on a belt
        # rarely stack, so look for a spot that does not cover an earlier part.
        for _ in range(12):
            cx = rng.uniform(radius * 0.6, w - radius * 0.6)
            cy = rng.uniform(radius * 0.7, h - radius * 0.7)
            if all(math.hypot(cx - px, cy - py) > 0.95 * (radius + pr) for px, py, pr in placed):
                break
        else:
            continue
        placed.append((cx, cy, radius))
        has = not clean_image and (not placed[:-1] or rng.random() < 0.8)
        n_def = int(rng.integers(1, params.max_defects + 1)) if has else 0
        part = make_part(rng, radius, params, look, n_def)
        place(canvas, part, cx, cy, masks, part_class)
    img = finish(rng, canvas, look)
    kept = [(c, m) for c, m in masks if m.sum() >= 6]
    return img, kept


def polygon_of(mask: np.ndarray) -> list[float]:
    """Largest outer contour as a flat [x, y, ...] list (YOLO-seg style, pixels)."""
    cs, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not cs:
        return []
    c = max(cs, key=cv2.contourArea)
    if len(c) < 3:
        x, y, w, h = cv2.boundingRect(mask.astype(np.uint8))
        c = np.array([[[x, y]], [[x + w, y]], [[x + w, y + h]], [[x, y + h]]])
    return [float(v) for v in c.reshape(-1)]


