"""Several inference workers (``detector.workers``): each camera's pipeline still gets its frames
in capture order, none lost; events are the same as with one worker (real shipped model);
a failing worker or ``stop()`` ends every thread; the setting and its thread split.

The ordering, failure and stop tests use a *stand-in* detector (named as such): what they test
is how the loop schedules its threads, and a stand-in with random per-call delays makes the
workers finish out of order on purpose, which the real model does only by chance.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from edge.app import AgentParts, EdgeAgent, model_ref
from edge.detect.detector import Detector
from edge.detect.session import session_options
from edge.detect.settings import DetectorSettings
from edge.detect.types import Detections, Timings
from edge.metrics import EdgeMetrics
from edge.pipeline.camera import CameraPipeline
from edge.pipeline.loop import CameraTurns
from edge.pipeline.sinks import CallbackSink
from edge.run import build_detectors
from edge.settings import EdgeSettings
from edge.sources.frame import Frame
from lineinspect.cli import main
from lineinspect.contract import DefectEvent, ModelRef
from lineinspect.render.video import write_video
from tests._models import shipped_detector

STANDIN_MODEL = ModelRef(name="standin-detector", version="0", sha256="0" * 64)
CLASSES = ("scratch", "crack", "dent")
FRAMES = 120


class StandInDetector:
    """Stand-in for :class:`Detector` (not the model): sleeps a random 0–``max_ms`` per call,
    returns one fixed confident box per frame (so the tracker opens a defect), and notes the
    ``infer_ms`` it reported for each image so the test can check each frame's timings."""

    active: ClassVar[int] = 0  # detect calls running right now, over all stand-ins
    peak: ClassVar[int] = 0
    # id(image) -> infer_ms share reported for it, shared by all stand-ins: ids of freed images
    # are reused, and the newest entry is the one of the image alive now.
    reported: ClassVar[dict[int, float]] = {}
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, seed: int, batch_capacity: int = 1, max_ms: float = 6.0,
                 fail_on_call: int | None = None) -> None:
        self.batch_capacity = batch_capacity
        self.timings = Timings()
        self.calls = 0
        self._rng = random.Random(seed)
        self._max_ms = max_ms
        self._fail_on_call = fail_on_call

    def detect(self, frame: np.ndarray) -> Detections:
        return self.detect_batch([frame])[0]

    def detect_batch(self, frames: Sequence[np.ndarray]) -> list[Detections]:
        cls = StandInDetector
        with cls._lock:
            cls.active += 1
            cls.peak = max(cls.peak, cls.active)
        try:
            self.calls += 1
            if self.calls == self._fail_on_call:
                raise RuntimeError("stand-in detector failed")
            delay_ms = self._rng.uniform(0.0, self._max_ms)
            time.sleep(delay_ms / 1000)
        finally:
            with cls._lock:
                cls.active -= 1
        self.timings.infer_ms = delay_ms + 0.001  # never 0: a 0 would hide a mix-up
        self.timings.frames = len(frames)
        with cls._lock:
            for f in frames:
                cls.reported[id(f)] = self.timings.infer_ms / len(frames)
        box = Detections(np.array([[10, 10, 40, 40]], np.float32), np.array([0.9], np.float32),
                         np.array([0], np.int32))
        return [box for _ in frames]


def _synthetic(cam: str, seed: int, frames: int = FRAMES, **kw: Any) -> dict[str, Any]:
    source = {"kind": "synthetic", "seed": seed, "width": 160, "height": 120, "pace": False,
              "loop": False, "frames": frames, **kw}  # unpaced, finite: lossless
    return {"id": cam, "source": source}


def _settings(cameras: list[dict[str, Any]], **detector: Any) -> EdgeSettings:
    return EdgeSettings(site="plant", line="l1", station="s1", cameras=cameras,
                        detector=detector, tracking={"min_frames": 2})


class Recorder:
    """Events and, per camera, the frames its pipeline got, in the order it got them."""

    def __init__(self) -> None:
        self.events: list[DefectEvent] = []
        self.seqs: dict[str, list[int]] = {}
        self.infer: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def sink(self) -> CallbackSink:
        def take(e: DefectEvent) -> None:
            with self._lock:
                self.events.append(e)

        return CallbackSink("list", take)

    def hooks(self, cams: Sequence[str]) -> dict[str, Any]:
        def hook_for(cam: str) -> Any:
            def hook(frame: Frame, _det: Detections, _ids: np.ndarray) -> None:
                with StandInDetector._lock:
                    infer = StandInDetector.reported.get(id(frame.image), float("nan"))
                self.seqs.setdefault(cam, []).append(frame.seq)
                self.infer.setdefault(cam, []).append(infer)

            return hook

        return {c: hook_for(c) for c in cams}


