"""What the detector returns, and its per-call timings."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class Detections:
    """Detections of one frame, in that frame's pixel coordinates, best score first.

    ``xyxy`` float32 (N, 4); ``score`` float32 (N,); ``class_id`` int32 (N,) indexing the
    model's class names.
    """

    xyxy: np.ndarray
    score: np.ndarray
    class_id: np.ndarray

    def __len__(self) -> int:
        return int(self.score.shape[0])

    @staticmethod
    def empty() -> Detections:
        return Detections(np.empty((0, 4), np.float32), np.empty(0, np.float32),
                          np.empty(0, np.int32))


@dataclass(slots=True)
class Timings:
    """Milliseconds spent in the last call, overwritten in place (no per-call objects)."""

    pre_ms: float = 0.0
    infer_ms: float = 0.0
    post_ms: float = 0.0
    frames: int = 0

    @property
    def total_ms(self) -> float:
        return self.pre_ms + self.infer_ms + self.post_ms
