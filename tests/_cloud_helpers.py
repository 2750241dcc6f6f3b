"""Shared pieces of the collector / store / API tests: valid v1 messages, a fast paho publisher,
cloud settings for the fixture servers, the collector as a child process, and InfluxDB reads."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import paho.mqtt.client as mqtt
import yaml

from cloud.collector.service import Collector
from cloud.settings import CloudSettings
from cloud.store.writer import PointWriter
from lineinspect.contract import (
    BoxPx,
    DefectEvent,
    FrameSize,
    LatencyMs,
    ModelRef,
    Stats,
    Status,
    TopicKind,
    Uuid7Generator,
    build_topic,
    encode_payload,
    format_ts,
)
from lineinspect.contract.examples import event_like
from lineinspect.testing import InfluxServer, MosquittoServer
from lineinspect.testing.process import _die_with_parent as die_with_parent

REPO = Path(__file__).resolve().parents[1]
SITE, LINE, STATION = "plant1", "line3", "st2"
MODEL = ModelRef(name="gear-defects-yolov8n", version="2025.11.1", sha256="3f" * 32)
FRAME = FrameSize(width=640, height=480)
CLASSES = ("scratch", "crack", "dent")
T0_MS = 1_763_794_391_000
_IDS = Uuid7Generator()


class Broker(Protocol):
    """Any broker fixture: Mosquitto, or the MQTT 3.1.1-only one of the fallback test."""

    @property
    def host(self) -> str: ...
    @property
    def port(self) -> int: ...
    @property
    def url(self) -> str: ...


def stored_event(
    ts_ms: int = T0_MS,
    index_in_frame: int = 0,
    *,
    camera: str = "cam1",
    station: str = STATION,
    line: str = LINE,
    class_name: str = "scratch",
    kind: str = "new",
    frame_seq: int = 0,
    track_id: int = 1,
) -> DefectEvent:
    return event_like(
        _IDS, ts_ms=ts_ms, index_in_frame=index_in_frame, camera=camera, station=station,
        line=line, class_name=class_name, kind=kind, frame_seq=frame_seq, track_id=track_id,
        class_id=CLASSES.index(class_name) if class_name in CLASSES else 0, site=SITE,
        confidence=0.8, severity="medium", zone=None, frame=FRAME, area_px=1250.0,
        area_mm2=None, model=MODEL,
        box=BoxPx(x1=10.0 + index_in_frame, y1=20.0, x2=60.0 + index_in_frame, y2=45.0),
    )


def event_stream(
    n: int, *, cameras: Sequence[str] = ("cam1",), per_frame: int = 3, t0_ms: int = T0_MS
) -> list[DefectEvent]:
    """``n`` events, ``per_frame`` per frame (same class twice in a frame on purpose), frames
    one per millisecond per camera; every event id distinct."""
    out: list[DefectEvent] = []
    frame = 0
    while len(out) < n:
        for cam in cameras:
            for i in range(per_frame):
                if len(out) == n:
                    break
                cls = CLASSES[0] if i < 2 else CLASSES[i % len(CLASSES)]
                out.append(
                    stored_event(
                        t0_ms + frame, i, camera=cam, class_name=cls, frame_seq=frame,
                        track_id=frame * per_frame + i,
                    )
                )  # fmt: skip
        frame += 1
    return out


def event_topic(event: DefectEvent) -> str:
    return build_topic(TopicKind.EVENTS, event.site, event.line, event.station, event.camera)


def make_stats(ts_ms: int, frames: int, parts: int, camera: str = "cam1") -> Stats:
    return Stats(
        v=1,
        ts=format_ts(ts_ms),
        ts_ms=ts_ms,
        interval_s=10.0,
        frames_inspected=frames,
        parts_seen=parts,
        defects_by_class={"scratch": 1},
        fps=30.0,
        latency_ms={"detect": LatencyMs(p50=18.5, p99=27.0)},
        drops={"capture": 2},
        outbox_backlog=5,
    )


def make_status(ts_ms: int, state: str = "up") -> Status:
    return Status(
        v=1, state=state, ts=format_ts(ts_ms), ts_ms=ts_ms, model=MODEL,  # type: ignore[arg-type]
        message="rtsp connected",
    )  # fmt: skip


# -- publishing --------------------------------------------------------------------------------
class Publisher:
    """A paho MQTT 5 publisher that can have many QoS 1 messages in flight."""

    def __init__(
        self,
        broker: Broker,
        client_id: str | None = None,
        protocol: mqtt.MQTTProtocolVersion = mqtt.MQTTv5,
    ) -> None:
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=client_id or f"pub-{os.getpid()}-{time.monotonic_ns()}",
            protocol=protocol,
        )
        self.client.max_inflight_messages_set(1000)
        self.client.max_queued_messages_set(0)
        self._connected = threading.Event()
        self.client.on_connect = lambda *a: self._connected.set()
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        if not self._connected.wait(10):
            raise RuntimeError("publisher could not connect")

    def publish(self, topic: str, payload: bytes, qos: int = 1) -> mqtt.MQTTMessageInfo:
        return self.client.publish(topic, payload, qos=qos)

    def publish_events(self, events: Iterable[DefectEvent], timeout: float = 60.0) -> None:
        infos = [self.publish(event_topic(e), encode_payload(e)) for e in events]
        deadline = time.monotonic() + timeout
        for info in infos:
            info.wait_for_publish(max(0.1, deadline - time.monotonic()))
            if not info.is_published():
                raise TimeoutError("broker did not acknowledge every publish")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


# -- settings ----------------------------------------------------------------------------------
def cloud_config(
    broker: Broker,
    *,
    influx: InfluxServer | None = None,
    database: str = "lineinspect",
    sqlite_path: Path | None = None,
    client_id: str = "collector-0",
    batch_size: int = 5000,
    flush_interval_ms: int = 200,
    **collector: Any,
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "collector": {
            "mqtt": {"url": broker.url, "client_id": client_id, "reconnect_min_s": 0.2,
                     "reconnect_max_s": 1.0},
            "retry_min_s": 0.1,
            "retry_max_s": 1.0,
            "stats_log_interval_s": 5.0,
            **collector,
        },
        "logging": {"level": "INFO"},
    }  # fmt: skip
    if influx is not None:
        doc["influx"] = {
            "api": "v1",
            "url": influx.url,
            "database": database,
            "create_database": True,
            "batch_size": batch_size,
            "flush_interval_ms": flush_interval_ms,
            "timeout_s": 5.0,
        }
    if sqlite_path is not None:
        doc["store"] = {"path": str(sqlite_path), "batch_size": batch_size,
                        "flush_interval_ms": flush_interval_ms}  # fmt: skip
    return doc


def cloud_settings(broker: Broker, **kwargs: Any) -> CloudSettings:
    return CloudSettings.model_validate(cloud_config(broker, **kwargs))


def write_config(path: Path, doc: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(doc))
    return path


# -- the collector in this process -------------------------------------------------------------
@contextmanager
def running_collector(
    settings: CloudSettings, writer: PointWriter | None = None
) -> Iterator[Collector]:
    collector = Collector(settings, writer=writer)
    collector.start()
    try:
        if not collector.link.wait_subscribed(30):
            raise TimeoutError("collector did not get its subscription")
        yield collector
    finally:
        collector.stop()


# -- the collector as a child process ----------------------------------------------------------
class CollectorProcess:
    """``python -m cloud.collector --config FILE`` with its log in a file; start again after a
    kill with the same config (same client id, so it resumes its MQTT session)."""

    def __init__(self, config: Path, log_path: Path) -> None:
        self.config = config
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> CollectorProcess:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "cloud.collector", "--config", str(self.config)],
                cwd=REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                preexec_fn=die_with_parent,
            )
        return self

    def wait_subscribed(self, timeout: float = 180.0) -> None:
        # The collector logs this when the broker granted its subscription (SUBACK).
        wait_until(lambda: self.log().count("subscription active") > self._subs_before, timeout,
                   f"collector did not subscribe; log:\n{self.log()[-3000:]}")  # fmt: skip

    def start_and_wait(self) -> CollectorProcess:
        self._subs_before = self.log().count("subscription active")
        self.start()
        self.wait_subscribed()
        return self

    _subs_before = 0

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def terminate(self, timeout: float = 30.0) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


# -- reading back ------------------------------------------------------------------------------
def wait_until(pred: Callable[[], bool], timeout: float, message: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise TimeoutError(message)
        time.sleep(0.1)


def influx_event_ids(influx: InfluxServer, db: str) -> list[str]:
    """Every stored event_id, one entry per stored point (so duplicates would show)."""
    try:
        rows = influx.select('SELECT "event_id" FROM "defect_events"', db=db)
    except Exception:
        return []
    return [r["event_id"] for r in rows]


class StreamingPublisher(threading.Thread):
    """Publishes ``events`` at ``rate`` per second from its own thread, like an edge station,
    riding out broker restarts: paho keeps QoS 1 messages it could not send and resends
    unacknowledged ones after reconnecting, so every event reaches the broker eventually."""

    def __init__(self, broker: MosquittoServer, events: Sequence[DefectEvent], rate: float) -> None:
        super().__init__(name="streaming-publisher", daemon=True)
        self.events = events
        self.rate = rate
        self.pub = Publisher(broker)
        self.pub.client.reconnect_delay_set(0.2, 1.0)  # type: ignore[arg-type]
        self.infos: list[mqtt.MQTTMessageInfo] = []
        self.sent = 0

    def run(self) -> None:
        t0 = time.monotonic()
        for i, event in enumerate(self.events):
            due = t0 + i / self.rate
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            self.infos.append(self.pub.publish(event_topic(event), encode_payload(event)))
            self.sent += 1

    def acknowledged(self) -> int:
        return sum(1 for info in self.infos if info._published)

    def wait_all_acknowledged(self, timeout: float) -> None:
        self.join(timeout)
        wait_until(lambda: self.acknowledged() == len(self.events), timeout,
                   f"broker acknowledged {self.acknowledged()} of {len(self.events)}")  # fmt: skip

    def close(self) -> None:
        self.pub.close()
