"""The point design: which measurement, tags, fields and timestamp each v1 message becomes.

Identity in InfluxDB is measurement + tag set + timestamp; a second write of the same identity
overwrites the first. So:

* a redelivered copy of a message produces byte-identical points and overwrites itself;
* a defect event is stamped ``ts_ms * 1000 + index_in_frame`` microseconds: two events of the
  same frame with the same tags (same class, same camera) get different instants inside the
  frame's millisecond, without a per-event tag (``index_in_frame < 1000`` by contract).

Tags are the low-cardinality dimensions people group by; ids and measures are fields.
"""

from __future__ import annotations

from cloud.store.lineprotocol import FieldValue
from cloud.store.points import Point, make_point
from lineinspect.contract import (
    Alarm,
    AlarmPlain,
    Availability,
    DefectEvent,
    Message,
    Stats,
    Status,
)
from lineinspect.contract.topics import TopicAddress

DEFECTS = "defect_events"
STATS = "edge_stats"
ALARMS = "alarms"
STATUS = "camera_status"
AVAILABILITY = "availability"
MEASUREMENTS = (DEFECTS, STATS, ALARMS, STATUS, AVAILABILITY)

TAG_KEYS = ("site", "line", "station", "camera", "class", "model_version")
"""Every tag any measurement uses (the embedded store keeps one column per tag)."""

_SEVERITY_LEVEL = {"low": 1, "medium": 2, "high": 3}
_STATE_UP = {"up": 1, "reconnecting": 0, "down": 0}


def _where(address: TopicAddress) -> dict[str, str | None]:
    return {
        "site": address.site,
        "line": address.line,
        "station": address.station,
        "camera": address.camera,
    }


def event_time_us(ts_ms: int, index_in_frame: int) -> int:
    return ts_ms * 1000 + index_in_frame


def _opt(value: float | None) -> float | None:
    # Always a float: an InfluxDB field keeps the type of its first write (12 vs 12.0).
    return None if value is None else float(value)


def defect_point(event: DefectEvent) -> Point:
    tags = {
        "site": event.site,
        "line": event.line,
        "station": event.station,
        "camera": event.camera,
        "class": event.class_name,
        "model_version": event.model.version,
    }
    box = event.box
    fields: dict[str, FieldValue | None] = {
        "event_id": event.event_id,
        "defect_id": event.defect_id,
        "kind": event.kind,
        "track_id": event.track_id,
        "frame_seq": event.frame_seq,
        "index_in_frame": event.index_in_frame,
        "class_id": event.class_id,
        "confidence": float(event.confidence),
        "severity": event.severity,
        "severity_level": _SEVERITY_LEVEL[event.severity],
        "zone": event.zone,
        "area_px": float(event.area_px),
        "area_mm2": None if event.area_mm2 is None else float(event.area_mm2),
        "box_x1": float(box.x1),
        "box_y1": float(box.y1),
        "box_x2": float(box.x2),
        "box_y2": float(box.y2),
        "frame_width": event.frame.width,
        "frame_height": event.frame.height,
        "refined": event.refined,
        "model_name": event.model.name,
        # Refined updates only (None: the field is left out of the point).
        "length_px": _opt(event.length_px),
        "width_px": _opt(event.width_px),
        "length_mm": _opt(event.length_mm),
        "width_mm": _opt(event.width_mm),
    }
    return make_point(DEFECTS, tags, fields, event_time_us(event.ts_ms, event.index_in_frame))


def stats_point(address: TopicAddress, stats: Stats) -> Point:
    fields: dict[str, FieldValue | None] = {
        "interval_s": float(stats.interval_s),
        "frames_inspected": stats.frames_inspected,
        "parts_seen": stats.parts_seen,
        "fps": float(stats.fps),
        "outbox_backlog": stats.outbox_backlog,
        "defects_total": sum(stats.defects_by_class.values()),
        "drops_total": sum(stats.drops.values()),
    }
    for stage, lat in stats.latency_ms.items():
        fields[f"latency_{stage}_p50_ms"] = float(lat.p50)
        fields[f"latency_{stage}_p99_ms"] = float(lat.p99)
    for stage, count in stats.drops.items():
        fields[f"drops_{stage}"] = count
    return make_point(STATS, _where(address), fields, stats.ts_ms * 1000)


def alarm_point(address: TopicAddress, alarm: Alarm) -> Point:
    fields = {
        "active": alarm.active,
        "code": alarm.code,
        "class_name": alarm.class_name,
        "severity": alarm.severity,
        "zone": alarm.zone,
        "event_id": alarm.event_id,
        "count": alarm.count,
        "cleared_by": alarm.cleared_by,
    }
    return make_point(ALARMS, _where(address), fields, alarm.ts_ms * 1000)


def plain_alarm_point(address: TopicAddress, alarm: AlarmPlain, received_us: int) -> Point:
    # The plain payload carries no time, so a redelivered copy lands as a second point; it
    # holds nothing but the state, so that is harmless.
    fields = {"active": alarm.active, "code": 1 if alarm.active else 0, "plain": True}
    return make_point(ALARMS, _where(address), fields, received_us)


def status_point(address: TopicAddress, status: Status) -> Point:
    fields = {
        "state": status.state,
        "up": _STATE_UP[status.state],
        "message": status.message,
        "model_name": status.model.name if status.model else None,
        "model_version": status.model.version if status.model else None,
    }
    return make_point(STATUS, _where(address), fields, status.ts_ms * 1000)


def availability_point(address: TopicAddress, avail: Availability, received_us: int) -> Point:
    fields = {"state": avail.state, "online": 1 if avail.state == "online" else 0}
    return make_point(AVAILABILITY, _where(address), fields, received_us)


def points_for(message: Message, received_us: int) -> list[Point]:
    """The points to store for one valid message; empty for kinds the store does not keep
    (alarm acknowledgements, dead letters). Raises ``LineProtocolError`` for a value line
    protocol cannot carry."""
    payload, address = message.payload, message.address
    if isinstance(payload, DefectEvent):
        return [defect_point(payload)]
    if isinstance(payload, Stats):
        return [stats_point(address, payload)]
    if isinstance(payload, Alarm):
        return [alarm_point(address, payload)]
    if isinstance(payload, AlarmPlain):
        return [plain_alarm_point(address, payload, received_us)]
    if isinstance(payload, Status):
        return [status_point(address, payload)]
    if isinstance(payload, Availability):
        return [availability_point(address, payload, received_us)]
    return []
