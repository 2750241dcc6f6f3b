"""Design features on a part's surface that are *not* defects: blind holes, rivets, screw heads.

Why they exist: stage D of the v3 detector called the bolt holes of held-out flanges and brackets
``dent`` (347 of its 365 false ``new`` events). A round, shaded spot is what a dent looks like to a
model that has only seen dents as round shaded spots. Real parts carry many round features by
design, and the difference a person uses is the edge: a dent is a smooth depression, a drilled or
pressed feature has a crisp outline and a chamfer. These features are painted before the defects,
never labelled, and drawn only in the training world (:attr:`World.p_features`), so the held-out
world's through-holes stay a fair test of what the model learned from them.

Each painter is ``(rng, bgr, at, rad) -> None`` and changes ``bgr`` (float32, sprite
coordinates) in place inside a disc of radius ``~1.3 * rad`` around ``at``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import cv2
import numpy as np

Painter = Callable[[np.random.Generator, np.ndarray, tuple[float, float], float], None]
SHIFT = 4


def _disc(shape: tuple[int, int], at: tuple[float, float], rad: float) -> np.ndarray:
    """Anti-aliased disc coverage in 0..1 (float32)."""
    m: np.ndarray = np.zeros(shape, np.uint8)
    cv2.circle(m, (round(at[0] * 16), round(at[1] * 16)), max(16, round(rad * 16)), 255, -1,
               cv2.LINE_AA, SHIFT)
    return m.astype(np.float32) / 255.0


def blind_hole(rng: np.random.Generator, bgr: np.ndarray, at: tuple[float, float],
               rad: float) -> None:
    """A drilled or tapped hole that does not go through: dark inside, a crisp chamfer ring."""
    inside = _disc(bgr.shape[:2], at, rad)
    chamfer = np.clip(_disc(bgr.shape[:2], at, rad * rng.uniform(1.12, 1.35)) - inside, 0, 1)
    depth = rng.uniform(0.25, 0.75)
    bgr *= (1.0 - inside * (1.0 - depth))[..., None]
    bgr += (chamfer * rng.choice([-1.0, 1.0]) * rng.uniform(15, 55))[..., None]


def rivet(rng: np.random.Generator, bgr: np.ndarray, at: tuple[float, float],
          rad: float) -> None:
    """A domed head lit from one side, with a crisp outline and sometimes a slot or recess."""
    h, w = bgr.shape[:2]
    inside = _disc((h, w), at, rad)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    la = rng.uniform(0, 2 * math.pi)
    ramp = ((xx - at[0]) * math.cos(la) + (yy - at[1]) * math.sin(la)) / max(rad, 1.0)
    base = float(rng.uniform(90, 200))
    head = base + ramp * rng.uniform(20, 60)
    bgr[:] = bgr * (1 - inside[..., None]) + head[..., None] * inside[..., None]
    if rng.random() < 0.5 and rad >= 3:  # a screwdriver slot or a hex recess
        recess: np.ndarray = np.zeros((h, w), np.uint8)
        a = rng.uniform(0, math.pi)
        dx, dy = math.cos(a) * rad * 0.7, math.sin(a) * rad * 0.7
        cv2.line(recess, (round((at[0] - dx) * 16), round((at[1] - dy) * 16)),
                 (round((at[0] + dx) * 16), round((at[1] + dy) * 16)), 255,
                 max(1, round(rad * 0.25)), cv2.LINE_AA, SHIFT)
        bgr *= (1.0 - recess.astype(np.float32)[..., None] / 255.0 * 0.6)
    ring = np.clip(_disc((h, w), at, rad + 1.2) - inside, 0, 1)
    bgr *= (1.0 - ring * 0.5)[..., None]


def countersink(rng: np.random.Generator, bgr: np.ndarray, at: tuple[float, float],
                rad: float) -> None:
    """A cone: brightness turns around the centre with the light, a dark bore in the middle."""
    h, w = bgr.shape[:2]
    cone = _disc((h, w), at, rad)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    ang = np.arctan2(yy - at[1], xx - at[0])
    shade = np.cos(ang - rng.uniform(0, 2 * math.pi)) * rng.uniform(25, 70)
    bgr += (cone * shade)[..., None]
    bore = _disc((h, w), at, rad * rng.uniform(0.35, 0.6))
    bgr *= (1.0 - bore * rng.uniform(0.4, 0.8))[..., None]


FEATURES: dict[str, Painter] = {"blind-hole": blind_hole, "rivet": rivet,
                                "countersink": countersink}


def add_features(rng: np.random.Generator, bgr: np.ndarray, alpha8: np.ndarray,
                 radius: float) -> int:
    """Paint 1–5 design features where the part is solid; returns how many were painted.

    Sometimes they sit on a bolt circle around the centre (as on flanges and hubs), sometimes
    scattered; their size runs from a pin hole to a large boss (3–14 % of the part radius).
    """
    names = sorted(FEATURES)
    painter = FEATURES[names[int(rng.integers(0, len(names)))]]
    count = int(rng.integers(1, 6))
    rad = max(1.5, radius * rng.uniform(0.03, 0.14))
    # Centres only where the feature's whole footprint (chamfer included) lies on the part.
    solid = cv2.erode(alpha8, np.ones((3, 3), np.uint8), iterations=int(rad * 1.4) + 3)
    c = alpha8.shape[0] / 2
    if rng.random() < 0.5:
        ring = radius * rng.uniform(0.35, 0.75)
        phase = rng.uniform(0, 2 * math.pi)
        spots = [(c + ring * math.cos(phase + 2 * math.pi * i / count),
                  c + ring * math.sin(phase + 2 * math.pi * i / count)) for i in range(count)]
    else:
        spots = [(c + rng.uniform(-0.8, 0.8) * radius, c + rng.uniform(-0.8, 0.8) * radius)
                 for _ in range(count)]
    painted = 0
    for x, y in spots:
        xi, yi = round(x), round(y)
        if 0 <= xi < solid.shape[1] and 0 <= yi < solid.shape[0] and solid[yi, xi] > 128:
            painter(rng, bgr, (x, y), rad)
            painted += 1
    return painted
