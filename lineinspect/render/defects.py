"""Defects painted onto a part sprite: scratches, cracks and dents, each with an exact mask.

Sizes scale with the part radius (a defect has a physical size, so a part further from the camera
shows a smaller defect). Every painter returns the instance mask of the pixels it changed; the
dataset's boxes are the tight boxes of those masks, so labels are exact.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from lineinspect.render.params import CLASS_NAMES
from lineinspect.render.parts import Sprite

NOMINAL_RADIUS = 110.0  # part radius (px) the defect sizes below are tuned for
MIN_DEFECT_PIXELS = 10


@dataclass
class Defect:
    class_id: int
    mask: np.ndarray  # bool, sprite coordinates

    @property
    def class_name(self) -> str:
        return CLASS_NAMES[self.class_id]


def _bezier(p0: np.ndarray, p1: np.ndarray, p2: np.ndarray, n: int) -> np.ndarray:
    t = np.linspace(0, 1, n)[:, None]
    return (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t**2 * p2


def _paint_scratch(
    rng: np.random.Generator, gray: np.ndarray, at: np.ndarray, s: float
) -> np.ndarray:
    length = rng.uniform(22, 75) * s
    ang = rng.uniform(0, math.pi)
    d = np.array([math.cos(ang), math.sin(ang)])
    n = np.array([-d[1], d[0]])
    p0 = at - d * length / 2
    p2 = at + d * length / 2
    p1 = at + n * rng.uniform(-0.15, 0.15) * length
    strands = 1 if rng.random() < 0.6 else int(rng.integers(2, 4))
    layer = np.zeros(gray.shape, np.float32)
    thick = 1 if rng.random() < 0.7 else 2
    for k in range(strands):
        off = n * (k * rng.uniform(2.0, 3.5) * max(s, 0.6))
        frac = rng.uniform(0.6, 1.0) if k else 1.0
        pts = _bezier(p0 + off, p1 + off, p2 + off, 24)[: max(2, int(24 * frac))]
        poly = [np.round(pts * 16).astype(np.int32)]
        cv2.polylines(layer, poly, False, 1.0, thick, cv2.LINE_AA, 4)
    sign = 1.0 if rng.random() < 0.65 else -1.0  # scratches mostly catch the light
    gray += layer * sign * rng.uniform(45, 95)
    return layer > 0.25


def _paint_crack(
    rng: np.random.Generator, gray: np.ndarray, at: np.ndarray, s: float
) -> np.ndarray:
    layer = np.zeros(gray.shape, np.float32)
    length = rng.uniform(22, 60) * s
    ang = rng.uniform(0, 2 * math.pi)
    seg = max(2.0, 3.5 * s)
    pts = [at.copy()]
    for _ in range(int(length / seg)):
        ang += rng.normal(0, 0.45)
        pts.append(pts[-1] + seg * np.array([math.cos(ang), math.sin(ang)]))
    main = np.array(pts)
    thick = 2 if rng.random() < 0.4 else 1
    cv2.polylines(layer, [np.round(main * 16).astype(np.int32)], False, 1.0, thick, cv2.LINE_AA, 4)
    for _ in range(int(rng.integers(1, 4))):  # branches
        start = main[int(rng.integers(1, len(main)))]
        b_ang = ang + rng.choice([-1, 1]) * rng.uniform(0.5, 1.3)
        bp = [start]
        for _ in range(int(rng.integers(2, 6))):
            b_ang += rng.normal(0, 0.5)
            bp.append(bp[-1] + seg * 0.8 * np.array([math.cos(b_ang), math.sin(b_ang)]))
        cv2.polylines(layer, [np.round(np.array(bp) * 16).astype(np.int32)], False, 0.85, 1,
                      cv2.LINE_AA, 4)
    gray -= layer * rng.uniform(70, 120)
    return layer > 0.25


def _paint_dent(
    rng: np.random.Generator, gray: np.ndarray, at: np.ndarray, s: float
) -> np.ndarray:
    a = rng.uniform(7, 18) * s
    b = a * rng.uniform(0.5, 1.0)
    th = rng.uniform(0, math.pi)
    h, w = gray.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    dx, dy = xx - at[0], yy - at[1]
    u = (dx * math.cos(th) + dy * math.sin(th)) / a
    v = (-dx * math.sin(th) + dy * math.cos(th)) / b
    bump = np.exp(-(u**2 + v**2) * 1.6).astype(np.float32)
    gy, gx = np.gradient(bump)
    la = rng.uniform(0, 2 * math.pi)
    # A depression: the side facing the light is dark, the far side bright.
    shade = (gx * math.cos(la) + gy * math.sin(la)) * a * rng.uniform(70, 120)
    gray += shade - bump * rng.uniform(30, 60)
    return bump > 0.2


PAINTERS: tuple[Callable[[np.random.Generator, np.ndarray, np.ndarray, float], np.ndarray], ...] = (
    _paint_scratch,
    _paint_crack,
    _paint_dent,
)


def add_defects(rng: np.random.Generator, sprite: Sprite, count: int) -> list[Defect]:
    """Paint up to ``count`` non-overlapping defects inside the part; returns their masks."""
    s = sprite.radius / NOMINAL_RADIUS
    inside = cv2.erode(sprite.alpha, np.ones((5, 5), np.uint8)) > 0
    ys, xs = np.nonzero(inside)
    if xs.size == 0:
        return []
    taken = np.zeros(inside.shape, bool)
    defects: list[Defect] = []
    for _ in range(count * 4):
        if len(defects) == count:
            break
        i = int(rng.integers(0, xs.size))
        at = np.array([xs[i], ys[i]], np.float64)
        cls = int(rng.integers(0, len(PAINTERS)))
        trial = sprite.gray.copy()
        mask = PAINTERS[cls](rng, trial, at, s) & inside
        if mask.sum() < MIN_DEFECT_PIXELS * max(s, 0.5):
            continue
        grown = cv2.dilate(mask.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
        if (grown & taken).any():
            continue
        # Only the defect's own pixels change: the trial painting is clipped to its mask.
        sprite.gray[mask] = trial[mask]
        taken |= grown
        defects.append(Defect(cls, mask))
    return defects
