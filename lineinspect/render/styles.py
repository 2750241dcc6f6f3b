"""Defect styles: many ways to paint each defect class onto a sprite, each with an exact mask.

A style is ``(rng, img, under, at, s) -> bool mask`` that changes ``img`` (float BGR, in place)
only where it returns ``True``; ``under`` is what a coating hides (:mod:`lineinspect.render.
materials`), ``at`` the defect's anchor point and ``s`` the part's scale (1.0 = the nominal part
of :data:`lineinspect.render.defects.NOMINAL_RADIUS`). Widths, lengths, contrast and polarity are
drawn per defect, faint ones included: the detector must learn the *shape* of a defect, not one
brightness. Styles are the unit of leave-style-out evaluation (:mod:`lineinspect.render.world`).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import cv2
import numpy as np

StyleFn = Callable[[np.random.Generator, np.ndarray, np.ndarray, np.ndarray, float], np.ndarray]

SHIFT = 4
ONE = 1 << SHIFT


def _fx(pts: np.ndarray) -> list[np.ndarray]:
    return [np.round(pts * ONE).astype(np.int32)]


def _contrast(rng: np.random.Generator) -> float:
    """Defect contrast in grey levels: mostly clear, one in five faint."""
    return float(rng.uniform(15, 30) if rng.random() < 0.2 else rng.uniform(30, 110))


def _apply(rng: np.random.Generator, img: np.ndarray, under: np.ndarray, layer: np.ndarray,
           polarity: float) -> np.ndarray:
    """Blend a 0..1 coverage layer: towards the under-surface (if coated) and brighter/darker."""
    mask = layer > 0.25
    a = layer[..., None]
    reveal = float(rng.uniform(0.5, 1.0))
    target = img * (1 - reveal) + under * reveal
    amp = _contrast(rng) * polarity
    img[:] = img * (1 - a) + (target + amp) * a
    return mask


def _bezier(p: np.ndarray, n: int) -> np.ndarray:
    t = np.linspace(0, 1, n)[:, None]
    return (1 - t) ** 2 * p[0] + 2 * (1 - t) * t * p[1] + t**2 * p[2]


def _curve(rng: np.random.Generator, at: np.ndarray, length: float, bend: float) -> np.ndarray:
    ang = rng.uniform(0, math.pi)
    d = np.array([math.cos(ang), math.sin(ang)])
    n = np.array([-d[1], d[0]])
    return np.array([at - d * length / 2, at + n * rng.uniform(-bend, bend) * length,
                     at + d * length / 2])


def scratch_line(rng: np.random.Generator, img: np.ndarray, under: np.ndarray, at: np.ndarray,
                 s: float) -> np.ndarray:
    """One thin curved line, 1–3 px, mostly catching the light."""
    layer = np.zeros(img.shape[:2], np.float32)
    pts = _bezier(_curve(rng, at, rng.uniform(18, 90) * s, 0.2), 32)
    width = int(rng.choice([1, 1, 1, 2, 2, 3]))
    cv2.polylines(layer, _fx(pts), False, 1.0, width, cv2.LINE_AA, SHIFT)
    return _apply(rng, img, under, layer, 1.0 if rng.random() < 0.65 else -1.0)


def scratch_multi(rng: np.random.Generator, img: np.ndarray, under: np.ndarray, at: np.ndarray,
                  s: float) -> np.ndarray:
    """A bundle of 2–6 roughly parallel strands of unequal length (an abrasive drag)."""
    layer = np.zeros(img.shape[:2], np.float32)
    ctrl = _curve(rng, at, rng.uniform(25, 90) * s, 0.15)
    d = ctrl[2] - ctrl[0]
    n = np.array([-d[1], d[0]]) / max(float(np.hypot(*d)), 1e-6)
    for k in range(int(rng.integers(2, 7))):
        off = n * k * rng.uniform(1.8, 4.0) * max(s, 0.5)
        a, b = sorted(rng.uniform(0, 1, 2))
        pts = _bezier(ctrl + off, 32)[int(a * 16):max(int(a * 16) + 3, int((0.5 + b / 2) * 32))]
        cv2.polylines(layer, _fx(pts), False, float(rng.uniform(0.6, 1.0)), 1, cv2.LINE_AA, SHIFT)
    return _apply(rng, img, under, layer, 1.0 if rng.random() < 0.6 else -1.0)


def scratch_scuff(rng: np.random.Generator, img: np.ndarray, under: np.ndarray, at: np.ndarray,
                  s: float) -> np.ndarray:
    """A wide, soft-edged rub mark with fine streaks inside it."""
    h, w = img.shape[:2]
    length, width = rng.uniform(20, 70) * s, rng.uniform(4, 12) * max(s, 0.5)
    ang = rng.uniform(0, 180)
    band: np.ndarray = np.zeros((h, w), np.float32)
    box = cv2.boxPoints(((float(at[0]), float(at[1])), (length, width), ang))
    cv2.fillPoly(band, _fx(box), 1.0, cv2.LINE_AA, SHIFT)
    band = cv2.GaussianBlur(band, (0, 0), max(1.0, width * 0.25))
    streak = cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), sigmaX=6,
                              sigmaY=0.5)
    m = cv2.getRotationMatrix2D((w / 2, h / 2), -ang, 1.0)
    streak = cv2.warpAffine(streak, m, (w, h), borderMode=cv2.BORDER_REFLECT)
    layer = np.clip(band * (0.7 + 0.6 * streak), 0, 1)
    return _apply(rng, img, under, layer, 1.0 if rng.random() < 0.7 else -1.0)


def _walk(rng: np.random.Generator, start: np.ndarray, ang: float, steps: int, seg: float,
          wiggle: float) -> np.ndarray:
    pts = [start]
    for _ in range(steps):
        ang += rng.normal(0, wiggle)
        pts.append(pts[-1] + seg * np.array([math.cos(ang), math.sin(ang)]))
    return np.array(pts)


def crack_branching(rng: np.random.Generator, img: np.ndarray, under: np.ndarray,
                    at: np.ndarray, s: float) -> np.ndarray:
    """A dark jagged line with 1–4 branches, sometimes a lighter halo (open crack)."""
    layer = np.zeros(img.shape[:2], np.float32)
    seg = max(2.0, 3.5 * s)
    main = _walk(rng, at, rng.uniform(0, 2 * math.pi), int(rng.uniform(20, 65) * s / seg) + 3,
                 seg, 0.45)
    cv2.polylines(layer, _fx(main), False, 1.0, int(rng.choice([1, 1, 2])), cv2.LINE_AA, SHIFT)
    for _ in range(int(rng.integers(1, 5))):
        st = main[int(rng.integers(1, len(main)))]
        br = _walk(rng, st, rng.uniform(0, 2 * math.pi), int(rng.integers(2, 7)), seg * 0.8, 0.5)
        cv2.polylines(layer, _fx(br), False, 0.85, 1, cv2.LINE_AA, SHIFT)
    return _apply(rng, img, img * 0.35, layer, -1.0)


def crack_hairline(rng: np.random.Generator, img: np.ndarray, under: np.ndarray,
                   at: np.ndarray, s: float) -> np.ndarray:
    """A long, very thin, low-contrast zig-zag with no branches (a fatigue crack)."""
    layer = np.zeros(img.shape[:2], np.float32)
    seg = max(1.5, 2.5 * s)
    main = _walk(rng, at, rng.uniform(0, 2 * math.pi), int(rng.uniform(30, 90) * s / seg) + 4,
                 seg, 0.7)
    cv2.polylines(layer, _fx(main), False, float(rng.uniform(0.7, 1.0)), 1, cv2.LINE_AA, SHIFT)
    return _apply(rng, img, img * 0.5, layer, -1.0)


def _ellipse(rng: np.random.Generator, shape: tuple[int, int], at: np.ndarray,
             s: float) -> tuple[np.ndarray, float, np.ndarray, np.ndarray]:
    a = rng.uniform(6, 20) * s
    b = a * rng.uniform(0.45, 1.0)
    th = rng.uniform(0, math.pi)
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float32)
    dx, dy = xx - at[0], yy - at[1]
    u = (dx * math.cos(th) + dy * math.sin(th)) / a
    v = (-dx * math.sin(th) + dy * math.cos(th)) / b
    return np.exp(-(u**2 + v**2) * 1.6).astype(np.float32), a, xx, yy


def dent_shaded(rng: np.random.Generator, img: np.ndarray, under: np.ndarray, at: np.ndarray,
                s: float) -> np.ndarray:
    """A depression lit from one side: dark on the near rim, bright on the far one."""
    bump, a, _, _ = _ellipse(rng, img.shape[:2], at, s)
    gy, gx = np.gradient(bump)
    la = rng.uniform(0, 2 * math.pi)
    shade = (gx * math.cos(la) + gy * math.sin(la)) * a * rng.uniform(40, 120)
    shade -= bump * rng.uniform(10, 50)
    img += shade[..., None]
    return bump > 0.2


def dent_reflection(rng: np.random.Generator, img: np.ndarray, under: np.ndarray,
                    at: np.ndarray, s: float) -> np.ndarray:
    """A depression on a shiny part: the surface's own texture and highlights are distorted."""
    bump, a, xx, yy = _ellipse(rng, img.shape[:2], at, s)
    gy, gx = np.gradient(bump)
    k = a * rng.uniform(1.5, 4.0)
    mapx = (xx + gx * k * a).astype(np.float32)
    mapy = (yy + gy * k * a).astype(np.float32)
    warped = cv2.remap(img, mapx, mapy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    ring = np.hypot(gx, gy) * a
    sheen = ring / max(float(ring.max()), 1e-6) * rng.uniform(10, 45)
    sign = 1.0 if rng.random() < 0.5 else -1.0
    wgt = np.clip(bump * 2.5, 0, 1)[..., None]
    img[:] = img * (1 - wgt) + (warped + sign * sheen[..., None]) * wgt
    return bump > 0.2


# Class ids: 0 scratch, 1 crack, 2 dent (lineinspect.render.params.CLASS_NAMES).
STYLES: dict[str, tuple[int, StyleFn]] = {
    "scratch-line": (0, scratch_line), "scratch-multi": (0, scratch_multi),
    "scratch-scuff": (0, scratch_scuff), "crack-branching": (1, crack_branching),
    "crack-hairline": (1, crack_hairline), "dent-shaded": (2, dent_shaded),
    "dent-reflection": (2, dent_reflection),
}
