"""Light, lens and sensor: what turns a clean rendering into what a line camera delivers.

:class:`Camera` holds the per-scene choices (drawn once by :func:`sample_camera`, fixed over a
video so parts look consistent); :func:`light_field` is the illumination over the image at a given
time (directional, ring or diffuse, vignetting, slow drift); :func:`develop` applies light,
defocus, motion blur along the belt, sensor noise, colour or mono, and compression.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Camera:
    mono: bool
    gain: float
    light: str  # "diffuse" | "directional" | "ring"
    light_dir: tuple[float, float]
    light_strength: float
    vignette: float
    drift: float  # relative gain swing over a video (0 for stills)
    drift_period_s: float
    white_balance: tuple[float, float, float]
    defocus: float  # Gaussian sigma, px
    motion: float  # motion-blur length along x, px (stills); videos derive it from belt speed
    noise: float
    jpeg_quality: int
    gamma: float


def sample_camera(rng: np.random.Generator, p_mono: float = 0.5) -> Camera:
    ang = rng.uniform(0, 2 * math.pi)
    return Camera(
        mono=bool(rng.random() < p_mono),
        gain=float(rng.uniform(0.55, 1.45)),
        light=str(rng.choice(["diffuse", "directional", "ring"], p=[0.35, 0.4, 0.25])),
        light_dir=(math.cos(ang), math.sin(ang)),
        light_strength=float(rng.uniform(0.1, 0.6)),
        vignette=float(rng.uniform(0, 0.5) if rng.random() < 0.6 else 0.0),
        drift=float(rng.uniform(0.05, 0.3) if rng.random() < 0.5 else 0.0),
        drift_period_s=float(rng.uniform(5, 30)),
        white_balance=tuple(float(v) for v in rng.uniform(0.85, 1.15, 3)),  # type: ignore[arg-type]
        defocus=float(rng.uniform(0.6, 2.0) if rng.random() < 0.4 else rng.uniform(0, 0.5)),
        motion=float(rng.uniform(2, 9) if rng.random() < 0.3 else 0.0),
        noise=float(rng.uniform(0.5, 9.0)),
        jpeg_quality=int(rng.integers(25, 96) if rng.random() < 0.5 else rng.integers(70, 97)),
        gamma=float(rng.uniform(0.8, 1.25)),
    )


def light_field(cam: Camera, h: int, w: int, t: float = 0.0) -> np.ndarray:
    """Illumination multiplier (h, w) at time ``t`` seconds."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    u, v = xx / w - 0.5, yy / h - 0.5
    r2 = u * u + v * v
    if cam.light == "directional":
        f = 1.0 + cam.light_strength * (cam.light_dir[0] * u + cam.light_dir[1] * v) * 2
    elif cam.light == "ring":
        f = 1.0 + cam.light_strength * np.exp(-r2 / 0.08) - cam.light_strength * 0.3
    else:
        f = np.ones_like(u)
    f = f * (1.0 - cam.vignette * r2 * 2)
    swing = 1.0 + cam.drift * math.sin(2 * math.pi * t / cam.drift_period_s)
    return np.clip(f * cam.gain * swing, 0.05, 3.0).astype(np.float32)


def motion_kernel(length: float) -> np.ndarray | None:
    """Horizontal box kernel (the belt moves along x); None when under a pixel."""
    n = round(length)
    if n < 2:
        return None
    k = np.zeros((n, n), np.float32)
    k[n // 2] = 1.0 / n
    return k


def develop(rng: np.random.Generator, img: np.ndarray, cam: Camera, light: np.ndarray,
            motion: float | None = None, noise: np.ndarray | None = None) -> np.ndarray:
    """Float BGR scene radiance -> uint8 BGR as the camera records it (before compression)."""
    out = img * light[..., None] * np.asarray(cam.white_balance, np.float32)[None, None, :]
    if cam.defocus > 0.3:
        out = cv2.GaussianBlur(out, (0, 0), cam.defocus)
    k = motion_kernel(cam.motion if motion is None else motion)
    if k is not None:
        out = cv2.filter2D(out, -1, k)
    if cam.mono:
        g = out @ np.array([0.114, 0.587, 0.299], np.float32)
        out = np.repeat(g[..., None], 3, axis=2)
    out += noise if noise is not None else rng.normal(0, cam.noise, out.shape).astype(np.float32)
    out = np.clip(out, 0, 255)
    if abs(cam.gamma - 1.0) > 0.02:
        out = 255.0 * (out / 255.0) ** cam.gamma
    return out.astype(np.uint8)


def compress(img: np.ndarray, quality: int) -> np.ndarray:
    """JPEG round trip: the blocking and ringing of a compressed stream."""
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    out = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    if out is None:
        raise RuntimeError("JPEG decoding failed")
    return np.asarray(out)
