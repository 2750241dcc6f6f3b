"""Things in the picture that are neither a part nor a defect: bars, hoses, rails, shadows.

A line camera sees more than the belt: guide rails, shafts and rollers of the machine, hoses,
the shadow of a sensor bracket, a reflection. A detector trained on plain backgrounds learns
"anything shaded and bright is a part" and fires on them (v3's first epochs took the held-out
roller conveyor's cylinders for parts). :func:`add_clutter` draws a few such distractors onto a
background canvas before the parts are placed, unlabelled: they are what ``part`` must not be.

They are generic shapes, not a copy of any background family: long shaded bars at any angle
(cylinders seen from above), thick shaded curves (hoses, cables), step edges (rails, plate
borders) and soft light or shadow patches. None is a closed outline the size of a part, so no
unlabelled object here looks like one.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import cv2
import numpy as np

ClutterFn = Callable[[np.random.Generator, np.ndarray], None]


def _shade_along(dist: np.ndarray, half: float, rng: np.random.Generator) -> np.ndarray:
    """Cross profile of a cylinder (or a flat bar) ``half`` px wide at distance ``dist``."""
    u = np.clip(np.abs(dist) / max(half, 1.0), 0.0, 1.0)
    if rng.random() < 0.7:  # round: bright ridge, darker flanks, maybe a specular line
        prof = np.sqrt(np.clip(1.0 - u * u, 0.0, 1.0))
        if rng.random() < 0.5:
            # Clipped first: far pixels would overflow float32 when squared (the line is 0
            # there anyway: exp(-3.5**2 / 0.01) underflows to exactly 0).
            v = np.clip(dist / max(half, 1.0), -4.0, 4.0)
            prof = prof + 0.8 * np.exp(-((v - rng.uniform(-0.5, 0.5)) ** 2) / 0.01)
    else:  # flat bar with a bevelled edge
        prof = np.clip((1.0 - u) * 6.0, 0.0, 1.0)
    return prof.astype(np.float32)


def _random_line(rng: np.random.Generator, h: int,
                 w: int) -> tuple[np.ndarray, np.ndarray]:
    """Signed distance across, and distance along, a random line through the frame."""
    ang = rng.uniform(0, math.pi)
    cx, cy = rng.uniform(0, w), rng.uniform(0, h)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    across = (xx - cx) * -math.sin(ang) + (yy - cy) * math.cos(ang)
    along = (xx - cx) * math.cos(ang) + (yy - cy) * math.sin(ang)
    return across, along


def _bar(rng: np.random.Generator, canvas: np.ndarray) -> None:
    """A long shaded bar or shaft across the frame at any angle."""
    h, w = canvas.shape[:2]
    half = float(rng.uniform(3, 0.12 * min(h, w)))
    dist, along = _random_line(rng, h, w)
    length = rng.uniform(0.4, 2.0) * max(h, w)
    inside = (np.abs(dist) <= half) & (np.abs(along) <= length / 2)
    prof = _shade_along(dist, half, rng)
    _blend(rng, canvas, inside, prof)


def _hose(rng: np.random.Generator, canvas: np.ndarray) -> None:
    """A thick shaded curve: a hose or cable lying across the view."""
    h, w = canvas.shape[:2]
    pts = np.stack([rng.uniform(-0.1, 1.1, 4) * w, rng.uniform(-0.1, 1.1, 4) * h], 1)
    t = np.linspace(0, 1, 64)[:, None]
    curve = ((1 - t) ** 3 * pts[0] + 3 * (1 - t) ** 2 * t * pts[1] + 3 * (1 - t) * t ** 2 * pts[2]
             + t ** 3 * pts[3])
    half = float(rng.uniform(2, 0.04 * min(h, w) + 3))
    line = np.zeros((h, w), np.uint8)
    cv2.polylines(line, [np.round(curve).astype(np.int32)], False, 255, 1)
    dist = cv2.distanceTransform(255 - line, cv2.DIST_L2, 3)
    _blend(rng, canvas, dist <= half, _shade_along(dist, half, rng))


def _edge(rng: np.random.Generator, canvas: np.ndarray) -> None:
    """A straight step in brightness: a rail, a guide, the border of a plate."""
    across, _ = _random_line(rng, *canvas.shape[:2])
    canvas[across > 0] *= float(rng.uniform(0.4, 1.7))


def _patch(rng: np.random.Generator, canvas: np.ndarray) -> None:
    """A soft shadow or pool of light (a sensor bracket's shadow, a window)."""
    h, w = canvas.shape[:2]
    field = np.zeros((h, w), np.float32)
    axes = (int(rng.uniform(0.1, 0.5) * w), int(rng.uniform(0.1, 0.5) * h))
    cv2.ellipse(field, (int(rng.uniform(0, w)), int(rng.uniform(0, h))), axes,
                float(rng.uniform(0, 180)), 0, 360, 1.0, -1)
    soft = cv2.GaussianBlur(field, (0, 0), float(rng.uniform(5, 30)))
    canvas *= (1.0 + soft * float(rng.uniform(-0.6, 0.6)))[..., None]


def _blend(rng: np.random.Generator, canvas: np.ndarray, inside: np.ndarray,
           prof: np.ndarray) -> None:
    if not inside.any():
        return
    level = float(rng.uniform(30, 230))
    tint = rng.uniform(0.85, 1.15, 3).astype(np.float32) * level
    shade = (0.35 + 0.75 * prof)[..., None] * tint
    alpha = cv2.GaussianBlur(inside.astype(np.float32), (0, 0), 0.8)[..., None]
    canvas[:] = canvas * (1.0 - alpha) + shade * alpha


CLUTTER: dict[str, ClutterFn] = {"bar": _bar, "hose": _hose, "edge": _edge, "patch": _patch}


def add_clutter(rng: np.random.Generator, canvas: np.ndarray, max_items: int = 4) -> list[str]:
    """Draw 1–``max_items`` distractors onto ``canvas`` (float BGR, in place); their kinds."""
    kinds = list(CLUTTER)
    drawn = []
    for _ in range(int(rng.integers(1, max_items + 1))):
        kind = kinds[int(rng.choice(len(kinds), p=[0.45, 0.2, 0.15, 0.2]))]
        CLUTTER[kind](rng, canvas)
        drawn.append(kind)
    return drawn
