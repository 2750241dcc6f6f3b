"""The edge pipeline end to end with the real detector: every frame of a recording inspected,
valid v1 events with a clean lifecycle, several cameras in one process, clean shutdown."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml

from edge.app import AgentParts, EdgeAgent, model_ref
from edge.detect.detector import Detector
from edge.metrics import EdgeMetrics
from edge.pipeline.sinks import CallbackSink
from edge.settings import EdgeSettings
from lineinspect.contract import DefectEvent
from lineinspect.render.video import write_video
from tests._models import shipped_detector

REPO = Path(__file__).resolve().parents[1]
FPS = 15.0


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path, _ = write_video(tmp_path_factory.mktemp("video") / "conveyor.mp4", seed=5,
                          seconds=6.0, fps=FPS)
    return path


def _settings(cameras: list[dict[str, object]]) -> EdgeSettings:
    return EdgeSettings(site="plant", line="l1", station="s1", cameras=cameras,
                        detector={"model": shipped_detector(), "providers": ["cpu"]},
                        tracking={"min_frames": 2})


def _agent(settings: EdgeSettings) -> tuple[EdgeAgent, list[DefectEvent]]:
    det = Detector(settings.detector)
    events: list[DefectEvent] = []
    lock = threading.Lock()

    def take(e: DefectEvent) -> None:
        with lock:
            events.append(e)

    parts = AgentParts(detector=det, model=model_ref(det), class_names=det.class_names,
                       sinks=[CallbackSink("list", take)], metrics=EdgeMetrics())
    return EdgeAgent(settings, parts), events


def _check_lifecycle(events: list[DefectEvent]) -> None:
    kinds: dict[str, Counter[str]] = {}
    for e in events:
        kinds.setdefault(e.defect_id, Counter())[e.kind] += 1
    for defect, c in kinds.items():
        assert c["new"] == 1, f"defect {defect}: {dict(c)}"
        assert c["end"] == 1, f"defect {defect} never ended: {dict(c)}"
    assert len({e.event_id for e in events}) == len(events), "event ids must be unique"


def test_offline_recording_inspects_every_frame(video: Path) -> None:
    before = set(threading.enumerate())
    agent, events = _agent(_settings([{"id": "cam1", "source": {
        "kind": "file", "path": str(video), "pace": False}}]))
    agent.start()
    assert agent.wait(120), "pipeline did not finish the recording"
    agent.stop()
    cam = agent.cameras[0]
    assert cam.counters.frames == int(6.0 * FPS)  # offline: nothing dropped
    assert cam.counters.capture_dropped == 0
    assert events, "the shipped detector found no defect in 6 s of conveyor video"
    _check_lifecycle(events)
    assert {e.camera for e in events} == {"cam1"}
    # Nothing of ours keeps running after stop().
    time.sleep(0.2)
    leftover = [t for t in set(threading.enumerate()) - before if t.is_alive()]
    assert leftover == []


def test_two_cameras_one_process(video: Path) -> None:
    agent, events = _agent(_settings([
        {"id": "left", "source": {"kind": "file", "path": str(video), "pace": False}},
        {"id": "right", "source": {"kind": "synthetic", "seed": 3, "fps": 30, "pace": False,
                                   "loop": False}},
    ]))
    agent.start()
    time.sleep(6.0)
    agent.stop()
    frames = {c.camera_id: c.counters.frames for c in agent.cameras}
    assert frames["left"] > 0 and frames["right"] > 0, frames
    _check_lifecycle(events)


def test_edge_run_cli_writes_jsonl_and_stops_on_sigterm(video: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "edge.yaml"
    cfg.write_text(yaml.safe_dump({
        "site": "plant", "line": "l1", "station": "s1",
        "cameras": [{"id": "cam1", "source": {"kind": "file", "path": str(video), "loop": True,
                                              "pace": True}}],
        "detector": {"model": str(shipped_detector()), "providers": ["cpu"]},
        "tracking": {"min_frames": 2},
    }))
    out = tmp_path / "events.jsonl"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "lineinspect.cli", "edge", "run",
                             "--config", str(cfg), "--events-jsonl", str(out),
                             "--no-mqtt", "--no-api"],
                            cwd=REPO, env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            lines = out.read_text().splitlines() if out.exists() else []
            if any('"kind":"new"' in line for line in lines):
                break
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            time.sleep(0.5)
        else:
            pytest.fail("no `new` event within 90 s")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    events = [DefectEvent.model_validate_json(line) for line in out.read_text().splitlines()]
    # Shutdown flushes the trackers: every defect announced also ends.
    _check_lifecycle(events)
    assert all(json.loads(line)["v"] == 1 for line in out.read_text().splitlines())
