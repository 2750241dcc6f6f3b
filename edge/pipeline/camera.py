"""One camera's path after detection: track → wire events → sinks, plus its measurements."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from edge.detect.types import Detections, Timings
from edge.metrics import CameraMetrics
from edge.pipeline.latency import LatencyWindow
from edge.pipeline.sinks import FanOut
from edge.sources.capture import CaptureThread
from edge.sources.frame import Frame
from edge.track.lifecycle import EventTracker
from edge.track.wire import WireConverter
from lineinspect.contract import DefectEvent

# Called with (frame, detections, track id per detection) after each frame; must not block
# (the stream hub keeps the newest only).
FrameHook = Callable[[Frame, Detections, np.ndarray], None]


class RefineHook(Protocol):
    """The refinement stage's hot-path half (``edge.refine.stage.CameraRefiner``): picks this
    frame's detections to refine and queues their crops; must return at once."""

    def offer(self, frame: Frame, det: Detections, track_ids: np.ndarray,
              events: Sequence[DefectEvent]) -> int: ...

class StatsLike(Protocol):
    """The per-camera counters the stats publisher reads (``edge.publish.stats.StatsCounters``)."""

    def frame_inspected(self, n: int = 1) -> None: ...

    def defect(self, class_name: str) -> None: ...

    def latency(self, stage: str, ms: float) -> None: ...

    def drop(self, stage: str, n: int = 1) -> None: ...


FPS_WINDOW_S = 1.0
CAPTURE_STATS_EVERY = 30  # frames between reads of the capture's drop counter


@dataclass(frozen=True, slots=True)
class PipelineHooks:
    """The optional per-camera extras: the viewer's frame hook, the stats publisher's counters
    and the refinement stage."""

    on_frame: FrameHook | None = None
    stats: StatsLike | None = None
    refine: RefineHook | None = None


NO_HOOKS = PipelineHooks()


@dataclass
class CameraCounters:
    """Plain counters the stats publisher reads (one writer at a time: the inference worker
    whose turn it is for this camera)."""

    frames: int = 0
    events: int = 0
    capture_dropped: int = 0
    fps: float = 0.0


class CameraPipeline:
    def __init__(self, camera_id: str, capture: CaptureThread, tracker: EventTracker,
                 converter: WireConverter, sinks: FanOut, metrics: CameraMetrics,
                 hooks: PipelineHooks = NO_HOOKS) -> None:
        self.camera_id = camera_id
        self.capture = capture
        self.tracker = tracker
        self.converter = converter
        self.sinks = sinks
        self.metrics = metrics
        self.on_frame = hooks.on_frame
        self.stats = hooks.stats
        self.refine = hooks.refine
        self.counters = CameraCounters()
        self.frame_latency = LatencyWindow()  # capture → frame fully processed, ms
        self.event_latency = LatencyWindow()  # capture → events handed to the sinks, ms
        self.model_latency = LatencyWindow()  # session.run only, ms
        self._last_seq = -1
        self._fps_t0 = time.monotonic()
        self._fps_n = 0
        self._dropped_seen = 0

    def process(self, frame: Frame, det: Detections, timings: Timings, share: float = 1.0) -> None:
        """Handle one detected frame. ``share`` splits a batch's timings between its frames."""
        m = self.metrics
        self._last_seq = frame.seq
        m.stage["pre"].observe(timings.pre_ms * share / 1000.0)
        m.stage["infer"].observe(timings.infer_ms * share / 1000.0)
        m.stage["post"].observe(timings.post_ms * share / 1000.0)
        self.model_latency.add(timings.infer_ms * share)
        t0 = time.perf_counter_ns()
        events = self.tracker.update(det, frame.seq, frame.ts_ns / 1e9, (frame.width, frame.height))
        m.stage["track"].observe((time.perf_counter_ns() - t0) / 1e9)
        wires: Sequence[DefectEvent] = ()  # most frames have no event: nothing allocated
        if events:
            wires = [self.converter.convert(ev) for ev in events]
            for ev, wire in zip(events, wires, strict=True):
                self.sinks.emit(wire)
                m.event(ev.kind, ev.class_name)
                if ev.kind == "new" and self.stats is not None:
                    self.stats.defect(ev.class_name)
            self.counters.events += len(events)
            lat_ms = (time.monotonic_ns() - frame.mono_ns) / 1e6
            m.event_latency.observe(lat_ms / 1000.0)
            self.event_latency.add(lat_ms)
        if self.refine is not None:  # crops only; the model runs on the refiner's threads
            self.refine.offer(frame, det, self.tracker.last_track_ids, wires)
        if self.on_frame is not None:
            self.on_frame(frame, det, self.tracker.last_track_ids)
        done_ms = (time.monotonic_ns() - frame.mono_ns) / 1e6
        m.stage["frame"].observe(done_ms / 1000.0)
        self.frame_latency.add(done_ms)
        m.frames.inc()
        self.counters.frames += 1
        st = self.stats
        if st is not None:
            st.frame_inspected()
            st.latency("infer", timings.infer_ms * share)
            st.latency("frame", done_ms)
        self._tick()

    def _tick(self) -> None:
        self._fps_n += 1
        now = time.monotonic()
        if now - self._fps_t0 >= FPS_WINDOW_S:
            self.counters.fps = self._fps_n / (now - self._fps_t0)
            self.metrics.fps.set(self.counters.fps)
            self._fps_t0, self._fps_n = now, 0
        if self.counters.frames % CAPTURE_STATS_EVERY == 0:
            self._sync_drops()

    def _sync_drops(self) -> None:
        dropped = self.capture.stats().dropped
        if dropped > self._dropped_seen:
            self.metrics.dropped_capture.inc(dropped - self._dropped_seen)
            if self.stats is not None:
                self.stats.drop("capture", dropped - self._dropped_seen)
            self._dropped_seen = dropped
        self.counters.capture_dropped = dropped

    def finish(self, frame_seq: int | None = None) -> None:
        """End every open defect (source ended or shutdown): emits their ``end`` events."""
        seq = frame_seq if frame_seq is not None else max(self._last_seq, 0)
        for ev in self.tracker.flush(seq, time.time()):
            self.sinks.emit(self.converter.convert(ev))
            self.metrics.event(ev.kind, ev.class_name)
        self._sync_drops()
