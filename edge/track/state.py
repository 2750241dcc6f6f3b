"""The tracker's state records: per-track, per-frame, and the counters it exposes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

from edge.track.events import TrackEvent
from edge.track.iou import FloatArray

RleMask = dict[str, list[int]]


class DetectionsLike(Protocol):
    """What the tracker needs from a detector result (``edge.detect.types.Detections``)."""

    @property
    def xyxy(self) -> npt.NDArray[np.floating]: ...  # (N, 4) pixels

    @property
    def score(self) -> npt.NDArray[np.floating]: ...  # (N,)

    @property
    def class_id(self) -> npt.NDArray[np.integer]: ...  # (N,)


@dataclass(slots=True)
class TrackerStats:
    """Monotonic counters for the metrics endpoint."""

    frames: int = 0
    detections: int = 0
    ignored_low_score: int = 0
    ignored_small: int = 0
    ignored_zone: int = 0
    ignored_non_defect: int = 0  # e.g. `part` boxes: the part itself, not a defect
    tracks_started: int = 0
    tracks_silent_end: int = 0
    events_new: int = 0
    events_update: int = 0
    events_end: int = 0
    refinements_dropped: int = 0  # attached to a track that had already ended
    refinements_overflow: int = 0  # oldest pending refinement pushed out (refiner thread writes)
    seeds_dropped: int = 0  # confident detections not tracked because max_tracks was reached
    merged: int = 0  # detections folded into an overlapping one of another class


@dataclass(slots=True)
class Track:
    track_id: int
    class_id: int
    box: FloatArray  # (4,) last measured
    velocity: FloatArray  # (2,) px per frame step
    velocity_known: bool  # measured, or seeded from the belt prior (else zero and unknown)
    last_seq: int
    last_ts: float
    first_seq: int
    first_ts: float
    best_score: float
    votes: list[float]  # summed confident score per class; argmax is the class until `new`
    hits: int = 1
    missed: int = 0
    announced: bool = False
    reported: float = 0.0  # confidence carried by the last new/update event
    mask_rle: RleMask | None = None


@dataclass(slots=True)
class Refinement:
    track_id: int
    mask_rle: RleMask
    confidence: float | None


@dataclass(slots=True)
class FrameDets:
    """This frame's detections that passed the filters, and where each came from."""

    boxes: FloatArray  # (N, 4)
    scores: FloatArray  # (N,)
    classes: npt.NDArray[np.intp]  # (N,)
    high: npt.NDArray[np.bool_]  # (N,) score >= its class threshold: may confirm and seed
    kept: npt.NDArray[np.intp]  # (N,) index in the detector's output


@dataclass(slots=True)
class TrackArrays:
    """The live tracks' state as arrays, in the order of the tracker's list, for one frame."""

    boxes: FloatArray  # (T, 4) last measured
    velocity: FloatArray  # (T, 2)
    steps: FloatArray  # (T,) frame steps since last seen
    known: npt.NDArray[np.bool_]  # (T,) velocity measured or seeded


@dataclass
class FrameCtx:
    seq: int
    ts: float
    width: int
    height: int
    events: list[TrackEvent] = field(default_factory=list)


def argmax(values: list[float]) -> int:
    return max(range(len(values)), key=values.__getitem__)


def touches_border(boxes: FloatArray, width: int, height: int) -> npt.NDArray[np.bool_]:
    result: npt.NDArray[np.bool_] = ((boxes[:, 0] <= 0.5) | (boxes[:, 1] <= 0.5)
                                     | (boxes[:, 2] >= width - 0.5)
                                     | (boxes[:, 3] >= height - 0.5))
    return result


def check_frame_size(frame_size: tuple[int, int]) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in frame_size)
    except (TypeError, ValueError):
        raise ValueError(f"frame_size must be (width, height), got {frame_size!r}") from None
    if width <= 0 or height <= 0:
        raise ValueError(f"frame_size must be positive (width, height), got {frame_size!r}")
    return width, height
