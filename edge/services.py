"""The agent's outward-facing services, built from settings: MQTT publisher, HTTP API with the
live viewer (WHEP), and the frame/event feeds that connect them to the pipeline.

Each is optional (``edge run --no-mqtt/--no-api``) and started/stopped here, so ``edge.run``
stays a short composition root.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from edge.app import AgentParts, model_ref
from edge.detect.detector import Detector
from edge.detect.types import Detections
from edge.metrics import EdgeMetrics
from edge.pipeline.camera import CameraPipeline, FrameHook
from edge.pipeline.sinks import CallbackSink, EventSink
from edge.settings import EdgeSettings
from edge.sources.frame import Frame, SourceState

if TYPE_CHECKING:  # imported where used: --no-api / --no-mqtt need not load their stacks
    from edge.api.feed import EventFeed
    from edge.api.server import ApiServer
    from edge.publish.publisher import Publisher
    from edge.publish.stats import StatsCounters
    from edge.refine.stage import RefineStage
    from edge.stream.hub import FrameHub
    from edge.stream.masks import TrackMasks
    from edge.stream.webrtc import StreamService

log = logging.getLogger(__name__)


@dataclass
class Services:
    publisher: Publisher | None = None
    api_server: ApiServer | None = None
    stream: StreamService | None = None
    camera_state: dict[str, str] = field(default_factory=dict)
    closers: list[Callable[[], None]] = field(default_factory=list)
    feed: EventFeed | None = None

    def start_live(self, cameras: list[CameraPipeline], period_s: float = 1.0) -> None:
        """Refresh the viewer's fps/latency line about once a second (no-op without the API)."""
        feed = self.feed
        if feed is None:
            return
        from edge.api.feed import LiveStats

        stop = threading.Event()

        def loop() -> None:
            while not stop.wait(period_s):
                for cam in cameras:
                    c = cam.counters
                    p50 = cam.frame_latency.percentiles((50.0,))[0]
                    model = cam.model_latency.percentiles((50.0,))[0]
                    feed.set_live(cam.camera_id, LiveStats(
                        fps=round(c.fps, 2),
                        latency_ms=None if p50 != p50 else round(p50, 1),  # NaN: no frame yet
                        frames=c.frames, drops=c.capture_dropped,
                        stages_ms={} if model != model else {"infer": round(model, 1)}))

        thread = threading.Thread(target=loop, name="viewer-live", daemon=True)
        thread.start()

        def close() -> None:
            stop.set()
            thread.join(2.0)

        self.closers.insert(0, close)

    def close(self) -> None:
        for close in reversed(self.closers):
            try:
                close()
            except Exception:
                log.exception("stopping a service failed")


def _hub_hook(hub: FrameHub, camera: str, names: tuple[str, ...], min_score: float,
              masks: TrackMasks | None = None) -> FrameHook:
    """Frames to the viewer with their boxes: those of a track and those scoring at least
    ``min_score``; the faint untracked ones the tracker may use are noise to a person. With
    ``masks``, each visible track's refined mask too."""
    from edge.stream.hub import Overlay

    def hook(frame: Frame, det: Detections, track_ids: np.ndarray) -> None:
        shown = (track_ids >= 0) | (det.score >= min_score)
        if not shown.all():
            det = Detections(det.xyxy[shown], det.score[shown], det.class_id[shown])
            track_ids = track_ids[shown]
        shown_masks = masks.visible(track_ids, det.xyxy) if masks is not None else ()
        hub.publish(camera, frame.image, Overlay(
            xyxy=det.xyxy, class_id=det.class_id, score=det.score, track_id=track_ids,
            class_names=names, frame_seq=frame.seq, ts_ns=frame.ts_ns, mono_ns=frame.mono_ns,
            masks=shown_masks))

    return hook


