"""The alarm state machine, fed scripted events, acks and clock ticks (no broker needed: it is
pure). The same rules are exercised through a real broker in test_alarms_broker.py."""

from __future__ import annotations

from typing import Any

import pytest

from edge.publish.alarms import AlarmMachine, Now, alarm_code, matches, wire_payload
from edge.publish.settings import AlarmSettings
from lineinspect.contract import Alarm, AlarmAck, AlarmPlain, parse_message
from tests._publish_helpers import frame_event, topic


def at(t: float) -> Now:
    return Now(mono=t, wall_ms=1_800_000_000_000 + int(t * 1000))


def machine(**rules: Any) -> AlarmMachine:
    m = AlarmMachine(AlarmSettings(**rules))
    startup = m.restore(None, at(0.0))
    assert (startup is not None) is m.rules.enabled  # disabled: the agent never touches it
    return m


@pytest.mark.parametrize(
    ("rules", "event", "raises"),
    [
        ({}, {}, True),
        ({}, {"severity": "low"}, False),  # default severities: medium, high
        ({"severities": []}, {"severity": "low"}, True),
        ({"classes": ["crack"]}, {"class_name": "scratch"}, False),
        ({"classes": ["crack"]}, {"class_name": "crack"}, True),
        ({"zones": ["gear-face"]}, {"zone": "gear-face"}, True),
        ({"zones": ["gear-face"]}, {"zone": "rim"}, False),
        ({"zones": ["gear-face"]}, {"zone": None}, False),
        ({"enabled": False}, {}, False),
    ],
)
def test_rules_decide_which_defects_raise(
    rules: dict[str, Any], event: dict[str, Any], raises: bool
) -> None:
    m = machine(**rules)
    out = m.on_event(frame_event(**event), at(1.0))
    assert (out is not None and out.active) is raises
    assert matches(frame_event(**event), AlarmSettings(**rules)) is (raises or not m.rules.enabled)


@pytest.mark.parametrize(
    ("class_name", "class_id", "codes", "want"),
    [
        ("scratch", 0, {}, 1),
        ("crack", 4, {}, 5),
        ("crack", 4, {"crack": 20}, 20),
        ("x", 65535, {}, 65535),  # class_id + 1 would not fit the PLC's 16-bit word
    ],
)
def test_alarm_code(class_name: str, class_id: int, codes: dict[str, int], want: int) -> None:
    assert alarm_code(class_name, class_id, codes) == want


def test_raise_describes_the_defect_and_counts_later_ones() -> None:
    m = machine(codes={"crack": 20})
    first = frame_event(1, class_name="crack", class_id=1, severity="high")
    raised = m.on_event(first, at(1.0))
    assert raised is not None
    assert (raised.active, raised.code, raised.class_name, raised.severity, raised.count) == (
        True, 20, "crack", "high", 1,
    )
    assert raised.event_id == first.defect_id
    assert raised.ts_ms == first.ts_ms  # capture time of the frame that raised it
    # A second defect 1 s later (past the rate limit) re-publishes with count 2, same origin.
    again = m.on_event(frame_event(2), at(2.0))
    assert again is not None and again.count == 2 and again.event_id == first.defect_id


def test_a_defect_raises_once_and_update_raises_only_when_severity_rose() -> None:
    m = machine(min_interval_s=0)
    low = frame_event(1, severity="low")
    assert m.on_event(low, at(1.0)) is None  # low does not raise
    same = frame_event(2, kind="update", defect_id=low.defect_id, severity="low")
    assert m.on_event(same, at(1.1)) is None
    rose = frame_event(3, kind="update", defect_id=low.defect_id, severity="medium")
    out = m.on_event(rose, at(1.2))
    assert out is not None and out.active and out.count == 1
    higher = frame_event(4, kind="update", defect_id=low.defect_id, severity="high")
    assert m.on_event(higher, at(1.3)) is None  # already counted: one defect, one raise
    end = frame_event(5, kind="end", defect_id=low.defect_id, severity="high")
    assert m.on_event(end, at(1.4)) is None
    assert m.state is not None and m.state.count == 1


def test_latched_alarm_stays_until_ack_and_ack_for_another_alarm_is_ignored() -> None:
    m = machine(clear="ack")
    ev = frame_event(1)
    assert m.on_event(ev, at(1.0)) is not None
    assert m.tick(at(10_000.0)) is None and m.active  # no timeout in ack mode
    other = frame_event(9).event_id
    assert m.on_ack(AlarmAck(v=1, event_id=other), at(10_001.0)) is None
    assert m.active
    cleared = m.on_ack(AlarmAck(v=1, event_id=ev.defect_id, by="plc"), at(10_002.0))
    assert cleared is not None
    assert (cleared.active, cleared.code, cleared.count, cleared.cleared_by) == (
        False, 0, 0, "ack",
    )
    assert cleared.event_id == ev.defect_id  # names the alarm that was cleared
    assert m.on_ack(AlarmAck(v=1), at(10_003.0)) is None  # nothing active: nothing to publish


