"""v1 payloads: every example round-trips through the wire; each kind of bad input is refused
with a ContractError whose code and reason say what is wrong."""

from __future__ import annotations

import json
from typing import Any

import pytest

from lineinspect.contract import (
    MAX_PAYLOAD_BYTES,
    Alarm,
    AlarmAck,
    AlarmPlain,
    Availability,
    ContractError,
    DefectEvent,
    TopicKind,
    build_topic,
    encode_payload,
    format_ts,
    parse_message,
    parse_ts,
)
from lineinspect.contract.examples import all_examples, example_event
from lineinspect.masks import rle_encode

EVENTS = build_topic(TopicKind.EVENTS, "plant1", "line3", "st2", "cam1")
ALARM = build_topic(TopicKind.ALARM, "plant1", "line3", "st2", "cam1")
ACK = build_topic(TopicKind.ALARM_ACK, "plant1", "line3", "st2", "cam1")
AVAIL = build_topic(TopicKind.AVAILABILITY, "plant1", "line3", "st2")


def event_dict(**changes: Any) -> dict[str, Any]:
    obj: dict[str, Any] = json.loads(encode_payload(example_event()))
    obj.update(changes)
    return obj


def reject(topic: str, payload: bytes | dict[str, Any]) -> ContractError:
    raw = json.dumps(payload).encode() if isinstance(payload, dict) else payload
    with pytest.raises(ContractError) as exc:
        parse_message(topic, raw)
    return exc.value


@pytest.mark.parametrize(("topic", "payload"), all_examples(), ids=lambda x: str(x)[:40])
def test_every_example_round_trips(topic: str, payload: Any) -> None:
    msg = parse_message(topic, encode_payload(payload))
    assert msg.payload == payload
    assert msg.address.kind in TopicKind


def test_timestamp_text_matches_epoch_ms() -> None:
    assert format_ts(1_763_794_391_123) == "2025-11-22T06:53:11.123Z"
    assert parse_ts("2025-11-22T06:53:11.123Z") == 1_763_794_391_123
    assert format_ts(0) == "1970-01-01T00:00:00.000Z"
    for bad in [
        "2025-11-22T06:53:11Z",
        "2025-11-22T06:53:11.123+00:00",
        "2025-13-01T00:00:00.000Z",
        "2025-02-30T00:00:00.000Z",
        "2025-11-22T24:00:00.000Z",
    ]:
        with pytest.raises(ValueError):
            parse_ts(bad)


def test_extra_field_is_rejected_with_its_name() -> None:
    err = reject(EVENTS, event_dict(colour="red"))
    assert err.code == "invalid"
    assert "colour: Extra inputs are not permitted" in err.reason


def test_nested_extra_field_names_the_path() -> None:
    obj = event_dict()
    obj["box"]["w"] = 3
    assert "box.w: Extra inputs are not permitted" in reject(EVENTS, obj).reason


@pytest.mark.parametrize(("v", "shown"), [(2, "v=2"), (0, "v=0"), ("1", 'v="1"'), (True, "v=true")])
def test_unknown_schema_version_is_rejected(v: Any, shown: str) -> None:
    err = reject(EVENTS, event_dict(v=v))
    assert err.code == "unsupported_version"
    assert shown in err.reason and "understands v=1" in err.reason


def test_missing_version_is_rejected() -> None:
    obj = event_dict()
    del obj["v"]
    err = reject(EVENTS, obj)
    assert err.code == "unsupported_version" and "'v'" in err.reason


def test_oversize_payload_is_rejected_before_parsing() -> None:
    raw = b" " * (MAX_PAYLOAD_BYTES + 1)
    err = reject(EVENTS, raw)
    assert err.code == "oversize" and str(MAX_PAYLOAD_BYTES) in err.reason


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"\xff\xfe", "not_utf8"),
        (b"{not json", "not_json"),
        (b'{"v": 1, "v": 1}', "not_json"),
        (b'{"v": 1, "confidence": NaN}', "not_json"),
        (b"[" * 100_000, "not_json"),
        (b"[1, 2]", "invalid"),
        (b"", "not_json"),
    ],
)
def test_malformed_bytes(raw: bytes, code: str) -> None:
    assert reject(EVENTS, raw).code == code


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"confidence": 1.5}, "confidence"),
        ({"confidence": "0.9"}, "confidence: Input should be a valid number"),
        ({"track_id": -1}, "track_id"),
        ({"index_in_frame": 1000}, "index_in_frame: Input should be less than or equal to 999"),
        ({"kind": "begin"}, "kind"),
        ({"severity": "critical"}, "severity"),
        ({"site": "a/b"}, "site"),
        ({"class_name": ""}, "class_name"),
        ({"class_name": "x" * 65}, "class_name"),
        ({"event_id": "not-a-uuid"}, "event_id"),
        ({"ts_ms": 1}, "name different instants"),
        ({"ts": "2025-11-22 06:53:11"}, "ts"),
        ({"defect_id": "019aaa56-9053-748d-8567-000000000001"}, "defect_id must equal event_id"),
        ({"box": {"x1": 10.0, "y1": 0.0, "x2": 5.0, "y2": 1.0}}, "x1 <= x2"),
        ({"box": {"x1": 0.0, "y1": 0.0, "x2": 2000.0, "y2": 1.0}}, "exceeds frame"),
        ({"box_norm": {"x1": 0.0, "y1": 0.0, "x2": 0.5, "y2": 0.5}}, "box_norm"),
        ({"model": {"name": "m", "version": "1", "sha256": "XYZ"}}, "model.sha256"),
    ],
)
def test_field_errors_name_the_field(changes: dict[str, Any], needle: str) -> None:
    err = reject(EVENTS, event_dict(**changes))
    assert err.code == "invalid"
    assert needle in err.reason


