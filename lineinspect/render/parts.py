"""Procedural machined parts: gears, plates and cast discs with a metal-like surface.

A part is rendered as a *sprite*: a grey-level image, an alpha mask and the sprite's size. Defects
are painted onto the sprite (see :mod:`lineinspect.render.defects`) before it is placed on the
belt, so the same physical defect looks the same in every frame of the conveyor video.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from lineinspect.render.params import RenderParams

PART_KINDS: tuple[str, ...] = ("gear", "plate", "disc")


@dataclass
class Sprite:
    gray: np.ndarray  # float32 (S, S) surface intensity, 0..255
    alpha: np.ndarray  # uint8 (S, S), 255 inside the part
    radius: float


def _gear_polygon(rng: np.random.Generator, c: float, r: float) -> np.ndarray:
    teeth = int(rng.integers(10, 28))
    depth = r * rng.uniform(0.08, 0.16)
    root = r - depth
    pts = []
    phase = rng.uniform(0, 2 * math.pi)
    for i in range(teeth):
        a0 = phase + 2 * math.pi * i / teeth
        step = 2 * math.pi / teeth
        for frac, rad in ((0.0, root), (0.2, r), (0.5, r), (0.7, root)):
            a = a0 + frac * step
            pts.append((c + rad * math.cos(a), c + rad * math.sin(a)))
    return np.round(np.array(pts) * 16).astype(np.int32)


def _shape_mask(rng: np.random.Generator, kind: str, size: int, r: float) -> np.ndarray:
    mask: np.ndarray = np.zeros((size, size), np.uint8)
    c = size / 2.0
    shift = 4  # sub-pixel precision for smooth anti-aliased outlines
    if kind == "gear":
        cv2.fillPoly(mask, [_gear_polygon(rng, c, r)], 255, cv2.LINE_AA, shift)
        hole = r * rng.uniform(0.18, 0.32)
        cv2.circle(mask, (int(c * 16), int(c * 16)), int(hole * 16), 0, -1, cv2.LINE_AA, shift)
    elif kind == "plate":
        w = r * rng.uniform(1.3, 1.9)
        h = r * rng.uniform(0.9, 1.4)
        ang = rng.uniform(0, 180)
        box = cv2.boxPoints(((c, c), (w, h), ang))
        cv2.fillPoly(mask, [np.round(box * 16).astype(np.int32)], 255, cv2.LINE_AA, shift)
        k = max(3, int(r * 0.12) | 1)
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((k, k), np.uint8))
        for _ in range(int(rng.integers(0, 5))):
            hx = c + rng.uniform(-0.35, 0.35) * w
            hy = c + rng.uniform(-0.3, 0.3) * h
            hr = int(r * rng.uniform(0.05, 0.1))
            cv2.circle(mask, (int(hx), int(hy)), hr, 0, -1, cv2.LINE_AA)
    else:  # disc / casting
        cv2.circle(mask, (int(c * 16), int(c * 16)), int(r * 16), 255, -1, cv2.LINE_AA, shift)
        holes = int(rng.integers(0, 7))
        rr = r * rng.uniform(0.55, 0.75)
        for i in range(holes):
            a = 2 * math.pi * i / max(holes, 1)
            hx, hy = c + rr * math.cos(a), c + rr * math.sin(a)
            cv2.circle(mask, (int(hx), int(hy)), int(r * 0.08), 0, -1, cv2.LINE_AA)
        if rng.random() < 0.6:
            cv2.circle(mask, (int(c), int(c)), int(r * rng.uniform(0.12, 0.25)), 0, -1, cv2.LINE_AA)
    return mask


def _surface(rng: np.random.Generator, size: int, base: float, r: float) -> np.ndarray:
    """Brushed/cast metal: anisotropic noise, a soft gradient and a specular highlight."""
    noise = rng.normal(0.0, 1.0, (size, size)).astype(np.float32)
    if rng.random() < 0.6:  # brushed: streaks along one direction
        streak = cv2.GaussianBlur(noise, (0, 0), sigmaX=rng.uniform(4, 9), sigmaY=0.6)
        m = cv2.getRotationMatrix2D((size / 2, size / 2), rng.uniform(0, 180), 1.0)
        streak = cv2.warpAffine(streak, m, (size, size), borderMode=cv2.BORDER_REFLECT)
        tex = streak * rng.uniform(8, 18)
    else:  # cast: blotchy grain
        tex = cv2.GaussianBlur(noise, (0, 0), rng.uniform(1.0, 2.5)) * rng.uniform(6, 14)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    gx, gy = rng.normal(0, 1, 2)
    grad = (gx * (xx - size / 2) + gy * (yy - size / 2)) / size * rng.uniform(10, 40)
    hx, hy = rng.uniform(0.2, 0.8, 2) * size
    hs = r * rng.uniform(0.15, 0.45)
    spec = np.exp(-(((xx - hx) ** 2) / (2 * hs**2) + ((yy - hy) ** 2) / (2 * (hs * 0.6) ** 2)))
    spec *= rng.uniform(10, 40)
    return (base + tex + grad + spec).astype(np.float32)


def render_part(rng: np.random.Generator, radius: float, params: RenderParams) -> Sprite:
    """Render one defect-free part of outer radius ``radius`` pixels."""
    kind = PART_KINDS[int(rng.integers(0, len(PART_KINDS)))]
    size = math.ceil(radius * 2 * 1.15) + 4
    alpha = _shape_mask(rng, kind, size, radius)
    gray = _surface(rng, size, rng.uniform(*params.metal_gray), radius)
    # Bevelled rim: darker towards the outline so the part reads as a solid object.
    inner = cv2.erode(alpha, np.ones((3, 3), np.uint8), iterations=max(1, int(radius * 0.03)))
    rim = (alpha.astype(np.float32) - inner.astype(np.float32)) / 255.0
    gray -= rim * rng.uniform(20, 45)
    if kind != "plate" and rng.random() < 0.5:  # machined groove ring
        c = size // 2
        cv2.circle(gray, (c, c), int(radius * rng.uniform(0.4, 0.5)), float(gray.mean() - 25), 1)
    return Sprite(gray=gray, alpha=alpha, radius=radius)
