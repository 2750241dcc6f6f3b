"""One camera's defect tracker: detections in, ``new`` / ``update`` / ``end`` events out.

Lifecycle of a track (one physical defect):

* born from a confident detection (score >= its class threshold) that matched no track;
* ``new`` once it has been matched ``min_frames`` times by confident detections — exactly once;
  a track that ends before that ends silently (a flicker is not a defect);
* ``update`` when its best score rises by ``update_min_gain`` over the last reported one, or when
  a refinement (mask) is attached to an announced track;
* ``end`` after more than ``max_missed_frames`` consecutive frames without a match, or at once
  when it is unmatched and its predicted centre has left the frame (the part moved on).

Low-score detections (``low_confidence`` <= score < class threshold) keep a track alive but do not
count towards ``new`` and never start a track. Detections outside the zones or smaller than
``min_box_area_px`` are invisible to the tracker.

``update`` is called from the one pipeline thread of the camera; ``attach_refinement`` may be
called from another thread (the refiner): it only appends to a deque, drained by ``update``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

from edge.track.assign import Gates, associate, cost_matrix
from edge.track.events import EventKind, EventReason, TrackEvent
from edge.track.iou import FloatArray, box_area
from edge.track.motion import (
    centre_outside,
    clip_boxes,
    ema,
    measured_velocities,
    predict_boxes,
)
from edge.track.settings import TrackingSettings
from edge.track.zones import ZoneFilter

RleMask = dict[str, list[int]]
PENDING_REFINEMENTS = 256


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
    tracks_started: int = 0
    tracks_silent_end: int = 0
    events_new: int = 0
    events_update: int = 0
    events_end: int = 0
    refinements_dropped: int = 0  # attached to a track that had already ended
    refinements_overflow: int = 0  # oldest pending refinement pushed out (refiner thread writes)
    seeds_dropped: int = 0  # confident detections not tracked because max_tracks was reached


@dataclass(slots=True)
class _Track:
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
    hits: int = 1
    missed: int = 0
    announced: bool = False
    reported: float = 0.0  # confidence carried by the last new/update event
    mask_rle: RleMask | None = None


@dataclass(slots=True)
class _Refinement:
    track_id: int
    mask_rle: RleMask
    confidence: float | None


@dataclass
class _Frame:
    seq: int
    ts: float
    width: int
    height: int
    events: list[TrackEvent] = field(default_factory=list)


class EventTracker:
    """Per-camera tracker. ``update`` once per processed frame, in frame order."""

    def __init__(self, settings: TrackingSettings, class_names: Sequence[str],
                 first_track_id: int = 1) -> None:
        if not class_names:
            raise ValueError("class_names must list the detector's classes; got none")
        unknown = sorted(set(settings.class_confidence) - set(class_names))
        if unknown:
            raise ValueError(
                f"tracking.class_confidence names unknown class(es) {unknown}; "
                f"the model's classes are {list(class_names)}")
        if first_track_id < 1:
            raise ValueError(f"first_track_id must be >= 1, got {first_track_id}")
        self.settings = settings
        self.class_names = tuple(class_names)
        self._thresholds = np.array(
            [settings.class_confidence.get(n, settings.default_confidence) for n in class_names],
            dtype=np.float64)
        self._zones = ZoneFilter.from_settings(settings.zones)
        self._gates = Gates(min_iou=settings.match_iou, centre_gate=settings.centre_gate,
                            first_match_gate=settings.first_match_gate,
                            max_size_ratio=settings.centre_max_size_ratio)
        self._next_id = first_track_id
        self._tracks: list[_Track] = []
        self._belt: FloatArray | None = None
        # Bounded: a refiner flooding results between two frames loses the oldest, counted.
        self._pending: deque[_Refinement] = deque(maxlen=PENDING_REFINEMENTS)
        self._size: tuple[int, int] | None = None
        self.stats = TrackerStats()
        # Track id of each input detection of the last update (-1: ignored or unmatched low);
        # lets the annotator label boxes without a second association.
        self.last_track_ids: npt.NDArray[np.int64] = np.zeros(0, dtype=np.int64)

    # -- public API ---------------------------------------------------------------------------
    @property
    def next_track_id(self) -> int:
        return self._next_id

    @property
    def active_tracks(self) -> int:
        return len(self._tracks)

    def attach_refinement(self, track_id: int, mask_rle: RleMask,
                          confidence: float | None = None) -> None:
        """Queue a refiner result; the next ``update`` emits it (or drops it if the track ended)."""
        if len(self._pending) == PENDING_REFINEMENTS:
            self.stats.refinements_overflow += 1  # only this (refiner) thread writes it
        self._pending.append(_Refinement(track_id, mask_rle, confidence))

    def update(self, detections: DetectionsLike, frame_seq: int, ts: float,
               frame_size: tuple[int, int]) -> list[TrackEvent]:
        """Advance by one frame; returns the events it caused, ``index_in_frame`` 0, 1, ..."""
        width, height = _check_size(frame_size)
        frame = _Frame(frame_seq, ts, width, height)
        if self._size is not None and self._size != (width, height):
            # The camera changed resolution: old boxes mean nothing in the new frame. Their
            # `end` events still describe the old frame, so they carry its size.
            self._end_all(_Frame(frame_seq, ts, *self._size, events=frame.events), "flush")
        self._size = (width, height)
        self.stats.frames += 1

        boxes, scores, classes, kept = self._filter(detections, width, height)
        high = scores >= self._thresholds[classes]
        self._drain_refinements(frame)
        self._step(frame, boxes, scores, classes, high, kept)
        for i, ev in enumerate(frame.events):
            ev.index_in_frame = i
        return frame.events

    def flush(self, frame_seq: int, ts: float) -> list[TrackEvent]:
        """End every track now (source finished, shutdown); announced ones emit ``end``."""
        w, h = self._size if self._size is not None else (0, 0)
        frame = _Frame(frame_seq, ts, w, h)
        self._drain_refinements(frame)
        self._end_all(frame, "flush")
        for i, ev in enumerate(frame.events):
            ev.index_in_frame = i
        return frame.events

    # -- steps ----------------------------------------------------------------------------------
    def _filter(self, det: DetectionsLike, width: int, height: int
                ) -> tuple[FloatArray, FloatArray, npt.NDArray[np.intp], npt.NDArray[np.intp]]:
        boxes = np.asarray(det.xyxy, dtype=np.float64)
        scores = np.asarray(det.score, dtype=np.float64)
        classes = np.asarray(det.class_id).astype(np.intp, copy=False)
        n = len(scores)
        if boxes.size == 0 and n == 0:
            boxes = boxes.reshape(0, 4)
        if boxes.shape != (n, 4) or classes.shape != (n,) or scores.ndim != 1:
            raise ValueError(
                f"detections must be xyxy (N, 4), score (N,), class_id (N,); got "
                f"{boxes.shape}, {scores.shape}, {classes.shape}")
        if n and (classes.min() < 0 or classes.max() >= len(self.class_names)):
            raise ValueError(
                f"detection class id out of range 0..{len(self.class_names) - 1}: "
                f"{sorted(set(classes.tolist()))}")
        self.stats.detections += n
        self.last_track_ids = np.full(n, -1, dtype=np.int64)
        ok = scores >= self.settings.low_confidence
        self.stats.ignored_low_score += n - int(ok.sum())
        if self.settings.min_box_area_px > 0.0:
            big = box_area(boxes) >= self.settings.min_box_area_px
            self.stats.ignored_small += int((ok & ~big).sum())
            ok &= big
        if not self._zones.whole_frame and n:
            centres = np.empty((n, 2))
            centres[:, 0] = (boxes[:, 0] + boxes[:, 2]) * (0.5 / width)
            centres[:, 1] = (boxes[:, 1] + boxes[:, 3]) * (0.5 / height)
            inside = self._zones.allowed(centres)
            self.stats.ignored_zone += int((ok & ~inside).sum())
            ok &= inside
        kept = np.flatnonzero(ok)
        return boxes[kept], scores[kept], classes[kept], kept

    def _step(self, frame: _Frame, boxes: FloatArray, scores: FloatArray,
              classes: npt.NDArray[np.intp], high: npt.NDArray[np.bool_],
              kept: npt.NDArray[np.intp]) -> None:
        tracks = self._tracks
        if not tracks:
            for di in np.flatnonzero(high).tolist():
                self._start(frame, boxes[di], float(scores[di]), int(classes[di]), int(kept[di]))
            return
        t_boxes = np.array([t.box for t in tracks])
        t_vel = np.array([t.velocity for t in tracks])
        steps = np.array([max(1, frame.seq - t.last_seq) for t in tracks], dtype=np.float64)
        t_classes = np.array([t.class_id for t in tracks], dtype=np.intp)
        known = np.array([t.velocity_known for t in tracks])
        predicted = predict_boxes(t_boxes, t_vel, steps)
        cost = cost_matrix(clip_boxes(predicted, frame.width, frame.height), t_classes, boxes,
                           classes, self._gates, known)
        m = associate(cost, high)
        if len(m.track_idx):
            self._apply_matches(frame, m.track_idx, m.det_idx, t_boxes, t_vel, steps, known,
                                boxes, scores, high, kept)
        if len(m.unmatched_tracks):
            gone = centre_outside(predicted[m.unmatched_tracks], frame.width, frame.height)
            ended: set[int] = set()
            for ti, left in zip(m.unmatched_tracks.tolist(), gone.tolist(), strict=True):
                t = tracks[ti]
                t.missed += 1
                if left or t.missed > self.settings.max_missed_frames:
                    ended.add(ti)
                    self._end(frame, t, "left_frame" if left else "missed")
            if ended:
                self._tracks = [t for i, t in enumerate(tracks) if i not in ended]
        for di in m.unmatched_dets.tolist():
            self._start(frame, boxes[di], float(scores[di]), int(classes[di]), int(kept[di]))

    def _apply_matches(self, frame: _Frame, ti: npt.NDArray[np.intp], di: npt.NDArray[np.intp],
                       t_boxes: FloatArray, t_vel: FloatArray, steps: FloatArray,
                       t_known: npt.NDArray[np.bool_], boxes: FloatArray, scores: FloatArray,
                       high: npt.NDArray[np.bool_], kept: npt.NDArray[np.intp]) -> None:
        s = self.settings
        tracks = self._tracks
        new_boxes = boxes[di]
        old_vel = t_vel[ti]
        measured = measured_velocities(t_boxes[ti], new_boxes, steps[ti])
        # A box cut by the frame edge moves its centre at a fraction of the belt speed: no
        # velocity measurement from it.
        interior = ~(_touches_border(t_boxes[ti], frame.width, frame.height)
                     | _touches_border(new_boxes, frame.width, frame.height))
        known = t_known[ti]
        new_vel = np.where(known[:, None], ema(old_vel, measured, s.velocity_smoothing), measured)
        new_vel = np.where(interior[:, None], new_vel, old_vel)
        if s.belt_prior and interior.any():
            mean = measured[interior].mean(axis=0)
            self._belt = mean if self._belt is None else ema(self._belt, mean,
                                                              s.velocity_smoothing)
        min_frames, gain = s.min_frames, s.update_min_gain
        for k, (t_i, d_i, score, is_high, inner) in enumerate(zip(
                ti.tolist(), di.tolist(), scores[di].tolist(), high[di].tolist(),
                interior.tolist(), strict=True)):
            t = tracks[t_i]
            self.last_track_ids[kept[d_i]] = t.track_id
            t.velocity = new_vel[k]
            t.velocity_known = t.velocity_known or inner
            t.box = new_boxes[k]
            t.last_seq, t.last_ts, t.missed = frame.seq, frame.ts, 0
            if not is_high:
                continue
            t.hits += 1
            if score > t.best_score:
                t.best_score = score
            if not t.announced:
                if t.hits >= min_frames:
                    self._announce(frame, t)
            elif t.best_score - t.reported >= gain and t.best_score > t.reported:
                t.reported = t.best_score
                self._emit(frame, t, "update", "score")

    def _start(self, frame: _Frame, box: FloatArray, score: float, class_id: int,
               input_index: int) -> None:
        if len(self._tracks) >= self.settings.max_tracks:
            self.stats.seeds_dropped += 1
            return
        belt = self._belt if self.settings.belt_prior and self._belt is not None else None
        t = _Track(
            track_id=self._next_id, class_id=class_id, box=box,
            velocity=belt.copy() if belt is not None else np.zeros(2),
            velocity_known=belt is not None, last_seq=frame.seq, last_ts=frame.ts,
            first_seq=frame.seq, first_ts=frame.ts, best_score=score)
        self._next_id += 1
        self.stats.tracks_started += 1
        self._tracks.append(t)
        self.last_track_ids[input_index] = t.track_id
        if self.settings.min_frames <= 1:
            self._announce(frame, t)

    def _announce(self, frame: _Frame, t: _Track) -> None:
        t.announced = True
        t.reported = t.best_score
        self._emit(frame, t, "new", "confirmed")

    def _end(self, frame: _Frame, t: _Track, reason: EventReason) -> None:
        if t.announced:
            self._emit(frame, t, "end", reason)
        else:
            self.stats.tracks_silent_end += 1

    def _end_all(self, frame: _Frame, reason: EventReason) -> None:
        for t in self._tracks:
            self._end(frame, t, reason)
        self._tracks = []

    def _drain_refinements(self, frame: _Frame) -> None:
        if not self._pending:
            return
        by_id = {t.track_id: t for t in self._tracks}
        refined: dict[int, _Track] = {}  # several results for one track: one event, the last
        while self._pending:
            r = self._pending.popleft()
            t = by_id.get(r.track_id)
            if t is None:
                self.stats.refinements_dropped += 1
                continue
            t.mask_rle = r.mask_rle
            if r.confidence is not None:
                t.best_score = max(t.best_score, r.confidence)
            refined[t.track_id] = t
        for t in refined.values():
            if t.announced:  # an unannounced track carries the mask in its `new`
                t.reported = t.best_score
                self._emit(frame, t, "update", "refinement")

    def _emit(self, frame: _Frame, t: _Track, kind: EventKind, reason: EventReason) -> None:
        x1, y1, x2, y2 = (float(v) for v in t.box)
        zone = None
        if self._zones.include and frame.width and frame.height:
            zone = self._zones.zone_of((x1 + x2) * 0.5 / frame.width,
                                       (y1 + y2) * 0.5 / frame.height)
        frame.events.append(TrackEvent(
            track_id=t.track_id, kind=kind, reason=reason, class_id=t.class_id,
            class_name=self.class_names[t.class_id],
            confidence=t.best_score, box=(x1, y1, x2, y2), box_seq=t.last_seq,
            frame_width=frame.width, frame_height=frame.height, frame_seq=frame.seq,
            ts=frame.ts, index_in_frame=0, first_seq=t.first_seq, first_ts=t.first_ts,
            frames_seen=t.hits, zone=zone, mask_rle=t.mask_rle))
        if kind == "new":
            self.stats.events_new += 1
        elif kind == "update":
            self.stats.events_update += 1
        else:
            self.stats.events_end += 1


def _touches_border(boxes: FloatArray, width: int, height: int) -> npt.NDArray[np.bool_]:
    result: npt.NDArray[np.bool_] = ((boxes[:, 0] <= 0.5) | (boxes[:, 1] <= 0.5)
                                     | (boxes[:, 2] >= width - 0.5)
                                     | (boxes[:, 3] >= height - 0.5))
    return result


def _check_size(frame_size: tuple[int, int]) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in frame_size)
    except (TypeError, ValueError):
        raise ValueError(f"frame_size must be (width, height), got {frame_size!r}") from None
    if width <= 0 or height <= 0:
        raise ValueError(f"frame_size must be positive (width, height), got {frame_size!r}")
    return width, height
