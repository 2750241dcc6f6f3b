"""Composition root of the edge agent: builds the parts from settings and wires them.

Everything with I/O or state is constructed here and passed in (detector session, captures,
sinks, metrics registry), so tests assemble the same agent from real or in-memory parts.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from edge.detect.detector import Detector
from edge.metrics import EdgeMetrics
from edge.pipeline.camera import CameraPipeline, FrameHook, PipelineHooks, StatsLike
from edge.pipeline.loop import BatchDetector, InferenceLoop
from edge.pipeline.sinks import EventSink, FanOut
from edge.settings import CameraSettings, EdgeSettings
from edge.sources.factory import start_capture
from edge.sources.frame import SourceState
from edge.track.lifecycle import EventTracker
from edge.track.wire import WireContext, WireConverter
from lineinspect.contract import ModelRef
from lineinspect.crops import Pasted

if TYPE_CHECKING:
    from edge.refine.stage import RefineStage

log = logging.getLogger(__name__)

StatusCallback = Callable[[str, SourceState, str], None]  # camera, state, message
# A refined mask for the viewer: (track id, mask on the frame, box it was refined at).
MaskHook = Callable[[int, Pasted, tuple[float, float, float, float]], None]


def model_ref(detector: Detector) -> ModelRef:
    man = detector.manifest
    return ModelRef(name=man.name, version=str(man.version), sha256=man.sha256)


@dataclass
class AgentParts:
    """What the agent is assembled from; the composition root or a test provides each."""

    detector: BatchDetector | Sequence[BatchDetector]  # one per inference worker, or just one
    model: ModelRef
    class_names: Sequence[str]
    sinks: Sequence[EventSink]
    metrics: EdgeMetrics = field(default_factory=EdgeMetrics)
    on_status: StatusCallback | None = None
    frame_hooks: dict[str, FrameHook] = field(default_factory=dict)
    stats: dict[str, StatsLike] = field(default_factory=dict)
    refine: RefineStage | None = None  # built only when refine.enabled; the agent closes it
    mask_hooks: dict[str, MaskHook] = field(default_factory=dict)

    @property
    def detectors(self) -> list[BatchDetector]:
        """The inference workers' detectors (``detector.workers`` of them in ``edge run``)."""
        d = self.detector
        return list(d) if isinstance(d, Sequence) else [d]


class EdgeAgent:
    """Cameras → one inference loop (one thread per detector) → per-camera tracking → sinks.
    ``start``/``stop``/``wait``."""

    def __init__(self, settings: EdgeSettings, parts: AgentParts) -> None:
        self.settings = settings
        self.parts = parts
        self.fanout = FanOut(parts.sinks)
        self.cameras: list[CameraPipeline] = []
        self.loop: InferenceLoop | None = None
        self._stopped = threading.Event()

    def _camera(self, cam: CameraSettings) -> CameraPipeline:
        s = self.settings
        on_status = self.parts.on_status

        def status(state: SourceState, message: str, _cam: str = cam.id) -> None:
            if on_status is not None:
                on_status(_cam, state, message)

        capture = start_capture(cam.source, cam.id, on_status=status)
        tracker = EventTracker(s.tracking_for(cam), self.parts.class_names)
        ctx = WireContext(site=s.site, line=s.line, station=s.station, camera=cam.id,
                          model=self.parts.model, severity=s.severity, mm_per_px=cam.mm_per_px)
        stats = self.parts.stats.get(cam.id)
        refine = None
        if self.parts.refine is not None:
            from edge.refine.measure import Calibration

            refine = self.parts.refine.camera(ctx, Calibration.of(cam.mm_per_px, cam.homography),
                                              self.fanout, stats,
                                              self.parts.mask_hooks.get(cam.id))
        hooks = PipelineHooks(on_frame=self.parts.frame_hooks.get(cam.id), stats=stats,
                              refine=refine)
        return CameraPipeline(cam.id, capture, tracker, WireConverter(ctx), self.fanout,
                              self.parts.metrics.camera(cam.id), hooks)

    def start(self) -> EdgeAgent:
        try:
            for cam in self.settings.cameras:
                self.cameras.append(self._camera(cam))
        except BaseException:
            self._close_captures()
            raise
        if self.parts.refine is not None:
            self.parts.refine.start()
        self.loop = InferenceLoop(self.parts.detectors, self.cameras).start()
        return self

    def wait(self, timeout: float | None = None) -> bool:
        """Block until every source ended (or stop); True if the loop finished."""
        assert self.loop is not None, "start() first"
        return self.loop.finished.wait(timeout)

    def stop(self) -> None:
        """Stop capture and inference, flush trackers (``end`` events), drain sinks. Idempotent."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        if self.loop is not None:
            self.loop.stop()
            self.loop.join()
        self._close_captures()
        if self.parts.refine is not None:  # its last updates go out before the sinks close
            self.parts.refine.close()
        self.fanout.close()

    def _close_captures(self) -> None:
        for cam in self.cameras:
            cam.capture.close()

    @property
    def error(self) -> BaseException | None:
        return self.loop.error if self.loop is not None else None
