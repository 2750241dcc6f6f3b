"""Prometheus metrics of the edge agent, with per-camera children resolved once.

``labels(...)`` looks up (and may create) a child on every call; the hot path must not, so each
camera gets a :class:`CameraMetrics` holding its children, built when the camera starts.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# Latency buckets from 1 ms to 2.5 s: model runs are ~5–60 ms on CPU, capture-to-event adds a
# frame or two of waiting.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2,
                   0.3, 0.5, 0.75, 1.0, 2.5)
STAGES = ("pre", "infer", "post", "track", "frame")


@dataclass
class CameraMetrics:
    frames: Counter
    dropped_capture: Counter
    stage: dict[str, Histogram]
    event_latency: Histogram
    fps: Gauge
    events: dict[tuple[str, str], Counter]
    _events_family: Counter
    camera: str

    def event(self, kind: str, class_name: str) -> None:
        key = (kind, class_name)
        child = self.events.get(key)
        if child is None:  # once per (kind, class): classes are few
            child = self._events_family.labels(self.camera, kind, class_name)
            self.events[key] = child
        child.inc()


class EdgeMetrics:
    """All edge metric families in one registry (served at ``/metrics``)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.frames = Counter("lineinspect_frames_inspected_total",
                              "Frames run through the detector", ["camera"], registry=r)
        self.dropped = Counter("lineinspect_frames_dropped_total",
                               "Frames dropped because a newer one arrived first (newest wins)",
                               ["camera", "stage"], registry=r)
        self.stage = Histogram("lineinspect_stage_latency_seconds",
                               "Time per frame in each pipeline stage; 'frame' is capture to "
                               "processed", ["camera", "stage"], buckets=LATENCY_BUCKETS,
                               registry=r)
        self.event_latency = Histogram("lineinspect_event_latency_seconds",
                                       "Capture of a frame to its events handed to the sinks",
                                       ["camera"], buckets=LATENCY_BUCKETS, registry=r)
        self.fps = Gauge("lineinspect_fps", "Frames inspected per second (recent)", ["camera"],
                         registry=r)
        self.events = Counter("lineinspect_events_total", "Defect events emitted",
                              ["camera", "kind", "class_name"], registry=r)
        self.sink_dropped = Counter("lineinspect_sink_dropped_total",
                                    "Events a sink could not take (bounded queue full)",
                                    ["sink"], registry=r)
        self.refine_dropped = Counter(
            "lineinspect_refine_dropped_total",
            "Refinement work dropped: reason=queue, the oldest crop when the refine queue was "
            "full; reason=mask_too_large, a mask left out of its update (sizes still sent)",
            ["camera", "reason"], registry=r)
        self.refinements = Counter("lineinspect_refinements_total",
                                   "Crops through the refiner by outcome (refined, empty, error)",
                                   ["camera", "outcome"], registry=r)
        self.refine_latency = Histogram("lineinspect_refine_latency_seconds",
                                        "Refiner: time a crop waited in the queue (queue) and "
                                        "the model run (model)", ["camera", "stage"],
                                        buckets=LATENCY_BUCKETS, registry=r)

    def camera(self, camera: str) -> CameraMetrics:
        return CameraMetrics(
            frames=self.frames.labels(camera),
            dropped_capture=self.dropped.labels(camera, "capture"),
            stage={s: self.stage.labels(camera, s) for s in STAGES},
            event_latency=self.event_latency.labels(camera),
            fps=self.fps.labels(camera),
            events={},
            _events_family=self.events,
            camera=camera,
        )
