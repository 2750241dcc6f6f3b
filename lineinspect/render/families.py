"""Part silhouettes by family: what the camera sees of a part, as an anti-aliased alpha mask.

Each family is a pure function ``(rng, size, r) -> uint8 (size, size)`` (255 inside the part) for a
part of outer radius ``r`` pixels centred in a ``size x size`` sprite. Families are the unit of
leave-family-out evaluation (:mod:`lineinspect.render.world`): a model that has only seen gears
and nuts is scored on flanges and brackets it never met, so each family must differ in outline,
holes and proportions, not just in size.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import cv2
import numpy as np

from lineinspect.render.parts import _shape_mask

SHIFT = 4  # sub-pixel bits for cv2 drawing: smooth outlines at every scale
ONE = 1 << SHIFT

ShapeFn = Callable[[np.random.Generator, int, float], np.ndarray]


def _fx(points: np.ndarray) -> list[np.ndarray]:
    return [np.round(np.asarray(points, np.float64) * ONE).astype(np.int32)]


def _circle(mask: np.ndarray, c: tuple[float, float], r: float, value: int) -> None:
    cv2.circle(mask, (round(c[0] * ONE), round(c[1] * ONE)), max(1, round(r * ONE)), value, -1,
               cv2.LINE_AA, SHIFT)


def _regular(c: float, r: float, n: int, phase: float) -> np.ndarray:
    a = phase + np.arange(n) * 2 * math.pi / n
    return np.stack([c + r * np.cos(a), c + r * np.sin(a)], axis=1)


def _bolt_circle(rng: np.random.Generator, mask: np.ndarray, ring: float, n: int,
                 hole: float) -> None:
    c = mask.shape[0] / 2
    for p in _regular(c, ring, n, rng.uniform(0, math.pi)):
        _circle(mask, (p[0], p[1]), hole, 0)


def _scatter_holes(rng: np.random.Generator, mask: np.ndarray, r: float, n: int,
                   spread: float) -> None:
    c = mask.shape[0] / 2
    for _ in range(n):
        _circle(mask, (c + rng.uniform(-spread, spread) * r, c + rng.uniform(-spread, spread) * r),
                r * rng.uniform(0.04, 0.1), 0)


# Through-holes in the training families are hard negatives: stage D called the held-out parts'
# bolt holes dents, having seen few holes (see lineinspect.render.features). The draws come after
# each outline's own, so an outline is the same with or without them.
def gear(rng: np.random.Generator, size: int, r: float) -> np.ndarray:
    mask = _shape_mask(rng, "gear", size, r)
    if rng.random() < 0.5:  # lightening holes in the web
        _bolt_circle(rng, mask, r * rng.uniform(0.5, 0.62), int(rng.integers(3, 9)),
                     r * rng.uniform(0.06, 0.14))
    return mask


def plate(rng: np.random.Generator, size: int, r: float) -> np.ndarray:
    return _shape_mask(rng, "plate", size, r)


def disc(rng: np.random.Generator, size: int, r: float) -> np.ndarray:
    return _shape_mask(rng, "disc", size, r)


def nut(rng: np.random.Generator, size: int, r: float) -> np.ndarray:
    """Hex (sometimes square) nut with a round bore, corners slightly chamfered."""
    mask: np.ndarray = np.zeros((size, size), np.uint8)
    c = size / 2
    sides = 6 if rng.random() < 0.8 else 4
    cv2.fillPoly(mask, _fx(_regular(c, r, sides, rng.uniform(0, math.pi))), 255, cv2.LINE_AA,
                 SHIFT)
    chamfer = np.zeros_like(mask)
    _circle(chamfer, (c, c), r * rng.uniform(0.9, 0.98), 255)
    mask = np.minimum(mask, chamfer)
    _circle(mask, (c, c), r * rng.uniform(0.3, 0.5), 0)
    return mask


def washer(rng: np.random.Generator, size: int, r: float) -> np.ndarray:
    """Flat ring; sometimes a split washer with a cut."""
    mask: np.ndarray = np.zeros((size, size), np.uint8)
    c = size / 2
    _circle(mask, (c, c), r, 255)
    _circle(mask, (c, c), r * rng.uniform(0.35, 0.7), 0)
    if rng.random() < 0.25:
        a = rng.uniform(0, 2 * math.pi)
        p = (c + r * 1.1 * math.cos(a), c + r * 1.1 * math.sin(a))
        cv2.line(mask, (round(c * ONE), round(c * ONE)), (round(p[0] * ONE), round(p[1] * ONE)),
                 0, max(2, round(r * 0.08)), cv2.LINE_AA, SHIFT)
    return mask


def flange(rng: np.random.Generator, size: int, r: float) -> np.ndarray:
    """Disc with a ring of bolt holes, a bore and sometimes flats or lugs."""
    mask: np.ndarray = np.zeros((size, size), np.uint8)
    c = size / 2
    lugs = int(rng.integers(0, 2)) * int(rng.integers(3, 5))
    if lugs:  # a lugged flange: a smaller disc with ears carrying the holes
        _circle(mask, (c, c), r * 0.72, 255)
        for p in _regular(c, r * 0.78, lugs, rng.uniform(0, math.pi)):
            _circle(mask, (p[0], p[1]), r * 0.24, 255)
            cv2.line(mask, (round(c * ONE), round(c * ONE)),
                     (round(p[0] * ONE), round(p[1] * ONE)), 255, round(r * 0.4), cv2.LINE_AA,
                     SHIFT)
    else:
        _circle(mask, (c, c), r, 255)
    holes = lugs or int(rng.integers(4, 9))
    for p in _regular(c, r * 0.78 if lugs else r * rng.uniform(0.7, 0.8), holes,
                      rng.uniform(0, math.pi)):
        _circle(mask, (p[0], p[1]), r * rng.uniform(0.06, 0.1), 0)
    _circle(mask, (c, c), r * rng.uniform(0.2, 0.38), 0)
    return mask


def bracket(rng: np.random.Generator, size: int, r: float) -> np.ndarray:
    """L- or T-shaped bent sheet bracket with slots and holes."""
    mask: np.ndarray = np.zeros((size, size), np.uint8)
    c = size / 2
    t = r * rng.uniform(0.35, 0.6)  # arm width
    arm = r * rng.uniform(1.4, 1.9)
    shape = "T" if rng.random() < 0.3 else "L"
    x0, y0 = c - arm / 2, c - arm / 2
    rects = [(x0, y0, x0 + t, y0 + arm), (x0, y0 + arm - t, x0 + arm, y0 + arm)]
    if shape == "T":
        rects = [(c - t / 2, y0, c + t / 2, y0 + arm), (x0, y0, x0 + arm, y0 + t)]
    for a, b, e, f in rects:
        cv2.fillPoly(mask, _fx(np.array([[a, b], [e, b], [e, f], [a, f]])), 255, cv2.LINE_AA,
                     SHIFT)
    k = max(3, int(t * 0.25) | 1)
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE,
                                                                           (k, k)))
    for a, b, e, f in rects:
        for _ in range(int(rng.integers(1, 3))):
            u = rng.uniform(0.25, 0.75)
            hx, hy = (a + (e - a) * u, (b + f) / 2) if e - a > f - b else ((a + e) / 2,
                                                                           b + (f - b) * u)
            _circle(mask, (hx, hy), t * rng.uniform(0.12, 0.22), 0)
    return _rotate(mask, rng.uniform(0, 360))


def shaft(rng: np.random.Generator, size: int, r: float) -> np.ndarray:
    """A turned shaft seen from the side: a long bar with steps and rounded ends."""
    mask: np.ndarray = np.zeros((size, size), np.uint8)
    c = size / 2
    length = r * 1.9
    steps = int(rng.integers(1, 4))
    x = c - length / 2
    for i in range(steps):
        seg = length / steps
        half = r * rng.uniform(0.14, 0.32) * (1.0 if i % 2 == 0 else rng.uniform(0.6, 1.0))
        pts = np.array([[x, c - half], [x + seg, c - half], [x + seg, c + half], [x, c + half]])
        cv2.fillPoly(mask, _fx(pts), 255, cv2.LINE_AA, SHIFT)
        x += seg
    half0 = r * 0.14
    _circle(mask, (c - length / 2, c), half0, 255)
    _circle(mask, (c + length / 2, c), half0, 255)
    if rng.random() < 0.3:  # a cross hole
        _circle(mask, (c + rng.uniform(-0.35, 0.35) * length, c), half0 * rng.uniform(0.3, 0.6), 0)
    return _rotate(mask, rng.uniform(0, 360))


def stamped(rng: np.random.Generator, size: int, r: float) -> np.ndarray:
    """Stamped sheet: a rounded convex outline with notches and rectangular cut-outs."""
    mask: np.ndarray = np.zeros((size, size), np.uint8)
    c = size / 2
    n = int(rng.integers(5, 9))
    radii = r * rng.uniform(0.7, 1.0, n)
    ang = np.sort(rng.uniform(0, 2 * math.pi, n))
    pts = np.stack([c + radii * np.cos(ang), c + radii * np.sin(ang)], axis=1)
    hull = cv2.convexHull(np.float32(pts)).reshape(-1, 2)
    cv2.fillPoly(mask, _fx(hull), 255, cv2.LINE_AA, SHIFT)
    for _ in range(int(rng.integers(1, 4))):
        w, h = r * rng.uniform(0.12, 0.35), r * rng.uniform(0.08, 0.2)
        box = cv2.boxPoints(((c + rng.uniform(-0.35, 0.35) * r, c + rng.uniform(-0.35, 0.35) * r),
                             (w, h), rng.uniform(0, 180)))
        cv2.fillPoly(mask, _fx(box), 0, cv2.LINE_AA, SHIFT)
    for _ in range(int(rng.integers(0, 3))):  # edge notches
        a = rng.uniform(0, 2 * math.pi)
        _circle(mask, (c + r * 0.95 * math.cos(a), c + r * 0.95 * math.sin(a)),
                r * rng.uniform(0.08, 0.16), 0)
    if rng.random() < 0.6:
        _scatter_holes(rng, mask, r, int(rng.integers(1, 5)), 0.5)
    return mask


def casting(rng: np.random.Generator, size: int, r: float) -> np.ndarray:
    """Organic cast body: a thresholded smooth random field inside a soft disc, with a bore."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    c = size / 2
    d = np.hypot(xx - c, yy - c) / r
    field: np.ndarray = cv2.GaussianBlur(rng.normal(0, 1, (size, size)).astype(np.float32),
                                         (0, 0), r * 0.25)
    field = field / max(float(np.abs(field).max()), 1e-6)
    body = (1.0 - d + 0.25 * field) > 0.12
    mask = cv2.GaussianBlur(body.astype(np.float32) * 255, (0, 0), 0.8).astype(np.uint8)
    if rng.random() < 0.6:
        _circle(mask, (c, c), r * rng.uniform(0.12, 0.28), 0)
    if rng.random() < 0.4:
        _bolt_circle(rng, mask, r * rng.uniform(0.45, 0.6), int(rng.integers(3, 7)),
                     r * rng.uniform(0.05, 0.09))
    return mask