def _standin_agent(settings: EdgeSettings, dets: Sequence[StandInDetector]
                   ) -> tuple[EdgeAgent, Recorder]:
    rec = Recorder()
    cams = [c.id for c in settings.cameras]
    parts = AgentParts(detector=list(dets), model=STANDIN_MODEL, class_names=CLASSES,
                       sinks=[rec.sink()], metrics=EdgeMetrics(),
                       frame_hooks=rec.hooks(cams))
    return EdgeAgent(settings, parts), rec


def _leftover_threads(before: set[threading.Thread]) -> list[threading.Thread]:
    deadline = time.monotonic() + 2.0
    while True:
        left = [t for t in set(threading.enumerate()) - before if t.is_alive()]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


@pytest.mark.parametrize(("cameras", "batch"), [(1, 1), (2, 1), (2, 2)])
def test_each_camera_gets_every_frame_in_capture_order(cameras: int, batch: int) -> None:
    before = set(threading.enumerate())
    StandInDetector.peak = 0
    dets = [StandInDetector(seed=i, batch_capacity=batch) for i in range(3)]
    cams = [_synthetic(f"cam{i}", seed=i) for i in range(cameras)]
    agent, rec = _standin_agent(_settings(cams, workers=3), dets)
    agent.start()
    assert agent.wait(30), "the loop did not finish the finite sources"
    agent.stop()
    assert agent.error is None
    assert StandInDetector.peak >= 2, "the workers never detected at the same time"
    assert sum(1 for d in dets if d.calls) >= 2, [d.calls for d in dets]
    for cam in agent.cameras:
        seqs = rec.seqs[cam.camera_id]
        assert seqs == list(range(FRAMES)), f"{cam.camera_id}: frames out of order or lost"
        assert cam.counters.frames == FRAMES and cam.counters.capture_dropped == 0
        # Each frame was measured with the timings of the worker that detected it.
        got = cam.model_latency.samples()
        assert got == pytest.approx(rec.infer[cam.camera_id], rel=1e-9)
    # One defect per camera (the stand-in's fixed box), opened once and flushed once.
    kinds = sorted((e.camera, e.kind) for e in rec.events if e.kind != "update")
    assert kinds == sorted((c.camera_id, k) for c in agent.cameras for k in ("new", "end"))
    assert _leftover_threads(before) == []


def test_turns_release_out_of_order_and_abandoned_tickets() -> None:
    turns = CameraTurns(1)
    tickets = [turns.issue(0) for _ in range(3)]
    assert tickets == [0, 1, 2]
    woke = threading.Event()

    def waiter() -> None:
        turns.wait(0, 2)
        woke.set()

    t = threading.Thread(target=waiter)
    t.start()
    turns.release(0, 1)  # released ahead of its turn (a failed worker): no wake-up yet
    assert not woke.wait(0.1)
    turns.release(0, 0)  # 0 and the already released 1 are done: 2's turn
    assert woke.wait(2.0)
    t.join(2.0)


@pytest.fixture
def finish_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    original = CameraPipeline.finish

    def counting(self: CameraPipeline, frame_seq: int | None = None) -> None:
        calls.append(self.camera_id)
        original(self, frame_seq)

    monkeypatch.setattr(CameraPipeline, "finish", counting)
    return calls


def test_a_failing_worker_stops_the_loop_and_every_thread(finish_calls: list[str]) -> None:
    before = set(threading.enumerate())
    dets = [StandInDetector(seed=1), StandInDetector(seed=2, fail_on_call=15)]
    endless = {"loop": True, "frames": 50}  # would run forever
    agent, rec = _standin_agent(_settings([_synthetic("cam1", 1, **endless)], workers=2), dets)
    agent.start()
    assert agent.wait(20), "a failed worker must end the loop"
    assert isinstance(agent.error, RuntimeError)
    assert "stand-in detector failed" in str(agent.error)
    assert agent.loop is not None and agent.loop.join(5)
    agent.stop()
    assert finish_calls == ["cam1"], "the trackers are flushed once, after every worker ended"
    seqs = rec.seqs["cam1"]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert [e.kind for e in rec.events if e.kind != "update"] == ["new", "end"]
    assert _leftover_threads(before) == []


