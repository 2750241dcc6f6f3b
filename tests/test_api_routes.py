"""Health, readiness, metrics, status, the bearer token and the live event stream."""

from __future__ import annotations

import json
import threading
import time

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client import Gauge
from pydantic import SecretStr

from edge.api.feed import EventFeed, LiveStats
from edge.api.settings import ApiSettings
from edge.detect.detector import Detector
from lineinspect.contract.examples import example_alarm, example_event
from tests._edge_app import build_app, known_answer_detector, running

TOKEN = "s3cret-token"


@pytest.fixture(scope="module")
def detector(tmp_path_factory: pytest.TempPathFactory) -> Detector:
    return known_answer_detector(tmp_path_factory.mktemp("model"))


def test_health_and_readiness_follow_the_status_provider(detector: Detector) -> None:
    parts = build_app(detector, cameras=("cam1", "cam2"))
    with TestClient(parts.app) as c:
        assert c.get("/health").json() == {"status": "ok"}
        r = c.get("/ready")
        assert r.status_code == 200 and r.json()["ready"] is True
        parts.cameras["cam2"] = "reconnecting"
        parts.model_loaded = False
        r = c.get("/ready")
        assert r.status_code == 503
        assert r.json()["reasons"] == ["the detector model is not loaded",
                                       "camera cam2 is reconnecting"]
        assert c.get("/health").status_code == 200  # liveness does not depend on readiness


def test_metrics_carry_the_agents_own_and_the_apis(detector: Detector) -> None:
    parts = build_app(detector)
    # The agent registers its pipeline metrics in the same registry.
    Gauge("lineinspect_pipeline_fps", "fps", ["camera"], registry=parts.deps.registry).labels(
        "cam1").set(14.5)
    with TestClient(parts.app) as c:
        text = c.get("/metrics").text
    assert 'lineinspect_pipeline_fps{camera="cam1"} 14.5' in text
    for name in ("lineinspect_hub_frames_offered_total", "lineinspect_events_clients",
                 "lineinspect_api_images_predicted_total"):
        assert name in text


def test_status_shows_cameras_model_alarm_and_live_stats(detector: Detector) -> None:
    parts = build_app(detector)
    parts.deps.feed.set_alarm(example_alarm())
    parts.deps.feed.set_live("cam1", LiveStats(fps=14.8, latency_ms=55.0, frames=100))
    parts.deps.feed.push_event(example_event())
    with TestClient(parts.app) as c:
        st = c.get("/api/status").json()
    assert st["ready"] is True and st["models"] == ["detector"]
    assert st["model"]["classes"] == ["scratch", "crack", "dent"]
    assert [cam["id"] for cam in st["cameras"]] == ["cam1"]
    assert st["alarm"]["active"] is True and st["live"]["cam1"]["fps"] == 14.8
    assert st["recent_events"] == 1 and st["stream"]["enabled"] is False


def test_the_token_guards_everything_but_health(detector: Detector) -> None:
    parts = build_app(detector, api=ApiSettings(token=SecretStr(TOKEN)))
    with TestClient(parts.app, follow_redirects=False) as c:
        assert c.get("/health").status_code == 200
        for path in ("/ready", "/metrics", "/api/status", "/openapi.json", "/static/app.js"):
            r = c.get(path)
            assert r.status_code == 401, path
            assert r.headers["www-authenticate"].startswith("Bearer")
        assert c.post("/predict").status_code == 401
        assert c.post("/whep/cam1", content=b"v=0").status_code == 401
        assert c.get("/ready", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert c.get("/ready", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
        # A browser is sent to the login form, which sets a cookie for the page's own calls.
        r = c.get("/", headers={"Accept": "text/html"})
        assert r.status_code == 303 and r.headers["location"] == "/login"
        assert c.post("/login", data={"token": "nope"}).status_code == 401
        r = c.post("/login", data={"token": TOKEN})
        assert r.status_code == 303 and "httponly" in r.headers["set-cookie"].lower()
        assert c.get("/api/status").status_code == 200  # the cookie now rides along
        assert "lineinspect" in c.get("/").text


def test_page_and_static_files_are_served(detector: Detector) -> None:
    with TestClient(build_app(detector).app) as c:
        page = c.get("/")
        assert page.status_code == 200 and '<video id="video"' in page.text
        assert "RTCPeerConnection" in c.get("/static/app.js").text
        assert c.get("/static/style.css").status_code == 200
        assert c.get("/docs").status_code == 200


def _read_sse(response: httpx.Response, want: int, timeout: float) -> list[tuple[str, str]]:
    """(event, data) pairs until ``want`` defect events arrived."""
    got: list[tuple[str, str]] = []
    event = ""
    deadline = time.monotonic() + timeout
    for line in response.iter_lines():
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: "):
            got.append((event, line[6:]))
            if sum(1 for e, _ in got if e == "defect") >= want:
                break
        if time.monotonic() > deadline:
            break
    return got


def test_event_stream_replays_then_streams_live_events(detector: Detector) -> None:
    parts = build_app(detector)
    feed = parts.deps.feed
    feed.push_event(example_event())
    with running(parts) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        with http.stream("GET", "/api/events") as r:
            assert r.headers["content-type"].startswith("text/event-stream")
            def push_three() -> None:
                for i in range(3):
                    feed.push_event(example_event().model_copy(update={"track_id": 100 + i}))

            pusher = threading.Timer(0.3, push_three)
            pusher.start()
            got = _read_sse(r, want=4, timeout=20)
        defects = [json.loads(d) for e, d in got if e == "defect"]
        assert [d["track_id"] for d in defects] == [17, 100, 101, 102]
        assert got[0][0] == "hello" and json.loads(got[0][1]) == {"cameras": ["cam1"]}
        # Reconnecting with Last-Event-ID resumes after what was seen.
        with http.stream("GET", "/api/events", headers={"Last-Event-ID": "2"}) as r:
            again = [json.loads(d) for e, d in _read_sse(r, want=2, timeout=20) if e == "defect"]
        assert [d["track_id"] for d in again] == [101, 102]
        deadline = time.monotonic() + 10
        while feed.clients and time.monotonic() < deadline:  # closed streams free their slot
            time.sleep(0.05)
        assert feed.clients == 0


def test_event_stream_client_limit(detector: Detector) -> None:
    parts = build_app(detector, feed=EventFeed(max_clients=1))
    with running(parts) as server, httpx.Client(base_url=server.url, timeout=30) as http, \
            http.stream("GET", "/api/events") as first:
        # Keep the line iterator alive: dropping it hands the busy connection back to the
        # pool, and the next request would be sent down the still-streaming one.
        lines = first.iter_lines()
        assert next(lines).startswith("retry:")
        r = http.get("/api/events")
        assert r.status_code == 503 and "1 event clients" in r.json()["detail"]
