"""What lies under the parts: belts, rollers, meshes, trays, fixtures, textures, procedural
patterns; dark and bright.

Every background is a tile ``period`` pixels wide repeated along x, returned as float BGR of shape
``(h, w + period, 3)``, so a conveyor scrolls it seamlessly by ``offset % period`` and a still
crops ``[:, :w]``. Seams, cleats, slats and holes are what a detector must learn to ignore.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

BackgroundFn = Callable[[np.random.Generator, int, int], np.ndarray]  # (rng, h, period) -> tile


def _grain(rng: np.random.Generator, h: int, w: int, sigma: float, amp: float) -> np.ndarray:
    n = rng.normal(0, 1, (h, w)).astype(np.float32)
    return cv2.GaussianBlur(n, (0, 0), sigma) * amp


def _tint(rng: np.random.Generator, grey: float) -> np.ndarray:
    if rng.random() < 0.35:  # coloured PVC belts: green, blue, white, orange
        value = int(np.clip(grey, 20, 235))
        hsv = np.array([[[rng.integers(0, 180), rng.integers(60, 200), value]]], np.uint8)
        return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0].astype(np.float32)
    return np.full(3, grey, np.float32) * rng.uniform(0.9, 1.1, 3).astype(np.float32)


def _level(rng: np.random.Generator) -> float:
    """Background brightness: dark belts are common, bright ones (white PVC, steel) too."""
    return float(rng.uniform(20, 80) if rng.random() < 0.6 else rng.uniform(120, 220))


def belt(rng: np.random.Generator, h: int, period: int) -> np.ndarray:
    level = _level(rng)
    g = np.full((h, period), 1.0, np.float32) + _grain(rng, h, period, 1.2, 0.08)
    if rng.random() < 0.7:  # cleats across the direction of travel
        cv2.line(g, (0, 0), (0, h), float(rng.uniform(0.6, 1.4)), max(1, period // 25))
    if rng.random() < 0.3:  # a spliced seam
        x = int(rng.integers(0, period))
        cv2.line(g, (x, 0), (x + int(rng.integers(-8, 9)), h), float(rng.uniform(0.7, 1.3)), 1)
    if rng.random() < 0.5:  # side rails / guides
        rail = int(h * rng.uniform(0.02, 0.08))
        g[:rail] *= rng.uniform(0.5, 1.8)
        g[h - rail:] *= rng.uniform(0.5, 1.8)
    return g[..., None] * _tint(rng, level)[None, None, :]


def rollers(rng: np.random.Generator, h: int, period: int) -> np.ndarray:
    """Roller conveyor: shiny cylinders across the belt with dark gaps between them."""
    level = _level(rng)
    x = np.arange(period, dtype=np.float32) / period
    gap = rng.uniform(0.1, 0.35)
    cyl = np.clip((x - gap) / (1 - gap), 0, 1)
    profile = np.where(x < gap, 0.25, 0.6 + 0.8 * np.sin(np.pi * cyl) ** 3)
    g = profile[None, :].repeat(h, 0) + _grain(rng, h, period, 1.0, 0.05)
    return g[..., None].astype(np.float32) * _tint(rng, level)[None, None, :]


def tray(rng: np.random.Generator, h: int, period: int) -> np.ndarray:
    """A moulded tray: flat pockets with raised walls every ``period`` px and across."""
    level = _level(rng)
    g = np.full((h, period), 1.0, np.float32) + _grain(rng, h, period, 2.0, 0.04)
    wall = max(2, period // 12)
    g[:, :wall] = rng.uniform(1.15, 1.4)
    rows = int(rng.integers(1, 4))
    for k in range(1, rows + 1):
        y = int(h * k / (rows + 1))
        g[y:y + wall] = rng.uniform(1.15, 1.4)
    g = cv2.GaussianBlur(g, (0, 0), 1.0)
    return g[..., None] * _tint(rng, level)[None, None, :]


def fixture(rng: np.random.Generator, h: int, period: int) -> np.ndarray:
    """A machined fixture plate: brushed steel with a grid of holes."""
    g = np.full((h, period), rng.uniform(90, 170), np.float32)
    streak = cv2.GaussianBlur(rng.normal(0, 1, (h, period)).astype(np.float32), (0, 0),
                              sigmaX=8, sigmaY=0.6)
    g += streak * rng.uniform(5, 15)
    r = max(2, int(period * rng.uniform(0.06, 0.14)))
    for y in range(period // 2, h, period):
        cv2.circle(g, (period // 2, y), r, float(rng.uniform(10, 40)), -1, cv2.LINE_AA)
    return g[..., None] * rng.uniform(0.95, 1.05, 3).astype(np.float32)[None, None, :]


def mesh(rng: np.random.Generator, h: int, period: int) -> np.ndarray:
    """A wire or modular-plastic mesh belt: a fine grid of rods and links over a dark gap."""
    level = _level(rng)
    links = int(rng.integers(3, 9))  # grid cells per tile, so the tile still repeats along x
    cell = period / links
    g = np.full((h, period), rng.uniform(0.15, 0.5), np.float32)
    rod = max(1, int(cell * rng.uniform(0.15, 0.45)))
    for k in range(links):
        x = int(k * cell)
        g[:, x:x + rod] = 1.0
    for y in np.arange(0.0, h, cell * rng.uniform(0.8, 1.6)):
        g[int(y):int(y) + rod] = rng.uniform(0.8, 1.2)
    g = cv2.GaussianBlur(g, (0, 0), 0.7) + _grain(rng, h, period, 1.0, 0.04)
    return g[..., None] * _tint(rng, level)[None, None, :]


def texture(rng: np.random.Generator, h: int, period: int) -> np.ndarray:
    """Random multi-scale texture (fabric, wood, stone-like): things no belt has."""
    level = _level(rng)
    g = np.ones((h, period), np.float32)
    for sigma in (0.8, 3.0, 9.0):
        g += _grain(rng, h, period, sigma, rng.uniform(0.02, 0.12) * sigma ** 0.5)
    if rng.random() < 0.4:  # directional weave
        g += _grain(rng, h, period, 0.5, 0.1) * np.sin(np.arange(period) * rng.uniform(0.5, 2))
    return g[..., None] * _tint(rng, level)[None, None, :]


def _wave(rng: np.random.Generator, phase: np.ndarray) -> np.ndarray:
    """A square (hard edges) or raised-cosine (soft) wave of ``phase`` in cycles, 0..1."""
    if rng.random() < 0.6:
        return (np.mod(phase, 1.0) < rng.uniform(0.15, 0.7)).astype(np.float32)
    return (0.5 + 0.5 * np.cos(2 * np.pi * phase)).astype(np.float32)


def _pattern_layer(rng: np.random.Generator, h: int, period: int) -> np.ndarray:
    """One periodic layer, 0..1: stripes along or across travel, diagonals, a grid, checks or
    dots. Along x it repeats a whole number of times per tile, so the tile still scrolls."""
    nx = int(rng.integers(1, 9))  # cycles per tile along x
    px = np.arange(period, dtype=np.float32)[None, :] * nx / period
    py = np.arange(h, dtype=np.float32)[:, None] / rng.uniform(6.0, 60.0) + rng.random()
    kind = rng.choice(["along", "across", "diagonal", "grid", "checks", "dots"])
    if kind == "along":
        return np.broadcast_to(_wave(rng, py), (h, period))
    if kind == "across":
        return np.broadcast_to(_wave(rng, px), (h, period))
    if kind == "diagonal":
        return _wave(rng, px + py * rng.choice([-1.0, 1.0]))
    if kind == "grid":
        return np.maximum(_wave(rng, px), _wave(rng, py))
    if kind == "checks":
        return ((np.floor(px) + np.floor(py)) % 2).astype(np.float32)
    # dots (perforated sheet, studs): round, so rows are as far apart as columns
    py = np.arange(h, dtype=np.float32)[:, None] * nx / period
    d = np.hypot(np.mod(px, 1.0) - 0.5, np.mod(py, 1.0) - 0.5)
    return (d < rng.uniform(0.12, 0.42)).astype(np.float32)


def pattern(rng: np.random.Generator, h: int, period: int) -> np.ndarray:
    """Procedural periodic surfaces: one or two random layers of stripes, diagonals, grids, checks
    or dots at random scale, contrast and polarity — slat, chain, modular and perforated
    conveyors and fixtures that no named family draws, so 'background' is not five looks."""
    level = _level(rng)
    g: np.ndarray = np.ones((h, period), np.float32)
    for _ in range(int(rng.integers(1, 3))):
        g += _pattern_layer(rng, h, period) * rng.uniform(0.15, 0.8) * rng.choice([-1.0, 1.0])
    pad = 8  # blur across the tile's own seam so repeated tiles join without an edge
    wrapped = np.pad(g, ((0, 0), (pad, pad)), mode="wrap")
    g = cv2.GaussianBlur(wrapped, (0, 0), rng.uniform(0.4, 1.5))[:, pad:pad + period]
    g = np.clip(g + _grain(rng, h, period, 1.0, 0.05), 0.05, None, dtype=np.float32)
    return g[..., None] * _tint(rng, level)[None, None, :]


def flat(rng: np.random.Generator, h: int, period: int) -> np.ndarray:
    """A plain dark or bright surface, e.g. a backlit table or a black felt."""
    level = rng.choice([rng.uniform(5, 35), rng.uniform(200, 250)])
    g = np.ones((h, period), np.float32) + _grain(rng, h, period, 4.0, 0.03)
    return g[..., None] * _tint(rng, float(level))[None, None, :]


BACKGROUNDS: dict[str, BackgroundFn] = {
    "belt": belt, "rollers": rollers, "tray": tray, "fixture": fixture, "texture": texture,
    "flat": flat, "mesh": mesh, "pattern": pattern,
}


def make_background(rng: np.random.Generator, name: str, h: int, w: int,
                    period: int) -> np.ndarray:
    """The ``name`` tile repeated to ``w + period`` columns (float32 BGR)."""
    tile = BACKGROUNDS[name](rng, h, period)
    reps = (w + period) // period + 1
    return np.ascontiguousarray(np.tile(tile, (1, reps, 1))[:, :w + period], np.float32)
