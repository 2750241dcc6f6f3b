"""Include/exclude zones: which detection centres the tracker may look at.

Polygons are in normalised frame coordinates (0..1), so one configuration fits every resolution
the camera is switched to. A point exactly on a polygon edge may fall either way (even-odd rule).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from edge.track.iou import FloatArray
from edge.track.settings import ZoneSettings

BoolArray = npt.NDArray[np.bool_]


def points_in_polygon(points: FloatArray, polygon: FloatArray) -> BoolArray:
    """Even-odd ray casting of every point (N, 2) against one polygon (K, 2) → (N,) bool."""
    if points.size == 0:
        return np.zeros(0, dtype=bool)
    x = points[:, 0:1]
    y = points[:, 1:2]
    x1, y1 = polygon[:, 0], polygon[:, 1]
    x2, y2 = np.roll(x1, -1), np.roll(y1, -1)
    straddles = (y1 > y) != (y2 > y)
    # Where the edge straddles the ray's height y1 != y2, so the division is safe; elsewhere the
    # value is masked out by ``straddles``.
    dy = np.where(y2 == y1, 1.0, y2 - y1)
    x_cross = x1 + (y - y1) * (x2 - x1) / dy
    crossings = straddles & (x < x_cross)
    result: BoolArray = (np.count_nonzero(crossings, axis=1) % 2) == 1
    return result


@dataclass(frozen=True, slots=True)
class ZoneFilter:
    """Pre-converted polygons; ``allowed`` answers for many normalised centres at once."""

    include: tuple[FloatArray, ...]
    exclude: tuple[FloatArray, ...]
    include_names: tuple[str, ...] = ()

    @classmethod
    def from_settings(cls, zones: Sequence[ZoneSettings]) -> ZoneFilter:
        inc = [z for z in zones if z.mode == "include"]
        return cls(
            include=tuple(np.asarray(z.polygon, dtype=np.float64) for z in inc),
            exclude=tuple(np.asarray(z.polygon, dtype=np.float64)
                          for z in zones if z.mode == "exclude"),
            include_names=tuple(z.name for z in inc),
        )

    @property
    def whole_frame(self) -> bool:
        return not self.include and not self.exclude

    def allowed(self, centres_norm: FloatArray) -> BoolArray:
        """Inside at least one include zone (or there are none) and inside no exclude zone."""
        n = len(centres_norm)
        if self.include:
            ok = np.zeros(n, dtype=bool)
            for poly in self.include:
                ok |= points_in_polygon(centres_norm, poly)
        else:
            ok = np.ones(n, dtype=bool)
        for poly in self.exclude:
            ok &= ~points_in_polygon(centres_norm, poly)
        return ok

    def zone_of(self, x_norm: float, y_norm: float) -> str | None:
        """Name of the first include zone holding the point (the event's ``zone``), or None."""
        point = np.array([[x_norm, y_norm]])
        for name, poly in zip(self.include_names, self.include, strict=True):
            if points_in_polygon(point, poly)[0]:
                return name
        return None