def test_event_ids_must_match_the_topic() -> None:
    other = build_topic(TopicKind.EVENTS, "plant1", "line3", "st2", "cam9")
    err = reject(other, event_dict())
    assert err.code == "topic_mismatch" and "cam9" in err.reason


def test_mask_must_cover_the_frame_and_match_area() -> None:
    import numpy as np

    mask = np.zeros((720, 1280), dtype=bool)
    mask[188:203, 412:468] = True
    rle = rle_encode(mask)
    ok = event_dict(mask=rle, area_px=float(mask.sum()))
    assert isinstance(parse_message(EVENTS, json.dumps(ok).encode()).payload, DefectEvent)

    wrong_sum = {"size": rle["size"], "counts": [*rle["counts"][:-1], rle["counts"][-1] + 1]}
    assert "counts sum to" in reject(EVENTS, event_dict(mask=wrong_sum, area_px=840.0)).reason
    assert "area_px" in reject(EVENTS, event_dict(mask=rle, area_px=1.0)).reason
    small = rle_encode(np.zeros((10, 10), dtype=bool))
    assert "mask size" in reject(EVENTS, event_dict(mask=small, area_px=0.0)).reason


def test_alarm_plain_mode_and_consistency() -> None:
    assert parse_message(ALARM, b"1").payload == AlarmPlain(active=True)
    assert parse_message(ALARM, b"0\n").payload == AlarmPlain(active=False)
    assert encode_payload(AlarmPlain(active=False)) == b"0"
    active_without_event = {
        "v": 1, "active": True, "code": 1, "count": 1, "class_name": "scratch",
        "severity": "high", "ts": "2025-11-22T06:53:11.123Z", "ts_ms": 1_763_794_391_123,
    }  # fmt: skip
    assert "event_id" in reject(ALARM, active_without_event).reason
    inactive_with_code = {
        "v": 1, "active": False, "code": 3, "count": 0, "cleared_by": "ack",
        "ts": "2025-11-22T06:53:11.123Z", "ts_ms": 1_763_794_391_123,
    }  # fmt: skip
    assert "code 0" in reject(ALARM, inactive_with_code).reason
    assert reject(ALARM, b"2").code == "invalid"  # plain 2 is a JSON number, not an object


def test_alarm_requires_json_or_plain() -> None:
    assert reject(ALARM, b'{"v":1}').code == "invalid"


@pytest.mark.parametrize("raw", [b"1", b"ack", b"ACK\r\n"])
def test_plain_acks(raw: bytes) -> None:
    assert parse_message(ACK, raw).payload == AlarmAck(v=1)


def test_availability_is_plain_text() -> None:
    assert parse_message(AVAIL, b"offline").payload == Availability(state="offline")
    assert encode_payload(Availability(state="online")) == b"online"
    err = reject(AVAIL, b'{"state": "online"}')
    assert err.code == "invalid" and "online" in err.reason


def test_models_are_immutable_and_strict_in_python_too() -> None:
    ev = example_event()
    with pytest.raises(Exception, match="frozen"):
        ev.confidence = 0.1  # type: ignore[misc]
    with pytest.raises(Exception, match="valid integer"):
        Alarm.model_validate({**json.loads(encode_payload(ev)), "code": "1"})


def test_an_event_without_sizes_is_sent_without_their_keys() -> None:
    """The refined sizes came after the first v1 receivers (which reject unknown keys): an
    event with no sizes must not carry them, even as null; one with sizes round-trips them."""
    plain = json.loads(encode_payload(example_event()))
    assert not {"length_px", "width_px", "length_mm", "width_mm"} & plain.keys()
    sized = example_event().model_copy(update={"length_px": 42.5, "width_px": 3.0})
    wire = encode_payload(sized)
    got = json.loads(wire)
    assert (got["length_px"], got["width_px"]) == (42.5, 3.0) and "length_mm" not in got
    back = parse_message(EVENTS, wire).payload
    assert isinstance(back, DefectEvent) and back.length_px == 42.5
