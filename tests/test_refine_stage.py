"""The refinement stage with *fake* refiners (tests/_fake_refiners.py, named as such): the update
event it builds, its drop and size policies, and the storm test — many defects per frame with a
deliberately slow refiner must not slow the inference loop, and the queue stays bounded with
every drop counted. The real shipped refiner runs in tests/test_refine_e2e.py."""

from __future__ import annotations

import resource
import threading
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from edge.app import AgentParts, EdgeAgent
from edge.detect.types import Detections, Timings
from edge.metrics import EdgeMetrics
from edge.pipeline.sinks import CallbackSink
from edge.refine.measure import Calibration
from edge.refine.settings import RefineSettings
from edge.refine.stage import RefineStage
from edge.refine.worker import RefinerLike
from edge.settings import EdgeSettings
from edge.sources.frame import Frame
from edge.track.settings import SeveritySettings
from edge.track.wire import WireContext
from lineinspect.contract import DefectEvent, ModelRef, Uuid7Generator, encode_payload
from lineinspect.contract.examples import event_like
from lineinspect.masks import rle_decode
from tests._fake_refiners import (
    FakeCheckerRefiner,
    FakeDiscRefiner,
    FakeEmptyRefiner,
    FakeSlowRefiner,
)

MODEL = ModelRef(name="standin-detector", version="0", sha256="0" * 64)
CLASSES = ("scratch", "crack", "dent")


class Sink:
    def __init__(self) -> None:
        self.events: list[DefectEvent] = []
        self._lock = threading.Lock()
        self.got = threading.Condition(self._lock)

    def emit(self, e: DefectEvent) -> None:
        with self.got:
            self.events.append(e)
            self.got.notify_all()

    def wait_for(self, n: int, timeout: float = 10.0) -> list[DefectEvent]:
        with self.got:
            self.got.wait_for(lambda: len(self.events) >= n, timeout)
            return list(self.events)


def wire(camera: str = "cam1") -> WireContext:
    return WireContext(site="p", line="l", station="s", camera=camera, model=MODEL,
                       severity=SeveritySettings())


def one_camera(refiner: RefinerLike, settings: RefineSettings | None = None,
               cal: Calibration | None = None) -> tuple[RefineStage, Any, Sink]:
    stage = RefineStage(settings or RefineSettings(min_score=0.5), [refiner], EdgeMetrics())
    sink = Sink()
    masks: list[Any] = []
    cam = stage.camera(wire(), cal or Calibration(mm_per_px=0.2), sink,
                       on_mask=lambda *a: masks.append(a))
    cam.masks = masks  # type: ignore[attr-defined]
    return stage.start(), cam, sink


def frame(seq: int = 5, w: int = 320, h: int = 240) -> Frame:
    return Frame(np.full((h, w, 3), 90, np.uint8), seq, 1_763_794_391_123_000_000, 0)


def dets(*boxes: tuple[float, float, float, float], score: float = 0.9) -> Detections:
    return Detections(np.array(boxes, np.float32).reshape(-1, 4),
                      np.full(len(boxes), score, np.float32), np.zeros(len(boxes), np.int32))


def test_update_event_carries_mask_sizes_and_the_defect_id() -> None:
    stage, cam, sink = one_camera(FakeDiscRefiner())
    ids = Uuid7Generator()
    new = event_like(ids, kind="new", track_id=7, class_name="scratch", zone=None,
                     frame={"width": 320, "height": 240},
                     box={"x1": 100.0, "y1": 80.0, "x2": 140.0, "y2": 120.0})
    # The frame's own event came first: the refined update takes the next index in the frame.
    assert cam.offer(frame(), dets((100, 80, 140, 120)), np.array([7]), [new]) == 1
    (ev,) = sink.wait_for(1)
    stage.close()
    assert ev.kind == "update" and ev.refined and ev.defect_id == new.event_id
    assert ev.event_id != new.event_id and ev.track_id == 7 and ev.index_in_frame == 1
    assert ev.frame_seq == 5 and ev.ts_ms == 1_763_794_391_123
    assert ev.mask is not None and ev.area_px == ev.mask.area() > 0
    full = rle_decode({"size": ev.mask.size, "counts": ev.mask.counts})
    ys, xs = np.nonzero(full)
    # disc of radius side/4 in a window of side 40 * 1.5 = 60 around the box centre (120, 100)
    assert xs.mean() == pytest.approx(119.5, abs=1) and ys.mean() == pytest.approx(99.5, abs=1)
    assert ev.length_px == pytest.approx(30, abs=2) and ev.width_px == pytest.approx(30, abs=2)
    assert ev.area_mm2 == pytest.approx(ev.area_px * 0.04)
    assert ev.length_mm == pytest.approx(ev.length_px * 0.2)
    assert ev.severity == "medium"  # calibrated: the mm rule, length ~6 mm in [5, 15)
    assert len(cam.masks) == 1 and cam.masks[0][0] == 7
    assert cam.ctx.counters.refined == 1