def test_auto_clear_counts_from_the_last_raising_defect_and_ack_clears_earlier() -> None:
    m = machine(clear="auto", auto_clear_s=5.0, min_interval_s=0)
    m.on_event(frame_event(1), at(10.0))
    m.on_event(frame_event(2), at(13.0))
    assert m.next_deadline() == pytest.approx(18.0)
    assert m.tick(at(17.9)) is None
    cleared = m.tick(at(18.0))
    assert cleared is not None and cleared.cleared_by == "timeout" and not cleared.active
    assert m.next_deadline() is None
    m.on_event(frame_event(3), at(20.0))
    early = m.on_ack(AlarmAck(v=1), at(21.0))
    assert early is not None and early.cleared_by == "ack"
    assert m.tick(at(30.0)) is None


def test_rate_limit_holds_count_updates_back_but_never_loses_the_last_count() -> None:
    m = machine(min_interval_s=0.5)
    assert m.on_event(frame_event(1), at(1.0)) is not None  # the raise itself: immediate
    for i in range(2, 50):  # a defect storm within 0.1 s
        assert m.on_event(frame_event(i), at(1.0 + i * 0.002)) is None
    assert m.next_deadline() == pytest.approx(1.5)
    assert m.tick(at(1.4)) is None
    update = m.tick(at(1.5))
    assert update is not None and update.count == 49
    assert m.tick(at(5.0)) is None  # nothing new


def test_clear_and_new_raise_are_transitions_and_never_delayed() -> None:
    m = machine(min_interval_s=10.0)
    first = frame_event(1)
    assert m.on_event(first, at(1.0)) is not None
    assert m.on_ack(AlarmAck(v=1), at(1.1)) is not None
    assert m.on_event(frame_event(2), at(1.2)) is not None


def test_plain_mode_publishes_transitions_only() -> None:
    m = machine(payload="plain", min_interval_s=0)
    raised = m.on_event(frame_event(1), at(1.0))
    assert raised is not None and wire_payload(raised, "plain") == b"1"
    assert m.on_event(frame_event(2), at(2.0)) is None  # "1" again says nothing new
    cleared = m.on_ack(AlarmAck(v=1), at(3.0))
    assert cleared is not None and wire_payload(cleared, "plain") == b"0"


def test_json_payload_parses_back_through_the_contract() -> None:
    m = machine()
    raised = m.on_event(frame_event(1), at(1.0))
    assert raised is not None
    msg = parse_message(topic("alarm"), wire_payload(raised, "json"))
    assert msg.payload == raised


# -- restore at start-up ------------------------------------------------------------------------
def _latched(event_id: str, count: int = 3) -> Alarm:
    m = AlarmMachine(AlarmSettings())
    m.restore(None, at(0.0))
    ev = frame_event(1)
    ev = ev.model_copy(update={"event_id": event_id, "defect_id": event_id})
    out = m.on_event(ev, at(1.0))
    assert out is not None
    return out.model_copy(update={"count": count})


def test_restore_keeps_a_latched_alarm_without_republishing_it() -> None:
    ev = frame_event(7)
    retained = _latched(ev.event_id)
    m = AlarmMachine(AlarmSettings(clear="ack"))
    assert m.restore(retained, at(0.0)) is None  # the broker already holds exactly this
    assert m.active and m.state == retained
    cleared = m.on_ack(AlarmAck(v=1, event_id=ev.event_id), at(1.0))
    assert cleared is not None and cleared.cleared_by == "ack"


@pytest.mark.parametrize("retained", [None, "inactive"])
def test_restore_without_a_pending_alarm_publishes_startup(retained: str | None) -> None:
    m = AlarmMachine(AlarmSettings())
    prev = None
    if retained == "inactive":
        prev = Alarm(v=1, active=False, code=0, count=0, cleared_by="ack",
                     ts="2026-01-01T00:00:00.000Z", ts_ms=1_767_225_600_000)
    out = m.restore(prev, at(0.0))
    assert out is not None and not out.active and out.cleared_by == "startup"
    assert m.restore(None, at(1.0)) is None  # only the first restore counts


def test_restore_of_a_plain_one_latches_until_a_plain_ack() -> None:
    m = AlarmMachine(AlarmSettings(payload="plain"))
    assert m.restore(AlarmPlain(active=True), at(0.0)) is None
    assert m.active
    cleared = m.on_ack(AlarmAck(v=1), at(1.0))
    assert cleared is not None and wire_payload(cleared, "plain") == b"0"


def test_anything_decided_before_the_restore_wins_over_the_older_retained_state() -> None:
    m = AlarmMachine(AlarmSettings())
    raised = m.on_event(frame_event(1), at(0.5))  # broker was down at start: raised locally
    assert raised is not None
    old = _latched(frame_event(2).event_id)
    assert m.restore(old, at(1.0)) is None
    assert m.state == raised


def test_auto_mode_restored_alarm_clears_after_the_timeout_from_restart() -> None:
    m = AlarmMachine(AlarmSettings(clear="auto", auto_clear_s=5.0))
    assert m.restore(_latched(frame_event(1).event_id), at(100.0)) is None
    assert m.tick(at(104.0)) is None
    cleared = m.tick(at(105.0))
    assert cleared is not None and cleared.cleared_by == "timeout"
