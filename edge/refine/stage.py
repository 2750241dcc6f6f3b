"""The refinement stage as the edge composes it: one queue, its worker threads, and a small
per-camera part on the hot path.

:meth:`CameraRefiner.offer` runs on the inference thread inside ``CameraPipeline.process``: it
picks the detections worth refining (``flagging``), cuts each crop into a job-owned array and
pushes it — a few microseconds per crop, no waiting, no logging. Everything else (model, paste,
measure, event) happens on the refiner threads (``worker``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from edge.detect.types import Detections
from edge.metrics import EdgeMetrics
from edge.refine.flagging import Flagger
from edge.refine.measure import Calibration
from edge.refine.queue import NewestFirstQueue, RefineJob
from edge.refine.settings import RefineSettings, SizeRule
from edge.refine.worker import RefinerLike, RefineWorker
from edge.sources.frame import Frame
from edge.track.wire import WireContext
from lineinspect.contract import DefectEvent, Uuid7Generator
from lineinspect.crops import Pasted, crop_image, crop_window

# Called on a refiner thread with (track id, mask on the frame, box it was refined at).
MaskHook = Callable[[int, Pasted, tuple[float, float, float, float]], None]


class Emitter(Protocol):
    """The camera's sinks (``edge.pipeline.sinks.FanOut``): thread-safe, never blocks."""

    def emit(self, event: DefectEvent) -> None: ...


class DropStats(Protocol):
    """The stats publisher's counters (``StatsCounters``): thread-safe."""

    def drop(self, stage: str, n: int = 1) -> None: ...

    def latency(self, stage: str, ms: float) -> None: ...


@dataclass
class RefineCounters:
    queued: int = 0
    dropped: int = 0  # oldest crops pushed out of a full queue
    refined: int = 0  # updates emitted
    empty: int = 0  # the model found no mask
    mask_too_large: int = 0  # updates sent without their mask
    error: int = 0


@dataclass
class CameraRefineContext:
    """What a job needs of its camera on the refiner thread; shared by that camera's jobs."""

    wire: WireContext
    calibration: Calibration
    rules: dict[str, SizeRule]
    sinks: Emitter
    metrics: EdgeMetrics
    stats: DropStats | None = None
    on_mask: MaskHook | None = None
    ids: Uuid7Generator = field(default_factory=Uuid7Generator)
    counters: RefineCounters = field(default_factory=RefineCounters)

    def __post_init__(self) -> None:
        # labels() per call looks the child up; resolve the few this camera uses once.
        m, cam = self.metrics, self.wire.camera
        self._outcomes = {o: m.refinements.labels(cam, o) for o in ("refined", "empty", "error")}
        self._dropped = {r: m.refine_dropped.labels(cam, r) for r in ("queue", "mask_too_large")}
        self._latency = {s: m.refine_latency.labels(cam, s) for s in ("queue", "model")}

    def count(self, outcome: str) -> None:
        """Count one job's outcome: refined, empty, error or mask_too_large."""
        c = self.counters
        setattr(c, outcome, getattr(c, outcome) + 1)
        child = self._dropped.get(outcome) or self._outcomes[outcome]
        child.inc()

    def dropped(self, job: RefineJob) -> None:
        self.counters.dropped += 1
        self._dropped["queue"].inc()
        if self.stats is not None:
            self.stats.drop("refine")

    def observe(self, stage: str, seconds: float) -> None:
        self._latency[stage].observe(seconds)

    def emit(self, event: DefectEvent, track_id: int, pasted: Pasted, total_ms: float) -> None:
        self.sinks.emit(event)
        self.count("refined")
        if self.stats is not None:
            self.stats.latency("refine", total_ms)
        if self.on_mask is not None:
            b = event.box
            self.on_mask(track_id, pasted, (b.x1, b.y1, b.x2, b.y2))


class CameraRefiner:
    """The hot-path half for one camera (``CameraPipeline``'s refine hook)."""

    def __init__(self, ctx: CameraRefineContext, flagger: Flagger, queue: NewestFirstQueue,
                 refiner: RefinerLike) -> None:
        self.ctx = ctx
        self.flagger = flagger
        self.queue = queue
        self.size = int(refiner.input_size)
        self.pad = float(refiner.pad)
        self.min_side = float(refiner.min_side)

    def offer(self, frame: Frame, det: Detections, track_ids: np.ndarray,
              events: Sequence[DefectEvent]) -> int:
        """Queue crops of this frame's flagged detections; returns how many. ``events`` are the
        frame's wire events (they announce and end tracks, and fix ``index_in_frame``)."""
        f = self.flagger
        f.observe(events)
        picks = f.select(det, track_ids)
        if not picks:
            return 0
        h, w = frame.image.shape[:2]
        next_index = len(events)
        now = time.monotonic_ns()
        ts = frame.ts_ns / 1e9
        for i, info in picks:
            if next_index >= 1000:  # contract: index_in_frame < 1000
                break
            x1, y1, x2, y2 = (float(v) for v in det.xyxy[i])
            win = crop_window((x1, y1, x2, y2), self.pad, self.min_side)
            crop = np.empty((self.size, self.size, 3), np.uint8)  # the job's own buffer
            crop_image(frame.image, win, self.size, out=crop)
            self.queue.push(RefineJob(
                camera=self.ctx, crop=crop, window=win, frame_size=(w, h),
                box=(x1, y1, x2, y2), track_id=int(track_ids[i]), defect_id=info.defect_id,
                class_name=info.class_name, class_id=info.class_id, zone=info.zone,
                confidence=max(info.confidence, float(det.score[i])), frame_seq=frame.seq,
                ts=ts, index_in_frame=next_index, enqueued_ns=now))
            self.ctx.counters.queued += 1
            next_index += 1
        return next_index - len(events)


def _drop(job: RefineJob) -> None:
    job.camera.dropped(job)


class RefineStage:
    """The queue and its refiner threads (one per refiner); cameras attach with
    :meth:`camera`. ``start`` once, ``close`` drains (idempotent)."""

    def __init__(self, settings: RefineSettings, refiners: Sequence[RefinerLike],
                 metrics: EdgeMetrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self.queue = NewestFirstQueue(settings.queue_size, on_drop=_drop)
        self.worker = RefineWorker(self.queue, refiners)
        self.cameras: dict[str, CameraRefiner] = {}
        self._started = False
        self._closed = False

    def camera(self, wire: WireContext, calibration: Calibration, sinks: Emitter,
               stats: DropStats | None = None, on_mask: MaskHook | None = None) -> CameraRefiner:
        ctx = CameraRefineContext(wire, calibration, dict(self.settings.severity), sinks,
                                  self.metrics, stats, on_mask)
        cam = CameraRefiner(ctx, Flagger(self.settings), self.queue, self.worker.refiners[0])
        self.cameras[wire.camera] = cam
        return cam

    def start(self) -> RefineStage:
        if not self._started:
            self._started = True
            self.worker.start()
        return self

    def close(self, drain_timeout_s: float = 10.0) -> None:
        """Refuse new crops, refine the queued ones (bounded by ``drain_timeout_s``), stop."""
        if self._closed:
            return
        self._closed = True
        if self._started:
            self.worker.close(drain_timeout_s)
        else:
            self.queue.close()