def test_update_is_sent_even_after_the_track_ended_and_empty_results_are_counted() -> None:
    stage, cam, sink = one_camera(FakeSlowRefiner(0.2))
    ids = Uuid7Generator()
    new = event_like(ids, kind="new", track_id=3, frame={"width": 320, "height": 240},
                     box={"x1": 10.0, "y1": 10.0, "x2": 30.0, "y2": 30.0})
    cam.offer(frame(1), dets((10, 10, 30, 30)), np.array([3]), [new])
    end = event_like(ids, kind="end", track_id=3, defect_id=new.event_id,
                     frame={"width": 320, "height": 240},
                     box={"x1": 10.0, "y1": 10.0, "x2": 30.0, "y2": 30.0})
    cam.offer(frame(2), dets(), np.zeros(0, np.int64), [end])  # ended while being refined
    (ev,) = sink.wait_for(1)
    stage.close()
    assert ev.kind == "update" and ev.defect_id == new.event_id and ev.frame_seq == 1

    stage, cam, sink = one_camera(FakeEmptyRefiner())
    cam.offer(frame(1), dets((10, 10, 30, 30)), np.array([3]), [new])
    stage.close()  # drains
    assert sink.events == [] and cam.ctx.counters.empty == 1


def test_a_mask_too_large_for_a_message_is_left_out_and_counted() -> None:
    stage, cam, sink = one_camera(FakeCheckerRefiner(), cal=Calibration())
    ids = Uuid7Generator()
    w, h = 1280, 720
    new = event_like(ids, kind="new", track_id=1, frame={"width": w, "height": h},
                     box={"x1": 300.0, "y1": 100.0, "x2": 900.0, "y2": 600.0})
    img = Frame(np.zeros((h, w, 3), np.uint8), 9, 1_763_794_391_123_000_000, 0)
    cam.offer(img, dets((300, 100, 900, 600)), np.array([1]), [new])
    (ev,) = sink.wait_for(1, 30.0)
    stage.close()
    assert ev.mask is None and ev.refined and ev.area_px > 0 and ev.length_px is not None
    assert ev.area_mm2 is None  # uncalibrated camera
    assert cam.ctx.counters.mask_too_large == 1
    assert len(encode_payload(ev)) < 4096


# -- storm ---------------------------------------------------------------------------------

GRID = [(x * 16 + 2, y * 16 + 2, x * 16 + 12, y * 16 + 12) for y in range(6) for x in range(10)]


class StormDetector:
    """Stand-in for the detector (not the model): the same 60 confident boxes every frame, a
    fixed 4 ms per call (a sleep: the loop's pace, whatever the CPU's load)."""

    batch_capacity = 1

    def __init__(self) -> None:
        self.timings = Timings()
        self._det = dets(*GRID)

    def detect(self, frame: np.ndarray) -> Detections:
        time.sleep(0.004)
        self.timings.infer_ms = 4.0
        return self._det

    def detect_batch(self, frames: Sequence[np.ndarray]) -> list[Detections]:
        return [self.detect(f) for f in frames]


