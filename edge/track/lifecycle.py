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

Class: detectors hesitate between look-alike classes (scratch / crack), flipping from frame to
frame or reporting both boxes at once. Boxes of different classes overlapping by ``merge_iou``
are folded into the best one; a track may continue with a detection of another class (at a cost,
so same-class wins ties); its class is the score-weighted vote of its detections until ``new``,
then fixed. ``match_across_classes=False, merge_iou=0`` gives the strict same-class tracker.

``update`` is called from the one pipeline thread of the camera; ``attach_refinement`` may be
called from another thread (the refiner): it only appends to a deque, drained by ``update``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from edge.track.assign import Gates, associate, cost_matrix, merge_across_classes
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
from edge.track.state import (
    DetectionsLike,
    FrameCtx,
    FrameDets,
    Refinement,
    RleMask,
    Track,
    TrackArrays,
    TrackerStats,
    argmax,
    check_frame_size,
    touches_border,
)
from edge.track.zones import ZoneFilter

__all__ = ["DetectionsLike", "EventTracker", "TrackerStats"]

PENDING_REFINEMENTS = 256
UNCONFIRMED_PENALTY = 0.2  # added to a not-yet-announced track's costs (INVALID stays invalid)


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
        non_defect = set(settings.non_defect_classes)
        self._is_defect = np.array([n not in non_defect for n in class_names], dtype=bool)
        if not self._is_defect.any():
            raise ValueError(f"every model class {list(class_names)} is listed in "
                             f"tracking.non_defect_classes: nothing left to track")
        self._gates = Gates(min_iou=settings.match_iou, centre_gate=settings.centre_gate,
                            first_match_gate=settings.first_match_gate,
                            max_size_ratio=settings.centre_max_size_ratio,
                            cross_class=settings.match_across_classes)
        self._next_id = first_track_id
        self._tracks: list[Track] = []
        self._belt: FloatArray | None = None
        # Bounded: a refiner flooding results between two frames loses the oldest, counted.
        self._pending: deque[Refinement] = deque(maxlen=PENDING_REFINEMENTS)
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
        self._pending.append(Refinement(track_id, mask_rle, confidence))

    def update(self, detections: DetectionsLike, frame_seq: int, ts: float,
               frame_size: tuple[int, int]) -> list[TrackEvent]:
        """Advance by one frame; returns the events it caused, ``index_in_frame`` 0, 1, ..."""
        width, height = check_frame_size(frame_size)
        frame = FrameCtx(frame_seq, ts, width, height)
        if self._size is not None and self._size != (width, height):
            # The camera changed resolution: old boxes mean nothing in the new frame. Their
            # `end` events still describe the old frame, so they carry its size.
            self._end_all(FrameCtx(frame_seq, ts, *self._size, events=frame.events), "flush")
        self._size = (width, height)
        self.stats.frames += 1

        dets, absorbed = self._merge(self._filter(detections, width, height))
        self._drain_refinements(frame)
        self._step(frame, dets)
        if absorbed:
            self._vote(absorbed)
        for i, ev in enumerate(frame.events):
            ev.index_in_frame = i
        return frame.events

    def flush(self, frame_seq: int, ts: float) -> list[TrackEvent]:
        """End every track now (source finished, shutdown); announced ones emit ``end``."""
        w, h = self._size if self._size is not None else (0, 0)
        frame = FrameCtx(frame_seq, ts, w, h)
        self._drain_refinements(frame)
        self._end_all(frame, "flush")
        for i, ev in enumerate(frame.events):
            ev.index_in_frame = i
        return frame.events

    # -- steps ----------------------------------------------------------------------------------
    def _filter(self, det: DetectionsLike, width: int, height: int) -> FrameDets:
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
        defect = self._is_defect[classes]
        self.stats.ignored_non_defect += n - int(defect.sum())
        ok = scores >= self.settings.low_confidence
        self.stats.ignored_low_score += int((defect & ~ok).sum())
        ok &= defect
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
        classes = classes[kept]
        scores = scores[kept]
        return FrameDets(boxes[kept], scores, classes, scores >= self._thresholds[classes], kept)

    def _step(self, frame: FrameCtx, d: FrameDets) -> None:
        tracks = self._tracks
        if not tracks:
            for di in np.flatnonzero(d.high).tolist():
                self._start(frame, d, di)
            return
        st = TrackArrays(
            boxes=np.array([t.box for t in tracks]),
            velocity=np.array([t.velocity for t in tracks]),
            steps=np.array([max(1, frame.seq - t.last_seq) for t in tracks], dtype=np.float64),
            known=np.array([t.velocity_known for t in tracks]),
        )
        t_classes = np.array([t.class_id for t in tracks], dtype=np.intp)
        predicted = predict_boxes(st.boxes, st.velocity, st.steps)
        cost = cost_matrix(clip_boxes(predicted, frame.width, frame.height), t_classes, d.boxes,
                           d.classes, self._gates, st.known)
        # Confirmed tracks first (ByteTrack matches unconfirmed ones last): a young track next
        # to an announced one, born of a stray box, must not take the defect's detections.
        young = np.array([not t.announced for t in tracks])
        if young.any():
            cost[young] += UNCONFIRMED_PENALTY
        m = associate(cost, d.high)
        if len(m.track_idx):
            self._apply_matches(frame, tracks, st, m.track_idx, m.det_idx, d)
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
            self._start(frame, d, di)

    def _merge(self, d: FrameDets) -> tuple[FrameDets, list[tuple[int, int, int, float]]]:
        """Fold other-class duplicates into the best box (see ``merge_across_classes``).
        Returns the detections left and, per absorbed one, (its input index, the input index
        of its owner, its class, its score if confident else 0) for the votes."""
        if self.settings.merge_iou <= 0.0 or len(d.scores) < 2:
            return d, []
        owner = merge_across_classes(d.boxes, d.scores, d.classes, self.settings.merge_iou,
                                     self._gates.min_size_px)
        gone = owner >= 0
        if not gone.any():
            return d, []
        absorbed = [(int(d.kept[j]), int(d.kept[owner[j]]), int(d.classes[j]),
                     float(d.scores[j]) if d.high[j] else 0.0) for j in np.flatnonzero(gone)]
        self.stats.merged += len(absorbed)
        stay = ~gone
        return FrameDets(d.boxes[stay], d.scores[stay], d.classes[stay], d.high[stay],
                     d.kept[stay]), absorbed

    def _vote(self, absorbed: list[tuple[int, int, int, float]]) -> None:
        """Absorbed detections label and vote for the track their owner went to."""
        by_id = {t.track_id: t for t in self._tracks}
        for j, owner, class_id, score in absorbed:
            track_id = int(self.last_track_ids[owner])
            t = by_id.get(track_id)
            if t is None:
                continue
            self.last_track_ids[j] = track_id
            if score > 0.0 and not t.announced:
                t.votes[class_id] += score
                t.class_id = argmax(t.votes)

    def _apply_matches(self, frame: FrameCtx, tracks: list[Track], st: TrackArrays,
                       ti: npt.NDArray[np.intp], di: npt.NDArray[np.intp], d: FrameDets) -> None:
        s = self.settings
        new_boxes = d.boxes[di]
        old_vel = st.velocity[ti]
        measured = measured_velocities(st.boxes[ti], new_boxes, st.steps[ti])
        # A box cut by the frame edge moves its centre at a fraction of the belt speed: no
        # velocity measurement from it.
        interior = ~(touches_border(st.boxes[ti], frame.width, frame.height)
                     | touches_border(new_boxes, frame.width, frame.height))
        new_vel = np.where(st.known[ti][:, None], ema(old_vel, measured, s.velocity_smoothing),
                           measured)
        new_vel = np.where(interior[:, None], new_vel, old_vel)
        if s.belt_prior and interior.any():
            mean = measured[interior].mean(axis=0)
            self._belt = mean if self._belt is None else ema(self._belt, mean,
                                                              s.velocity_smoothing)
        min_frames, gain = s.min_frames, s.update_min_gain
        for k, (t_i, d_i, score, c, is_high, inner) in enumerate(zip(
                ti.tolist(), di.tolist(), d.scores[di].tolist(), d.classes[di].tolist(),
                d.high[di].tolist(), interior.tolist(), strict=True)):
            t = tracks[t_i]
            self.last_track_ids[d.kept[d_i]] = t.track_id
            t.velocity = new_vel[k]
            t.velocity_known = t.velocity_known or inner
            t.box = new_boxes[k]
            t.last_seq, t.last_ts, t.missed = frame.seq, frame.ts, 0
            if not is_high:
                continue
            t.hits += 1
            t.votes[c] += score
            if c != t.class_id and not t.announced:
                t.class_id = argmax(t.votes)
            if score > t.best_score:
                t.best_score = score
            if not t.announced:
                if t.hits >= min_frames:
                    self._announce(frame, t)
            elif t.best_score - t.reported >= gain and t.best_score > t.reported:
                t.reported = t.best_score
                self._emit(frame, t, "update", "score")

    def _start(self, frame: FrameCtx, d: FrameDets, di: int) -> None:
        if len(self._tracks) >= self.settings.max_tracks:
            self.stats.seeds_dropped += 1
            return
        belt = self._belt if self.settings.belt_prior and self._belt is not None else None
        class_id, score = int(d.classes[di]), float(d.scores[di])
        t = Track(
            track_id=self._next_id, class_id=class_id, box=d.boxes[di],
            velocity=belt.copy() if belt is not None else np.zeros(2),
            velocity_known=belt is not None, last_seq=frame.seq, last_ts=frame.ts,
            first_seq=frame.seq, first_ts=frame.ts, best_score=score,
            votes=[0.0] * len(self.class_names))
        t.votes[class_id] = score
        self._next_id += 1
        self.stats.tracks_started += 1
        self._tracks.append(t)
        self.last_track_ids[d.kept[di]] = t.track_id
        if self.settings.min_frames <= 1:
            self._announce(frame, t)

    def _announce(self, frame: FrameCtx, t: Track) -> None:
        t.announced = True
        t.reported = t.best_score
        self._emit(frame, t, "new", "confirmed")

    def _end(self, frame: FrameCtx, t: Track, reason: EventReason) -> None:
        if t.announced:
            self._emit(frame, t, "end", reason)
        else:
            self.stats.tracks_silent_end += 1

    def _end_all(self, frame: FrameCtx, reason: EventReason) -> None:
        for t in self._tracks:
            self._end(frame, t, reason)
        self._tracks = []

    def _drain_refinements(self, frame: FrameCtx) -> None:
        if not self._pending:
            return
        by_id = {t.track_id: t for t in self._tracks}
        refined: dict[int, Track] = {}  # several results for one track: one event, the last
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

    def _emit(self, frame: FrameCtx, t: Track, kind: EventKind, reason: EventReason) -> None:
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
