"""Surface finishes: the texture, colour and shine of a part, as a float BGR sprite.

A finish decides what a defect has to be told apart from: brushed streaks look like scratches,
cast grain like pitting, a painted or anodised part shows a scratch as bare metal underneath. Each
finish returns ``(bgr float32 (S, S, 3) in 0..255, metal float32 (S, S, 3))`` where ``metal`` is
what lies under a coating (equal to the surface for bare metal): scratches and cracks reveal it.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

FinishFn = Callable[[np.random.Generator, int, float], tuple[np.ndarray, np.ndarray]]


def _noise(rng: np.random.Generator, size: int, sigma: float) -> np.ndarray:
    n = rng.normal(0.0, 1.0, (size, size)).astype(np.float32)
    return cv2.GaussianBlur(n, (0, 0), sigma) if sigma > 0 else n


def _streaks(rng: np.random.Generator, size: int) -> np.ndarray:
    n = rng.normal(0.0, 1.0, (size, size)).astype(np.float32)
    streak = cv2.GaussianBlur(n, (0, 0), sigmaX=rng.uniform(3, 10), sigmaY=0.6)
    m = cv2.getRotationMatrix2D((size / 2, size / 2), rng.uniform(0, 180), 1.0)
    return cv2.warpAffine(streak, m, (size, size), borderMode=cv2.BORDER_REFLECT)


def _turned(rng: np.random.Generator, size: int) -> np.ndarray:
    """Concentric lathe marks of a turned face."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    d = np.hypot(xx - size / 2, yy - size / 2)
    period = rng.uniform(1.5, 4.0)
    return (np.sin(d * 2 * np.pi / period + rng.uniform(0, 6)) * 0.5
            + _noise(rng, size, 1.0) * 0.5).astype(np.float32)


def _shine(rng: np.random.Generator, size: int, r: float, strength: float) -> np.ndarray:
    """A soft gradient and one or two specular highlights."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    gx, gy = rng.normal(0, 1, 2)
    out = (gx * (xx - size / 2) + gy * (yy - size / 2)) / size * rng.uniform(5, 40)
    for _ in range(int(rng.integers(1, 3))):
        hx, hy = rng.uniform(0.2, 0.8, 2) * size
        hs = max(2.0, r * rng.uniform(0.1, 0.45))
        ratio = rng.uniform(0.3, 1.0)
        out = out + np.exp(-(((xx - hx) ** 2) / (2 * hs**2)
                             + ((yy - hy) ** 2) / (2 * (hs * ratio) ** 2))) * strength
    return out.astype(np.float32)


def _gray3(g: np.ndarray, tint: np.ndarray) -> np.ndarray:
    return (g[..., None] * tint[None, None, :]).astype(np.float32)


def _metal_tint(rng: np.random.Generator) -> np.ndarray:
    kind = rng.random()
    if kind < 0.7:  # steel / aluminium: nearly neutral
        return rng.uniform(0.95, 1.05, 3).astype(np.float32)
    if kind < 0.85:  # brass / bronze (BGR)
        return np.array([0.6, 0.9, 1.15], np.float32) * rng.uniform(0.9, 1.1)
    return np.array([0.75, 0.85, 1.1], np.float32)  # copper


def brushed(rng: np.random.Generator, size: int, r: float) -> tuple[np.ndarray, np.ndarray]:
    base = rng.uniform(90, 190)
    g = base + _streaks(rng, size) * rng.uniform(6, 20) + _shine(rng, size, r, rng.uniform(10, 50))
    bgr = _gray3(g, _metal_tint(rng))
    return bgr, bgr


def cast(rng: np.random.Generator, size: int, r: float) -> tuple[np.ndarray, np.ndarray]:
    base = rng.uniform(70, 160)
    grain = _noise(rng, size, rng.uniform(0.8, 2.5)) * rng.uniform(6, 16)
    pits = (_noise(rng, size, 0.7) > 2.2).astype(np.float32) * -rng.uniform(0, 25)
    g = base + grain + pits + _shine(rng, size, r, rng.uniform(5, 25))
    bgr = _gray3(g, _metal_tint(rng))
    return bgr, bgr


def machined(rng: np.random.Generator, size: int, r: float) -> tuple[np.ndarray, np.ndarray]:
    base = rng.uniform(110, 200)
    g = base + _turned(rng, size) * rng.uniform(4, 14) + _shine(rng, size, r, rng.uniform(15, 60))
    bgr = _gray3(g, _metal_tint(rng))
    return bgr, bgr


def _colour(rng: np.random.Generator, dark: bool) -> np.ndarray:
    hsv = np.array([[[rng.integers(0, 180), rng.integers(40, 230),
                      rng.integers(30, 110) if dark else rng.integers(80, 230)]]], np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0].astype(np.float32)


def painted(rng: np.random.Generator, size: int, r: float) -> tuple[np.ndarray, np.ndarray]:
    colour = _colour(rng, dark=rng.random() < 0.3)
    peel = _noise(rng, size, rng.uniform(1.5, 3.0)) * rng.uniform(1, 5)
    shade = peel + _shine(rng, size, r, rng.uniform(5, 35))
    bgr = colour[None, None, :] + shade[..., None]
    metal, _ = brushed(rng, size, r)
    return bgr.astype(np.float32), metal


def anodised(rng: np.random.Generator, size: int, r: float) -> tuple[np.ndarray, np.ndarray]:
    colour = _colour(rng, dark=rng.random() < 0.5) * rng.uniform(0.6, 1.0)
    grain = _streaks(rng, size) * rng.uniform(2, 8) + _shine(rng, size, r, rng.uniform(5, 30))
    bgr = colour[None, None, :] + grain[..., None]
    metal = np.full_like(bgr, rng.uniform(170, 220)) + grain[..., None]
    return bgr.astype(np.float32), metal.astype(np.float32)


def plastic(rng: np.random.Generator, size: int, r: float) -> tuple[np.ndarray, np.ndarray]:
    colour = _colour(rng, dark=rng.random() < 0.4)
    if rng.random() < 0.3:  # black or white moulding
        colour = np.full(3, rng.choice([rng.uniform(20, 50), rng.uniform(190, 235)]), np.float32)
    shade = _noise(rng, size, 2.0) * rng.uniform(0.5, 3) + _shine(rng, size, r,
                                                                   rng.uniform(0, 20))
    bgr = colour[None, None, :] + shade[..., None]
    # A scratch on plastic whitens it (stress marks) rather than showing metal.
    under = np.clip(bgr * 0.4 + 150, 0, 255)
    return bgr.astype(np.float32), under.astype(np.float32)


FINISHES: dict[str, FinishFn] = {
    "brushed": brushed, "cast": cast, "machined": machined, "painted": painted,
    "anodised": anodised, "plastic": plastic,
}