def test_stop_during_a_run_with_two_workers_leaves_no_thread(finish_calls: list[str]) -> None:
    before = set(threading.enumerate())
    dets = [StandInDetector(seed=i) for i in range(2)]
    cams = [_synthetic("cam1", 1, loop=True, frames=50),
            _synthetic("cam2", 2, loop=True, frames=50, pace=True, fps=60)]
    agent, rec = _standin_agent(_settings(cams, workers=2), dets)
    agent.start()
    time.sleep(0.6)
    assert not agent.wait(0), "endless sources ended"
    agent.stop()
    assert agent.error is None
    assert agent.loop is not None and not agent.loop.alive
    assert sorted(finish_calls) == ["cam1", "cam2"]
    for cam in ("cam1", "cam2"):
        seqs = rec.seqs[cam]
        assert seqs and seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert _leftover_threads(before) == []


# -- the real shipped model --------------------------------------------------------------------

@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path, _ = write_video(tmp_path_factory.mktemp("video") / "conveyor.mp4", seed=5,
                          seconds=6.0, fps=15.0)
    return path


def _real_events(video: Path, workers: int) -> tuple[list[tuple[Any, ...]], int]:
    settings = EdgeSettings(
        site="plant", line="l1", station="s1", tracking={"min_frames": 2},
        cameras=[{"id": "cam1", "source": {"kind": "file", "path": str(video), "pace": False}}],
        detector={"model": shipped_detector(), "providers": ["cpu"], "workers": workers})
    dets = build_detectors(settings)  # as `edge run` builds them
    assert len(dets) == workers
    events: list[DefectEvent] = []
    parts = AgentParts(detector=dets, model=model_ref(dets[0]), class_names=dets[0].class_names,
                       sinks=[CallbackSink("list", events.append)], metrics=EdgeMetrics())
    agent = EdgeAgent(settings, parts)
    agent.start()
    assert agent.wait(120), "pipeline did not finish the recording"
    agent.stop()
    assert agent.error is None
    cam = agent.cameras[0]
    assert cam.counters.capture_dropped == 0
    defects: dict[str, int] = {}
    out = []
    for e in events:  # ids aside: defects numbered in order of appearance
        d = defects.setdefault(e.defect_id, len(defects))
        b = e.box
        out.append((e.kind, d, e.track_id, e.class_name, e.frame_seq, e.index_in_frame,
                    (b.x1, b.y1, b.x2, b.y2), e.confidence))
    return out, cam.counters.frames


def test_two_workers_give_the_same_events_as_one_with_the_shipped_model(video: Path) -> None:
    before = set(threading.enumerate())
    one, frames_one = _real_events(video, workers=1)
    two, frames_two = _real_events(video, workers=2)
    assert frames_one == frames_two == 90  # offline: every frame inspected
    assert one, "the shipped detector found no defect in 6 s of conveyor video"
    assert two == one
    assert _leftover_threads(before) == []


# -- the setting --------------------------------------------------------------------------------

def test_workers_zero_is_rejected_with_a_clear_message(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import yaml

    base = {"site": "p", "line": "l", "station": "s",
            "cameras": [{"id": "cam1", "source": {"kind": "synthetic"}}]}
    path = tmp_path / "edge.yaml"
    path.write_text(yaml.safe_dump({**base, "detector": {"workers": 0}}))
    assert main(["config", "check", str(path)]) == 1
    assert "detector.workers: Input should be greater than or equal to 1" in capsys.readouterr().err
    path.write_text(yaml.safe_dump({**base, "detector": {"workers": 2}}))
    assert main(["config", "check", str(path)]) == 0
    assert "workers: 2" in capsys.readouterr().out


@pytest.mark.parametrize(("workers", "intra", "cores", "expected"), [
    (1, 0, 2, 0),  # one worker: onnxruntime's own default
    (2, 0, 2, 1),
    (2, 0, 8, 4),
    (3, 0, 8, 2),
    (4, 0, 2, 1),  # never 0 threads
    (2, 3, 2, 3),  # set explicitly: kept
])  # fmt: skip
def test_auto_intra_op_threads_split_the_cores(workers: int, intra: int, cores: int,
                                               expected: int) -> None:
    s = DetectorSettings(workers=workers, intra_op_threads=intra)
    assert s.session_intra_op_threads(cpu_count=cores) == expected


def test_each_worker_gets_its_own_session_and_buffers() -> None:
    import os

    settings = _settings([_synthetic("cam1", 1)], model=shipped_detector(), providers=["cpu"],
                         workers=2, warmup_runs=0)
    dets: list[Detector] = build_detectors(settings)
    assert len(dets) == 2
    assert dets[0]._session is not dets[1]._session
    assert not np.shares_memory(dets[0]._input, dets[1]._input)
    assert dets[0].timings is not dets[1].timings
    per_worker = max(1, (os.cpu_count() or 1) // 2)
    assert session_options(dets[0].settings).intra_op_num_threads == per_worker
