"""The point design: what each v1 message becomes, and why a redelivery overwrites itself while
two defects of one frame do not collide."""

from __future__ import annotations

import pytest

from cloud.store.lineprotocol import LineProtocolError
from cloud.store.schema import (
    ALARMS,
    AVAILABILITY,
    DEFECTS,
    STATS,
    STATUS,
    defect_point,
    event_time_us,
    points_for,
)
from lineinspect.contract import encode_payload, parse_message
from lineinspect.contract.examples import all_examples, example_event
from tests._cloud_helpers import event_topic, make_stats, stored_event

IDENTITY_CASES = [
    # (ts_ms, index) pairs that must map to distinct instants
    ((1_000, 0), (1_000, 1)),
    ((1_000, 999), (1_001, 0)),
    ((1_763_794_391_123, 5), (1_763_794_391_123, 6)),
]


@pytest.mark.parametrize(("a", "b"), IDENTITY_CASES)
def test_events_of_one_frame_get_distinct_instants(
    a: tuple[int, int], b: tuple[int, int]
) -> None:
    assert event_time_us(*a) != event_time_us(*b)
    assert event_time_us(*a) < event_time_us(*b)


def test_index_stays_inside_the_frame_millisecond() -> None:
    assert event_time_us(1_000, 999) // 1000 == 1_000


def identity(line: str) -> tuple[str, str]:
    series, _, rest = line.partition(" ")
    return series, rest.rsplit(" ", 1)[1]


def test_redelivered_copy_has_the_same_identity_and_bytes() -> None:
    event = stored_event(index_in_frame=2)
    raw = encode_payload(event)
    once = points_for(parse_message(event_topic(event), raw), received_us=1)
    again = points_for(parse_message(event_topic(event), raw), received_us=999_999)
    assert [p.line for p in once] == [p.line for p in again]


def test_two_same_class_defects_in_one_frame_differ_only_by_time() -> None:
    a = defect_point(stored_event(index_in_frame=0, class_name="scratch"))
    b = defect_point(stored_event(index_in_frame=1, class_name="scratch"))
    series_a, time_a = identity(a.line)
    series_b, time_b = identity(b.line)
    assert series_a == series_b  # no per-event tag: one series
    assert time_a != time_b


def test_defect_point_tags_and_fields() -> None:
    event = example_event()
    p = defect_point(event)
    assert p.measurement == DEFECTS
    assert dict(p.tags) == {
        "site": "plant1",
        "line": "line3",
        "station": "st2",
        "camera": "cam1",
        "class": "scratch",
        "model_version": "2025.11.1",
    }
    assert p.time_us == event.ts_ms * 1000 + event.index_in_frame
    assert p.fields["event_id"] == event.event_id
    assert p.fields["kind"] == "new"
    assert p.fields["confidence"] == pytest.approx(0.87)
    assert p.fields["track_id"] == 17
    assert p.fields["box_x1"] == 412.0
    assert p.fields["severity_level"] == 2
    assert "event_id" not in dict(p.tags)


def test_stats_point_carries_the_denominators() -> None:
    stats = make_stats(1_763_794_400_000, frames=300, parts=12)
    topic = event_topic(stored_event()).replace("/events", "/stats")
    (p,) = points_for(parse_message(topic, encode_payload(stats)), received_us=0)
    assert p.measurement == STATS
    assert p.time_us == stats.ts_ms * 1000
    assert p.fields["frames_inspected"] == 300
    assert p.fields["parts_seen"] == 12
    assert p.fields["outbox_backlog"] == 5
    assert p.fields["latency_detect_p99_ms"] == 27.0
    assert p.fields["drops_capture"] == 2
    assert p.fields["defects_total"] == 1


def test_every_contract_example_becomes_points_or_nothing() -> None:
    kinds = set()
    for topic, payload in all_examples():
        for p in points_for(parse_message(topic, encode_payload(payload)), received_us=5):
            kinds.add(p.measurement)
            assert p.line.startswith(p.measurement)
    assert kinds == {DEFECTS, STATS, ALARMS, STATUS, AVAILABILITY}


def test_a_class_name_line_protocol_cannot_carry_is_refused() -> None:
    with pytest.raises(LineProtocolError, match="backslash"):
        defect_point(stored_event(class_name="odd\\"))


def test_refined_sizes_are_float_fields_and_absent_when_unrefined() -> None:
    from lineinspect.contract.examples import example_refined_update

    refined = defect_point(example_refined_update())
    for key in ("length_px", "width_px", "length_mm", "width_mm", "area_mm2"):
        assert isinstance(refined.fields[key], float), key
    assert refined.fields["refined"] is True and refined.fields["severity"] == "low"
    assert "length_px=12.0" in refined.line
    plain = defect_point(example_event())
    assert not {"length_px", "width_px", "length_mm", "width_mm"} & set(plain.fields)
