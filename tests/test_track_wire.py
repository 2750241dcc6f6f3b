"""Tracker events → v1 DefectEvent: ids, severity, masks, and acceptance by the contract parser."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from edge.detect.types import Detections
from edge.track.events import TrackEvent
from edge.track.lifecycle import EventTracker
from edge.track.settings import SeveritySettings, TrackingSettings, ZoneSettings
from edge.track.wire import WireContext, WireConverter, severity_of, to_wire
from lineinspect.contract import (
    ModelRef,
    TopicKind,
    Uuid7Generator,
    build_topic,
    encode_payload,
    parse_message,
)
from lineinspect.masks import rle_encode

MODEL = ModelRef(name="lineinspect-det", version="1", sha256="ab" * 32)
CTX = WireContext(site="plant-1", line="l2", station="s3", camera="cam-a", model=MODEL,
                  severity=SeveritySettings())
TS = 1_763_794_391.123


def event(kind: str = "new", **kw: object) -> TrackEvent:
    base = TrackEvent(
        track_id=7, kind="new", reason="confirmed", class_id=1, class_name="crack",
        confidence=0.81, box=(100.0, 50.0, 140.0, 60.0), box_seq=11, frame_width=640,
        frame_height=480, frame_seq=11, ts=TS, index_in_frame=0, first_seq=9, first_ts=TS - 0.2,
        frames_seen=3)
    return dataclasses.replace(base, kind=kind, **kw)  # type: ignore[arg-type]


def ids() -> Uuid7Generator:
    counter = iter(range(1_000_000))
    return Uuid7Generator(clock_ms=lambda: 1_763_794_391_123, random74=lambda: next(counter))


def roundtrip(ev: object) -> object:
    topic = build_topic(TopicKind.EVENTS, "plant-1", "l2", "s3", "cam-a")
    return parse_message(topic, encode_payload(ev)).payload  # type: ignore[arg-type]


def test_new_event_fields_and_contract_roundtrip() -> None:
    conv = WireConverter(CTX, ids())
    wire = conv.convert(event())
    assert wire.kind == "new" and wire.defect_id == wire.event_id
    assert (wire.ts, wire.ts_ms) == ("2025-11-22T06:53:11.123Z", 1_763_794_391_123)
    assert (wire.site, wire.line, wire.station, wire.camera) == ("plant-1", "l2", "s3", "cam-a")
    assert (wire.track_id, wire.frame_seq, wire.index_in_frame) == (7, 11, 0)
    assert (wire.class_name, wire.class_id, wire.confidence) == ("crack", 1, 0.81)
    assert (wire.box.x1, wire.box.y1, wire.box.x2, wire.box.y2) == (100.0, 50.0, 140.0, 60.0)
    assert wire.box_norm.x2 == pytest.approx(140 / 640)
    assert (wire.frame.width, wire.frame.height) == (640, 480)
    assert wire.area_px == 400.0 and wire.area_mm2 is None
    assert wire.severity == "medium" and wire.mask is None and wire.refined is False
    assert wire.model == MODEL
    assert roundtrip(wire) == wire


def test_update_and_end_carry_the_defect_id_of_new() -> None:
    conv = WireConverter(CTX, ids())
    new = conv.convert(event("new"))
    upd = conv.convert(event("update", reason="score", confidence=0.95))
    end = conv.convert(event("end", reason="missed"))
    assert new.event_id < upd.event_id < end.event_id  # time-ordered ids
    assert upd.defect_id == end.defect_id == new.event_id != upd.event_id
    assert conv.open_defects == 0
    for w in (upd, end):
        assert roundtrip(w) == w


@pytest.mark.parametrize(
    ("sequence", "message"),
    [
        (["update"], "has no `new`"),
        (["end"], "has no `new`"),
        (["new", "new"], "second `new`"),
        (["new", "end", "end"], "has no `new`"),
    ],
)
def test_out_of_order_events_are_refused(sequence: list[str], message: str) -> None:
    conv = WireConverter(CTX, ids())
    with pytest.raises(ValueError, match=message):
        for kind in sequence:
            conv.convert(event(kind))


def test_refined_event_carries_mask_and_mask_area() -> None:
    mask = np.zeros((480, 640), bool)
    mask[52:58, 105:135] = True
    wire = WireConverter(CTX, ids()).convert(event(mask_rle=rle_encode(mask)))
    assert wire.refined is True and wire.mask is not None
    assert wire.area_px == 180.0 == wire.mask.area()
    assert roundtrip(wire) == wire


def test_mask_of_another_size_is_refused() -> None:
    rle = rle_encode(np.zeros((240, 320), bool))
    with pytest.raises(ValueError, match="mask size"):
        WireConverter(CTX, ids()).convert(event(mask_rle=rle))


def test_calibrated_camera_reports_mm2() -> None:
    ctx = dataclasses.replace(CTX, mm_per_px=0.5)
    wire = to_wire(event(), ctx, "0197a8a4-1c33-7000-8000-000000000001",
                   "0197a8a4-1c33-7000-8000-000000000001")
    assert wire.area_mm2 == pytest.approx(100.0)


def test_box_on_the_frame_edge_is_clamped() -> None:
    wire = WireConverter(CTX, ids()).convert(event(box=(600.0, -0.001, 640.00001, 20.0)))
    assert (wire.box.y1, wire.box.x2) == (0.0, 640.0)


@pytest.mark.parametrize(
    ("cls", "area_px", "area_mm2", "settings", "expected"),
    [
        ("crack", 100.0, None, SeveritySettings(), "medium"),
        ("crack", 100.0, None, SeveritySettings(by_class={"crack": "high"}), "high"),
        ("dent", 100.0, None, SeveritySettings(default="low"), "low"),
        ("dent", 900.0, None, SeveritySettings(default="low", escalate_area_px=800), "medium"),
        ("dent", 700.0, None, SeveritySettings(default="low", escalate_area_px=800), "low"),
        ("crack", 900.0, None,
         SeveritySettings(by_class={"crack": "high"}, escalate_area_px=800), "high"),  # capped
        # mm² threshold takes precedence when the camera is calibrated...
        ("dent", 900.0, 10.0, SeveritySettings(escalate_area_px=800, escalate_area_mm2=50),
         "medium"),
        ("dent", 100.0, 60.0, SeveritySettings(escalate_area_px=800, escalate_area_mm2=50),
         "high"),
        # ...and the px threshold applies when it is not.
        ("dent", 900.0, None, SeveritySettings(escalate_area_px=800, escalate_area_mm2=50),
         "high"),
    ],
)
def test_severity(cls: str, area_px: float, area_mm2: float | None, settings: SeveritySettings,
                  expected: str) -> None:
    assert severity_of(cls, area_px, area_mm2, settings) == expected


def test_tracker_output_converts_and_parses_end_to_end() -> None:
    """Every event a real tracker run emits (zones, two defects per frame) is a valid message."""
    zones = [ZoneSettings(name="gear-face", polygon=[(0, 0), (1, 0), (1, 1), (0, 1)])]
    tracker = EventTracker(TrackingSettings(min_frames=2, max_missed_frames=1, zones=zones),
                           ("scratch", "crack", "dent"))
    conv = WireConverter(CTX, ids())
    parsed = []
    for i in range(12):
        x = 30.0 * i
        boxes = np.array([[x, 100, x + 20, 110], [x, 200, x + 20, 230]], np.float32)
        det = Detections(boxes, np.array([0.6 + 0.03 * i, 0.9], np.float32),
                         np.array([0, 0], np.int32)) if i < 10 else Detections.empty()
        for ev in tracker.update(det, i, TS + i / 15, (640, 480)):
            parsed.append(roundtrip(conv.convert(ev)))
    kinds = [(p.kind, p.track_id, p.index_in_frame, p.zone) for p in parsed]  # type: ignore[attr-defined]
    assert ("new", 1, 0, "gear-face") in kinds and ("new", 2, 1, "gear-face") in kinds
    assert [k[0] for k in kinds].count("end") == 2
    assert conv.open_defects == 0
