"""``lineinspect edge run``: build the agent from a settings file and run it until a signal."""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from types import FrameType

from edge.app import EdgeAgent
from edge.detect.detector import Detector
from edge.detect.settings import DetectorSettings
from edge.metrics import EdgeMetrics
from edge.pipeline.sinks import EventSink, JsonlSink
from edge.services import build_services
from edge.settings import EdgeSettings

log = logging.getLogger(__name__)


def pipeline_detector_settings(settings: EdgeSettings) -> DetectorSettings:
    """The pipeline's detector reports scores down to the lowest ``tracking.low_confidence``
    of any camera: those detections keep a track alive through a faint stretch (ByteTrack's
    second association) without ever starting one or counting towards ``new``. With the
    detector's own floor above it, the setting would do nothing. Viewers still see only
    tracked boxes and boxes above ``detector.conf_threshold``; uploads use that threshold."""
    floor = min([settings.detector.conf_threshold]
                + [settings.tracking_for(cam).low_confidence for cam in settings.cameras])
    return settings.detector.model_copy(update={"conf_threshold": floor})


def build_detectors(settings: EdgeSettings) -> list[Detector]:
    """One detector per inference worker (``detector.workers``), each with its own session
    and buffers; with ``intra_op_threads: 0`` the workers split the cores between them."""
    ds = pipeline_detector_settings(settings)
    dets = [Detector(ds) for _ in range(ds.workers)]
    for det in dets:
        det.warmup()
    det = dets[0]
    log.info("detector %s v%s on %s (classes: %s); %d inference worker(s), %s intra-op "
             "thread(s) each", det.manifest.name, det.manifest.version, det.provider,
             ", ".join(det.class_names), len(dets), ds.session_intra_op_threads() or "default")
    return dets


def run_edge(settings: EdgeSettings, events_jsonl: str | None = None,
             stop: threading.Event | None = None, mqtt: bool = True, api: bool = True,
             extra_sinks: list[EventSink] | None = None) -> int:
    """Run until SIGINT/SIGTERM, ``stop`` or the end of every (finite) source; exit code."""
    stop = stop or threading.Event()
    detectors = build_detectors(settings)
    metrics = EdgeMetrics()
    sinks: list[EventSink] = list(extra_sinks or [])
    if events_jsonl:
        target: Path | str = events_jsonl if events_jsonl == "-" else Path(events_jsonl)
        sinks.append(JsonlSink(target, on_drop=metrics.sink_dropped.labels("jsonl").inc))
    services, parts = build_services(settings, detectors, metrics, sinks, mqtt=mqtt, api=api)
    agent = EdgeAgent(settings, parts)

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %s: shutting down", signal.Signals(signum).name)
        stop.set()

    # Signals can only be taken on the main thread (the demo runs us from it too).
    main = threading.current_thread() is threading.main_thread()
    previous = ({s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
                if main else {})
    try:
        agent.start()
        services.start_live(agent.cameras)
        log.info("edge agent running: %d camera(s)", len(agent.cameras))
        while not stop.is_set():
            if agent.wait(0.2):
                log.info("every source has ended")
                break
    finally:
        agent.stop()
        services.close()
        for s, h in previous.items():
            signal.signal(s, h)
    if agent.error is not None:
        log.error("edge agent failed: %s", agent.error)
        return 1
    return 0
