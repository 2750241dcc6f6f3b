"""A stand-in for the agent's camera pipeline, for live-view tests: real parts, wired the way the
agent wires them (synthetic conveyor -> shipped ONNX detector -> event tracker -> wire events),
feeding the FrameHub and the EventFeed through their public interfaces.

Named a stand-in because the agent's own pipeline (capture threads, MQTT publishing, alarms) is
another component; this one exists so the stream and the viewer can be tested against real
detections and real events now. Frames of a conveyor clip are rendered once up front and
replayed at the camera rate, so the rendering cost does not compete with the detector.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from edge.api.feed import EventFeed, LiveStats
from edge.detect.detector import Detector
from edge.stream.hub import FrameHub, Overlay
from edge.track.lifecycle import EventTracker
from edge.track.settings import SeveritySettings, TrackingSettings
from edge.track.wire import WireContext, WireConverter
from lineinspect.contract import Alarm, ModelRef, format_ts
from lineinspect.render.video import ConveyorScene


def render_clip(seed: int, start: int, count: int, step: int = 1, width: int = 640,
                height: int = 480, fps: float = 15.0) -> list[np.ndarray]:
    scene = ConveyorScene(seed=seed, width=width, height=height, fps=fps)
    return [scene.render(start + i * step)[0] for i in range(count)]


@dataclass
class StandInStats:
    frames: int = 0
    events: int = 0
    detections: int = 0
    # Time of each hub.publish: the stream's cost to the pipeline. Single calls can stall on
    # the OS scheduler or the GIL on a loaded box, so tests look at the median.
    publish_s: list[float] = field(default_factory=list)


class StandInPipeline:
    """Thread: replay ``clip`` at ``fps`` through detect -> track -> hub + feed."""

    def __init__(self, camera_id: str, clip: Sequence[np.ndarray], fps: float,
                 detector: Detector, hub: FrameHub, feed: EventFeed,
                 tracking: TrackingSettings | None = None) -> None:
        self.camera_id, self.clip, self.fps = camera_id, clip, fps
        self.detector, self.hub, self.feed = detector, hub, feed
        m = detector.manifest
        self.tracker = EventTracker(tracking or TrackingSettings(), detector.class_names)
        self.wire = WireConverter(WireContext(
            site="test-site", line="line1", station="st1", camera=camera_id,
            model=ModelRef(name=m.name, version=m.version, sha256=m.sha256),
            severity=SeveritySettings()))
        self.stats = StandInStats()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="standin-pipeline", daemon=True)
        self._alarm_count = 0

    def start(self) -> StandInPipeline:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        period = 1.0 / self.fps
        next_t = time.monotonic()
        window_t, window_frames = time.monotonic(), 0
        seq = 0
        while not self._stop.is_set():
            frame = self.clip[seq % len(self.clip)]
            ts_ns, mono_ns = time.time_ns(), time.monotonic_ns()
            det = self.detector.detect(frame)
            h, w = frame.shape[:2]
            events = self.tracker.update(det, seq, ts_ns / 1e9, (w, h))
            overlay = Overlay(det.xyxy, det.class_id, det.score, self.tracker.last_track_ids,
                              self.detector.class_names, seq, ts_ns, mono_ns)
            t0 = time.perf_counter()
            self.hub.publish(self.camera_id, frame, overlay)
            self.stats.publish_s.append(time.perf_counter() - t0)
            for ev in events:
                wire = self.wire.convert(ev)
                self.feed.push_event(wire)
                if wire.kind == "new":
                    self._alarm(wire.event_id, wire.class_name, wire.ts_ms)
            self.stats.frames += 1
            self.stats.events += len(events)
            self.stats.detections += len(det)
            seq += 1
            window_frames += 1
            now = time.monotonic()
            if now - window_t >= 1.0:
                latency = (time.monotonic_ns() - mono_ns) / 1e6
                self.feed.set_live(self.camera_id, LiveStats(
                    fps=window_frames / (now - window_t), latency_ms=latency,
                    frames=self.stats.frames))
                window_t, window_frames = now, 0
            next_t += period
            if next_t < now:  # fell behind (slow CPU): run as fast as the detector allows
                next_t = now
            self._stop.wait(max(0.0, next_t - time.monotonic()))

    def _alarm(self, event_id: str, class_name: str, ts_ms: int) -> None:
        # The publisher owns alarms in the agent; the stand-in latches one on every `new`.
        self._alarm_count += 1
        self.feed.set_alarm(Alarm(v=1, active=True, code=1, class_name=class_name,
                                  severity="medium", event_id=event_id,
                                  count=self._alarm_count, ts=format_ts(ts_ms), ts_ms=ts_ms))