def polygon(rng: np.random.Generator, size: int, r: float) -> np.ndarray:
    """A random (possibly concave) polygon: outlines no other family has."""
    mask: np.ndarray = np.zeros((size, size), np.uint8)
    c = size / 2
    n = int(rng.integers(3, 11))
    ang = np.sort(rng.uniform(0, 2 * math.pi, n))
    radii = r * rng.uniform(0.45, 1.0, n)
    pts = np.stack([c + radii * np.cos(ang), c + radii * np.sin(ang)], axis=1)
    cv2.fillPoly(mask, _fx(pts), 255, cv2.LINE_AA, SHIFT)
    if rng.random() < 0.4:
        _scatter_holes(rng, mask, r, int(rng.integers(1, 4)), 0.3)
    return mask


def link(rng: np.random.Generator, size: int, r: float) -> np.ndarray:
    """A connecting rod or link plate: two bored bosses joined by a web, sometimes a web hole.

    Held out (lineinspect.render.world): added to the held-out world together with the hole
    hard negatives, before any model trained on either, so its figures stay zero-shot.
    """
    mask: np.ndarray = np.zeros((size, size), np.uint8)
    c = size / 2
    big, small = r * rng.uniform(0.3, 0.4), r * rng.uniform(0.2, 0.34)
    a, b = (c - r * 0.6, c), (c + r * 0.62, c)
    web = r * rng.uniform(0.16, 0.3)
    cv2.line(mask, (round(a[0] * ONE), round(c * ONE)), (round(b[0] * ONE), round(c * ONE)), 255,
             max(2, round(web * 2)), cv2.LINE_AA, SHIFT)
    _circle(mask, a, big, 255)
    _circle(mask, b, small, 255)
    _circle(mask, a, big * rng.uniform(0.45, 0.65), 0)
    _circle(mask, b, small * rng.uniform(0.35, 0.6), 0)
    if rng.random() < 0.4:
        _circle(mask, (c, c), web * rng.uniform(0.3, 0.6), 0)
    return _rotate(mask, rng.uniform(0, 360))


def _rotate(mask: np.ndarray, deg: float) -> np.ndarray:
    s = mask.shape[0]
    m = cv2.getRotationMatrix2D((s / 2, s / 2), deg, 1.0)
    return cv2.warpAffine(mask, m, (s, s), flags=cv2.INTER_LINEAR)


FAMILIES: dict[str, ShapeFn] = {
    "gear": gear, "plate": plate, "disc": disc, "nut": nut, "washer": washer, "flange": flange,
    "bracket": bracket, "shaft": shaft, "stamped": stamped, "casting": casting,
    "polygon": polygon, "link": link,
}
ROUND_FAMILIES = frozenset({"gear", "disc", "nut", "washer", "flange"})  # turned: concentric marks
