"""Shared pieces of the publish/outbox/alarm tests: valid events, settings, a publisher factory."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from edge.publish.factory import PublishSettings, build_publisher
from edge.publish.publisher import Publisher
from edge.publish.settings import AlarmSettings, MqttSettings, OutboxSettings, StatsSettings
from edge.publish.station import Station
from lineinspect.contract import (
    BoxPx,
    DefectEvent,
    FrameSize,
    ModelRef,
    Severity,
    Uuid7Generator,
)
from lineinspect.contract.examples import event_like
from lineinspect.testing import MosquittoServer

SITE, LINE, STATION = "plant1", "line3", "st2"
CAMERA = "cam1"
MODEL = ModelRef(name="gear-defects-yolov8n", version="2025.11.1", sha256="3f" * 32)
FRAME = FrameSize(width=640, height=480)
BOX = BoxPx(x1=10.0, y1=20.0, x2=60.0, y2=45.0)
_IDS = Uuid7Generator()


def station(cameras: Iterable[str] = (CAMERA,)) -> Station:
    return Station(SITE, LINE, STATION, tuple(cameras))


def frame_event(
    seq: int = 0,
    *,
    camera: str = CAMERA,
    kind: str = "new",
    defect_id: str | None = None,
    class_name: str = "scratch",
    class_id: int = 0,
    severity: Severity = "medium",
    zone: str | None = "gear-face",
    ts_ms: int = 1_763_794_391_123,
) -> DefectEvent:
    """A valid event; ``seq`` lands in ``frame_seq`` so tests can tell events apart."""
    return event_like(
        _IDS, frame_seq=seq, track_id=seq % 1000, camera=camera, kind=kind, defect_id=defect_id,
        class_name=class_name, class_id=class_id, severity=severity, zone=zone, ts_ms=ts_ms,
        site=SITE, line=LINE, station=STATION, index_in_frame=0, confidence=0.9, box=BOX,
        frame=FRAME, area_px=1250.0, area_mm2=None, model=MODEL,
    )


def publish_settings(
    broker: MosquittoServer | str,
    outbox_path: Path,
    *,
    protocol: str = "5",
    outbox: dict[str, Any] | None = None,
    alarms: dict[str, Any] | None = None,
    stats_interval_s: float = 3600.0,
    client_id: str | None = None,
    persistent_session: bool = True,
) -> PublishSettings:
    url = broker if isinstance(broker, str) else broker.url
    mqtt = MqttSettings(
        url=url,
        protocol=protocol,
        client_id=client_id,
        keepalive_s=10,
        reconnect_min_s=0.1,
        reconnect_max_s=0.5,
    )
    box = OutboxSettings(path=outbox_path, **(outbox or {}))
    return PublishSettings(
        mqtt,
        box,
        AlarmSettings(**(alarms or {})),
        StatsSettings(interval_s=stats_interval_s),
        persistent_session=persistent_session,
    )


def start_publisher(settings: PublishSettings, cameras: Iterable[str] = (CAMERA,)) -> Publisher:
    return build_publisher(station(cameras), settings).start()


def event_ids(payloads: Iterable[str]) -> list[str]:
    """``event_id`` of each JSON payload (mosquitto_sub lines)."""
    return [json.loads(p)["event_id"] for p in payloads]


def topic(kind: str, camera: str = CAMERA) -> str:
    return f"lineinspect/v1/{SITE}/{LINE}/{STATION}/{camera}/{kind}"