def build_services(settings: EdgeSettings, detectors: Sequence[Detector], metrics: EdgeMetrics,
                   sinks: Sequence[EventSink], *, mqtt: bool, api: bool) -> tuple[Services,
                                                                                  AgentParts]:
    """Start the enabled services; returns them and the agent parts wired to them: ``sinks``
    and the services' own (``detectors``: one per inference worker, all of the same model)."""
    detector = detectors[0]
    svc = Services(camera_state={c.id: "down" for c in settings.cameras})
    ref = model_ref(detector)
    all_sinks = list(sinks)
    stats: dict[str, StatsCounters] = {}
    hooks: dict[str, FrameHook] = {}
    masks: dict[str, TrackMasks] = {}
    if api:
        from edge.api.feed import EventFeed

        svc.feed = EventFeed(settings.api.event_history)
    try:
        if mqtt:
            from edge.publish.factory import edge_station, open_publisher, publish_settings

            pub = open_publisher(edge_station(settings), publish_settings(settings),
                                 on_alarm=svc.feed.set_alarm if svc.feed else None)
            svc.publisher = pub
            svc.closers.append(pub.close)
            all_sinks.append(CallbackSink("mqtt", pub.publish_event))
            stats = {c.id: pub.stats(c.id) for c in settings.cameras}
        if svc.feed is not None:
            all_sinks.append(CallbackSink("feed", svc.feed.push_event))
            hooks = _start_api(settings, detector, metrics, svc, svc.feed, masks)
        refine = _build_refine(settings, metrics, svc) if settings.refine.enabled else None
    except BaseException:
        svc.close()
        raise

    def on_status(camera: str, state: SourceState, message: str) -> None:
        svc.camera_state[camera] = state.value
        if svc.publisher is not None:
            svc.publisher.set_camera_status(camera, state.value, message[:200], ref)

    parts = AgentParts(detector=list(detectors), model=ref, class_names=detector.class_names,
                       sinks=all_sinks, metrics=metrics, on_status=on_status, frame_hooks=hooks,
                       stats=dict(stats), refine=refine,
                       mask_hooks={cam: m.put for cam, m in masks.items()})
    return svc, parts


def _build_refine(settings: EdgeSettings, metrics: EdgeMetrics, svc: Services) -> RefineStage:
    """The refinement stage: ``refine.workers`` refiners, each its own onnxruntime session."""
    from edge.refine.model import SHIPPED_REFINER, Refiner
    from edge.refine.stage import RefineStage

    rs = settings.refine
    path = rs.model_path if rs.model_path is not None else SHIPPED_REFINER
    refiners = [Refiner(path, intra_op_threads=rs.intra_op_threads) for _ in range(rs.workers)]
    stage = RefineStage(rs, refiners, metrics)
    svc.closers.append(stage.close)  # the agent closes it first (idempotent); this if it never ran
    r = refiners[0]
    log.info("refiner %s: %d worker(s), crops %dpx, classes %s, queue %d", path.name,
             len(refiners), r.input_size, ", ".join(rs.classes), rs.queue_size)
    return stage


def _start_api(settings: EdgeSettings, detector: Detector, metrics: EdgeMetrics,
               svc: Services, feed: EventFeed,
               masks: dict[str, TrackMasks]) -> dict[str, FrameHook]:
    """Start the live stream and the HTTP API; returns the per-camera hooks feeding the viewer
    (and, with refinement on, fills ``masks``: each camera's refined masks for the viewer)."""
    from edge.api.app import create_app
    from edge.api.deps import AppDeps, StatusSnapshot
    from edge.api.server import ApiServer
    from edge.stream.hub import FrameHub
    from edge.stream.webrtc import StreamService

    cams = [c.id for c in settings.cameras]
    hub = FrameHub(cams)
    names = tuple(detector.class_names)
    if settings.refine.enabled:
        from edge.stream.masks import TrackMasks

        masks.update({cam: TrackMasks() for cam in cams})
    hooks = {cam: _hub_hook(hub, cam, names, settings.detector.conf_threshold, masks.get(cam))
             for cam in cams}
    stream = None
    if settings.stream.enabled:
        stream = StreamService(hub, settings.stream)
        stream.start()
        svc.stream = stream
        svc.closers.append(stream.stop)
    # The API answers uploads with its own detector: the pipeline's reuses its buffers per call.
    api_detector = Detector(settings.detector)
    api_detector.warmup()  # the first upload should not pay for session start-up
    from edge.api.refiner_load import api_refiner  # /predict?model=refiner|both: its own too

    api_refiner_, refiner_off = api_refiner(settings.api, settings.refine.model_path)

    def status() -> StatusSnapshot:
        detail: dict[str, Any] = {"site": settings.site, "line": settings.line,
                                  "station": settings.station}
        if svc.publisher is not None:
            detail["mqtt"] = {"connected": svc.publisher.connected,
                              **svc.publisher.counters()}
        return StatusSnapshot(True, dict(svc.camera_state), detail)

    deps = AppDeps(api=settings.api, stream_settings=settings.stream, hub=hub, feed=feed,
                   status=status, registry=metrics.registry, detector=api_detector,
                   stream=stream, refiner=api_refiner_, refiner_off=refiner_off)
    server = ApiServer(create_app(deps), settings.api.host, settings.api.port)
    server.start()
    svc.api_server = server
    svc.closers.append(server.stop)
    log.info("viewer and API at %s (OpenAPI at /docs)", server.url)
    return hooks
