"""The domain-randomised renderer: parts of many families, finishes and defect styles, on many
backgrounds, under many cameras, with exact masks for every defect *and* every part.

:func:`make_sprite` builds one part (family outline, finish, bevel, defects painted in the chosen
styles, a random rotation); :func:`render_still` composes 1–:attr:`World.max_parts` sprites on a
background and develops the frame through :mod:`lineinspect.render.optics`. Labels are instance
masks: class ids 0–2 are the defects of :data:`~lineinspect.render.params.CLASS_NAMES`, id 3
(:data:`PART_CLASS_ID`) is the visible part itself. A part placed over another hides what it
covers, in both the picture and the masks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from lineinspect.classes import PART_CLASS
from lineinspect.render.backgrounds import make_background
from lineinspect.render.clutter import add_clutter
from lineinspect.render.families import FAMILIES, ROUND_FAMILIES
from lineinspect.render.features import add_features
from lineinspect.render.materials import FINISHES
from lineinspect.render.optics import Camera, compress, develop, light_field, sample_camera
from lineinspect.render.params import CLASS_NAMES
from lineinspect.render.styles import STYLES
from lineinspect.render.world import World

DETECTOR_CLASSES: tuple[str, ...] = (*CLASS_NAMES, PART_CLASS)
PART_CLASS_ID = DETECTOR_CLASSES.index(PART_CLASS)
NOMINAL_RADIUS = 110.0  # part radius (px) the defect sizes in styles.py are drawn for
MIN_DEFECT_PIXELS = 8
MIN_PART_PIXELS = 150
MIN_CONTRAST = 8.0  # grey levels

Instance = tuple[int, np.ndarray]  # (class id, bool mask in image or sprite coordinates)


@dataclass
class Sprite:
    """A rendered part: float BGR, alpha in 0..1, its defects (sprite coordinates)."""

    bgr: np.ndarray
    alpha: np.ndarray
    defects: list[Instance]
    family: str


def _bevel(alpha8: np.ndarray, bgr: np.ndarray, radius: float, rng: np.random.Generator) -> None:
    inner = cv2.erode(alpha8, np.ones((3, 3), np.uint8), iterations=max(1, int(radius * 0.03)))
    rim = (alpha8.astype(np.float32) - inner.astype(np.float32)) / 255.0
    sign = -1.0 if rng.random() < 0.8 else 1.0  # a bright chamfer catches the light sometimes
    bgr += (rim * sign * rng.uniform(15, 50))[..., None]


def visibility_floor(cam: Camera) -> float:
    """Least mean change (grey levels, before the camera) a defect needs to be labelled.

    Below it the camera's gain and noise leave nothing a person could point at; labelling such a
    defect would teach the detector to guess and make held-out figures measure luck.
    """
    return max(MIN_CONTRAST, 1.2 * cam.noise / cam.gain)


def _paint_defects(rng: np.random.Generator, bgr: np.ndarray, under: np.ndarray,
                   alpha8: np.ndarray, radius: float, styles: tuple[str, ...],
                   count: int, floor: float) -> list[Instance]:
    s = radius / NOMINAL_RADIUS
    inside = cv2.erode(alpha8, np.ones((5, 5), np.uint8)) > 128
    ys, xs = np.nonzero(inside)
    if xs.size == 0:
        return []
    taken = np.zeros(inside.shape, bool)
    out: list[Instance] = []
    for _ in range(count * 4):
        if len(out) == count:
            break
        i = int(rng.integers(0, xs.size))
        at = np.array([xs[i], ys[i]], np.float64)
        cls, paint = STYLES[styles[int(rng.integers(0, len(styles)))]]
        trial = bgr.copy()
        mask = paint(rng, trial, under, at, s) & inside
        if mask.sum() < MIN_DEFECT_PIXELS * max(s, 0.5):
            continue
        if float(np.abs(trial[mask] - bgr[mask]).mean()) < floor:
            continue
        grown = cv2.dilate(mask.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
        if (grown & taken).any():
            continue
        bgr[mask] = trial[mask]  # only the defect's own pixels change
        taken |= grown
        out.append((cls, mask))
    return out


def make_sprite(rng: np.random.Generator, world: World, radius: float, n_defects: int,
                floor: float = 8.0) -> Sprite:
    """One part of outer radius ``radius`` px with up to ``n_defects`` defects (those at least
    ``floor`` grey levels strong, see :func:`visibility_floor`), randomly rotated."""
    family = world.families[int(rng.integers(0, len(world.families)))]
    size = math.ceil(radius * 2 * 1.2) + 6
    alpha8 = FAMILIES[family](rng, size, radius)
    finish = world.finishes[int(rng.integers(0, len(world.finishes)))]
    if family in ROUND_FAMILIES and rng.random() < 0.35:
        finish = "machined"
    bgr, under = FINISHES[finish](rng, size, radius)
    _bevel(alpha8, bgr, radius, rng)
    if world.p_features > 0 and rng.random() < world.p_features:
        add_features(rng, bgr, alpha8, radius)
    defects = _paint_defects(rng, bgr, under, alpha8, radius, world.styles, n_defects, floor)
    m = cv2.getRotationMatrix2D((size / 2, size / 2), rng.uniform(-180, 180), 1.0)

    def warp(a: np.ndarray) -> np.ndarray:
        return cv2.warpAffine(a, m, (size, size), flags=cv2.INTER_LINEAR)

    rotated = [(c, warp(mk.astype(np.float32)) > 0.5) for c, mk in defects]
    return Sprite(bgr=warp(bgr), alpha=warp(alpha8.astype(np.float32) / 255.0),
                  defects=[(c, mk) for c, mk in rotated if mk.sum() >= MIN_DEFECT_PIXELS],
                  family=family)


def place_sprite(canvas: np.ndarray, sprite: Sprite, cx: float, cy: float,
                 shadow: float) -> tuple[tuple[int, int], tuple[slice, slice]] | None:
    """Blend ``sprite`` centred at (cx, cy); returns the canvas origin and the sprite window."""
    h, w = canvas.shape[:2]
    s = sprite.alpha.shape[0]
    x0, y0 = round(cx - s / 2), round(cy - s / 2)
    sx0, sy0 = max(0, -x0), max(0, -y0)
    sx1, sy1 = min(s, w - x0), min(s, h - y0)
    if sx1 <= sx0 or sy1 <= sy0:
        return None
    win = (slice(sy0, sy1), slice(sx0, sx1))
    dst = canvas[y0 + sy0:y0 + sy1, x0 + sx0:x0 + sx1]
    a = sprite.alpha[win][..., None]
    dst *= 1.0 - shadow * a
    dst[:] = dst * (1.0 - a) + sprite.bgr[win] * a
    return (x0 + sx0, y0 + sy0), win


def paste_masks(h: int, w: int, sprite: Sprite, origin: tuple[int, int],
                win: tuple[slice, slice]) -> tuple[np.ndarray, list[Instance]]:
    """The sprite's part mask and defect masks in frame coordinates."""
    ox, oy = origin
    sub_h, sub_w = sprite.alpha[win].shape
    part = np.zeros((h, w), bool)
    part[oy:oy + sub_h, ox:ox + sub_w] = sprite.alpha[win] > 0.5
    defects = []
    for c, mk in sprite.defects:
        full = np.zeros((h, w), bool)
        full[oy:oy + sub_h, ox:ox + sub_w] = mk[win]
        defects.append((c, full))
    return part, defects