def _storm_settings(frames: int) -> EdgeSettings:
    source = {"kind": "synthetic", "seed": 3, "width": 160, "height": 120, "pace": False,
              "loop": False, "frames": frames}
    # better_view margin 0: every track is re-refined on every frame (up to 100 times), so
    # 60 crops a frame reach a queue of 16 and a refiner doing ~20 a second.
    return EdgeSettings(site="p", line="l", station="s", cameras=[{"id": "cam1", "source": source}],
                        tracking={"min_frames": 2},
                        refine={"enabled": True, "min_score": 0.0, "queue_size": 16,
                                "better_view": {"score_margin": 0.0, "max_per_track": 100}})


def _run(settings: EdgeSettings, refine: RefineStage | None
         ) -> tuple[float, EdgeAgent, list[DefectEvent]]:
    events: list[DefectEvent] = []
    parts = AgentParts(detector=StormDetector(), model=MODEL, class_names=CLASSES,
                       sinks=[CallbackSink("list", events.append)], metrics=EdgeMetrics(),
                       refine=refine)
    agent = EdgeAgent(settings, parts)
    t0 = time.perf_counter()
    agent.start()
    assert agent.wait(120), "the finite source did not finish"
    dt = time.perf_counter() - t0
    agent.stop()
    return agent.cameras[0].counters.frames / dt, agent, events


def test_storm_drops_are_counted_queue_stays_bounded_and_fps_is_unaffected() -> None:
    frames = 150
    settings = _storm_settings(frames)
    fps_off, _, _ = _run(settings, None)
    slow = FakeSlowRefiner(delay_s=0.05)
    metrics = EdgeMetrics()
    stage = RefineStage(settings.refine, [slow], metrics)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    fps_on, agent, events = _run(settings, stage)
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    c = stage.cameras["cam1"].ctx.counters
    q = stage.queue
    print(f"storm: fps off {fps_off:.1f}, on {fps_on:.1f} ({fps_on / fps_off:.2f}); "
          f"crops {c.queued}, refined {c.refined}, dropped {c.dropped}, high water "
          f"{q.high_water}/{q.maxsize}, RSS +{(rss1 - rss0) / 1024:.1f} MiB")
    assert agent.cameras[0].counters.frames == frames
    assert c.queued > 20 * settings.refine.queue_size  # it was a storm
    assert q.high_water <= settings.refine.queue_size
    assert c.dropped > 0 and c.queued == c.dropped + c.refined + c.empty + c.error + len(q)
    dropped_metric = metrics.refine_dropped.labels("cam1", "queue")._value.get()
    assert dropped_metric == c.dropped
    assert rss1 - rss0 < 100 * 1024  # KiB: crops are 12 KiB and at most 16 wait
    assert fps_on >= 0.7 * fps_off, (fps_on, fps_off)  # generous: a shared 2-core box
    refined = [e for e in events if e.refined]
    assert len(refined) == c.refined > 0
    # The refined updates fit between the tracker's own events: (frame, index) never repeats,
    # so no store point overwrites another.
    keys = [(e.frame_seq, e.index_in_frame, e.ts_ms) for e in events]
    assert len(set(keys)) == len(keys)
    news = {e.defect_id for e in events if e.kind == "new"}
    assert all(e.defect_id in news and e.kind == "update" for e in refined)


def test_close_drains_what_it_can_and_counts_the_rest_as_dropped() -> None:
    stage, cam, sink = one_camera(FakeSlowRefiner(0.3), RefineSettings(min_score=0.0))
    ids = Uuid7Generator()
    news = [event_like(ids, kind="new", track_id=t, frame={"width": 320, "height": 240},
                       box={"x1": 10.0 * t, "y1": 10.0, "x2": 10.0 * t + 8, "y2": 18.0})
            for t in range(1, 9)]
    boxes = [(10.0 * t, 10.0, 10.0 * t + 8, 18.0) for t in range(1, 9)]
    assert cam.offer(frame(), dets(*boxes), np.arange(1, 9), news) == 8
    t0 = time.monotonic()
    stage.worker.close(drain_timeout_s=0.5)
    c = cam.ctx.counters
    assert time.monotonic() - t0 < 3.0
    assert c.refined >= 1 and c.dropped >= 1 and c.refined + c.dropped == 8
    assert len(sink.events) == c.refined
