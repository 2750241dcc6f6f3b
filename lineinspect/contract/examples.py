"""One valid, deterministic example of every payload: used by the docs, the schema files and
the tests, so the examples an integrator reads are the ones the code accepts."""

from __future__ import annotations

import base64
from typing import Any

from lineinspect.contract.codec import Payload
from lineinspect.contract.ids import Uuid7Generator, compose_uuid7
from lineinspect.contract.timefmt import format_ts
from lineinspect.contract.topics import TopicKind, build_topic
from lineinspect.contract.v1 import (
    Alarm,
    AlarmAck,
    AlarmPlain,
    Availability,
    BoxPx,
    DeadLetter,
    DefectEvent,
    FrameSize,
    LatencyMs,
    MaskRle,
    ModelRef,
    Stats,
    Status,
)

SITE, LINE, STATION, CAMERA = "plant1", "line3", "st2", "cam1"
TS_MS = 1_763_794_391_123  # 2025-11-22T06:53:11.123Z
NEW_ID = str(compose_uuid7(TS_MS, 0x123456789ABCDEF0123))
UPDATE_ID = str(compose_uuid7(TS_MS + 400, 0x2F00D0))
REFINED_ID = str(compose_uuid7(TS_MS + 650, 0x3A11CE))
MODEL = ModelRef(name="gear-defects-yolov8n", version="2025.11.1", sha256="3f" * 32)


def example_event() -> DefectEvent:
    frame = FrameSize(width=1280, height=720)
    box = BoxPx(x1=412.0, y1=188.0, x2=468.0, y2=203.0)
    return DefectEvent(
        v=1,
        event_id=NEW_ID,
        defect_id=NEW_ID,
        kind="new",
        ts=format_ts(TS_MS),
        ts_ms=TS_MS,
        site=SITE,
        line=LINE,
        station=STATION,
        camera=CAMERA,
        track_id=17,
        frame_seq=90211,
        index_in_frame=0,
        class_name="scratch",
        class_id=0,
        confidence=0.87,
        severity="medium",
        zone="gear-face",
        box=box,
        box_norm=box.normalised(frame),
        frame=frame,
        area_px=840.0,
        area_mm2=21.0,
        model=MODEL,
    )


def _example_mask(width: int, height: int) -> MaskRle:
    """A thin scratch 12 px long and 2 px wide at x 430..441, y 195..196 (column-major RLE)."""
    counts = [430 * height + 195]
    for col in range(12):
        counts += [2, height - 2] if col < 11 else [2, (width - 441) * height - 197]
    return MaskRle(size=[height, width], counts=counts)


def example_refined_update() -> DefectEvent:
    """The refiner's ``update`` of :func:`example_event`'s defect: its mask and sizes. It is
    stamped with the refined frame (same frame here) and comes after that frame's own events."""
    new = example_event()
    mask = _example_mask(new.frame.width, new.frame.height)
    mm_per_px = 0.158  # the example camera's calibration (area_mm2 / area_px of the `new`)
    return new.model_copy(update={
        "event_id": REFINED_ID, "kind": "update", "index_in_frame": 1, "severity": "low",
        "confidence": 0.87, "mask": mask, "area_px": float(mask.area()),
        "area_mm2": round(mask.area() * mm_per_px**2, 3), "refined": True,
        "length_px": 12.0, "width_px": 2.0, "length_mm": round(12 * mm_per_px, 3),
        "width_mm": round(2 * mm_per_px, 3)})


def event_like(ids: Uuid7Generator, **changes: Any) -> DefectEvent:
    """:func:`example_event` with ``changes`` and fresh ids, validated like a received one.

    What follows from other fields follows them: ``ts`` from ``ts_ms``, ``box_norm`` from
    ``box`` and ``frame``, and ``defect_id`` is the new ``event_id`` for a ``new`` event (else
    ``changes["defect_id"]``, or a fresh id). For tests and benchmarks that need many events.
    """
    doc = example_event().model_dump(mode="python")
    doc.update(changes)
    doc["event_id"] = ids.next_str()
    if doc["kind"] == "new":
        doc["defect_id"] = doc["event_id"]
    elif "defect_id" not in changes or changes["defect_id"] is None:
        doc["defect_id"] = ids.next_str()
    doc["ts"] = format_ts(doc["ts_ms"])
    box, frame = BoxPx.model_validate(doc["box"]), FrameSize.model_validate(doc["frame"])
    doc["box_norm"] = box.normalised(frame)
    return DefectEvent.model_validate(doc)


def example_alarm() -> Alarm:
    return Alarm(
        v=1,
        active=True,
        code=1,
        class_name="scratch",
        severity="medium",
        zone="gear-face",
        event_id=NEW_ID,
        count=1,
        ts=format_ts(TS_MS),
        ts_ms=TS_MS,
    )


def example_alarm_cleared() -> Alarm:
    cleared_ms = TS_MS + 8_000
    return Alarm(
        v=1,
        active=False,
        code=0,
        event_id=NEW_ID,
        count=0,
        cleared_by="ack",
        ts=format_ts(cleared_ms),
        ts_ms=cleared_ms,
    )


def example_ack() -> AlarmAck:
    return AlarmAck(v=1, event_id=NEW_ID, by="plc-line3", ts_ms=TS_MS + 7_950)


def example_status() -> Status:
    return Status(
        v=1, state="up", ts=format_ts(TS_MS), ts_ms=TS_MS, model=MODEL, message="rtsp connected"
    )


def example_stats() -> Stats:
    return Stats(
        v=1,
        ts=format_ts(TS_MS),
        ts_ms=TS_MS,
        interval_s=10.0,
        frames_inspected=300,
        parts_seen=12,
        defects_by_class={"scratch": 1, "crack": 0},
        fps=30.0,
        latency_ms={
            "capture": LatencyMs(p50=1.2, p99=3.4),
            "detect": LatencyMs(p50=18.5, p99=27.0),
            "publish": LatencyMs(p50=0.3, p99=1.1),
        },
        drops={"capture": 0, "refine": 2},
        outbox_backlog=0,
    )


def example_deadletter() -> DeadLetter:
    raw = b'{"v":2,"kind":"new"}'
    return DeadLetter(
        v=1,
        reason_code="unsupported_version",
        reason="schema version v=2 is not supported (this build understands v=1)",
        topic=build_topic(TopicKind.EVENTS, SITE, LINE, STATION, CAMERA),
        payload_b64=base64.b64encode(raw).decode(),
        payload_bytes=len(raw),
        truncated=False,
        received_ts=format_ts(TS_MS + 35),
        received_ts_ms=TS_MS + 35,
        collector="collector-0",
    )


def all_examples() -> list[tuple[str, Payload]]:
    """``(topic, payload)`` for every kind and mode of the contract."""

    def cam(kind: TopicKind) -> str:
        return build_topic(kind, SITE, LINE, STATION, CAMERA)

    return [
        (cam(TopicKind.EVENTS), example_event()),
        (cam(TopicKind.EVENTS), example_refined_update()),
        (cam(TopicKind.ALARM), example_alarm()),
        (cam(TopicKind.ALARM), example_alarm_cleared()),
        (cam(TopicKind.ALARM), AlarmPlain(active=True)),
        (cam(TopicKind.ALARM_ACK), example_ack()),
        (cam(TopicKind.STATUS), example_status()),
        (cam(TopicKind.STATS), example_stats()),
        (build_topic(TopicKind.AVAILABILITY, SITE, LINE, STATION), Availability(state="online")),
        (build_topic(TopicKind.DEADLETTER), example_deadletter()),
    ]