def _occlude(instances: list[Instance], cover: np.ndarray) -> None:
    for _, m in instances:
        m &= ~cover


def _layout(rng: np.random.Generator, world: World, h: int, w: int) -> list[tuple[float, ...]]:
    """Non-overlapping (cx, cy, radius) for the parts of one still."""
    short = min(h, w)
    n = int(rng.integers(1, world.max_parts + 1)) if rng.random() < 0.5 else 1
    placed: list[tuple[float, ...]] = []
    for _ in range(n):
        lo, hi = world.part_scale
        radius = rng.uniform(lo, hi if not placed else min(hi, 0.35)) * short / 2
        for _ in range(15):
            cx = rng.uniform(radius * 0.3, w - radius * 0.3)
            cy = rng.uniform(radius * 0.3, h - radius * 0.3)
            if all(math.hypot(cx - px, cy - py) > 0.9 * (radius + pr) for px, py, pr in placed):
                placed.append((cx, cy, radius))
                break
    return placed


def render_still(rng: np.random.Generator, h: int, w: int,
                 world: World) -> tuple[np.ndarray, list[Instance]]:
    """One frame of 1–N parts. Returns (BGR uint8, [(class id, bool mask)]), parts included."""
    cam: Camera = sample_camera(rng, world.p_mono)
    period = int(rng.integers(30, 120))
    bg = world.backgrounds[int(rng.integers(0, len(world.backgrounds)))]
    canvas = make_background(rng, bg, h, w, period)[:, :w].copy()
    # Guarded so a world without clutter draws exactly the frames it drew before.
    if world.p_clutter > 0 and rng.random() < world.p_clutter:
        add_clutter(rng, canvas)
    clean = rng.random() < world.p_no_defect
    instances: list[Instance] = []
    shadow = float(rng.uniform(0.1, 0.5))
    for cx, cy, radius in _layout(rng, world, h, w):
        n_def = 0 if clean or rng.random() < 0.15 else int(rng.integers(1, world.max_defects + 1))
        sprite = make_sprite(rng, world, radius, n_def, visibility_floor(cam))
        placed = place_sprite(canvas, sprite, cx, cy, shadow)
        if placed is None:
            continue
        part, defects = paste_masks(h, w, sprite, *placed)
        _occlude(instances, part)
        instances.append((PART_CLASS_ID, part))
        instances.extend(defects)
    img = develop(rng, canvas, cam, light_field(cam, h, w))
    img = compress(img, cam.jpeg_quality)
    return img, [(c, m) for c, m in instances if m.sum() >= _min_pixels(c)]


def _min_pixels(class_id: int) -> int:
    return MIN_PART_PIXELS if class_id == PART_CLASS_ID else MIN_DEFECT_PIXELS
