"""Property tests of the v1 contract: any valid payload survives the wire unchanged, and no
input at all makes ``parse_message`` raise anything but ``ContractError``."""

from __future__ import annotations

import base64
import itertools
import json
from typing import Any, Literal

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from lineinspect.contract import (
    DEADLETTER_MAX_ORIGINAL,
    ID_PATTERN,
    MAX_PAYLOAD_BYTES,
    Alarm,
    AlarmAck,
    BoxPx,
    ContractError,
    DeadLetter,
    DefectEvent,
    FrameSize,
    LatencyMs,
    MaskRle,
    ModelRef,
    Payload,
    Severity,
    Stats,
    Status,
    TopicKind,
    build_topic,
    encode_payload,
    format_ts,
    make_dead_letter,
    parse_message,
)
from lineinspect.contract.examples import all_examples
from lineinspect.contract.ids import compose_uuid7
from lineinspect.contract.timefmt import MAX_EPOCH_MS

ids = st.from_regex(ID_PATTERN, fullmatch=True)
labels = st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=64)
stage_names = st.from_regex(r"^[a-z][a-z0-9_]{0,31}$", fullmatch=True)
epoch_ms = st.integers(0, MAX_EPOCH_MS)
counts = st.integers(0, 2**53 - 1)
unit = st.floats(0.0, 1.0)
uuid7s = st.builds(
    lambda ms, r: str(compose_uuid7(ms, r)), st.integers(0, 2**48 - 1), st.integers(0, 2**74 - 1)
)
severities: st.SearchStrategy[Severity] = st.sampled_from(["low", "medium", "high"])
models = st.builds(
    ModelRef, name=labels, version=labels, sha256=st.from_regex(r"^[0-9a-f]{64}$", fullmatch=True)
)


@st.composite
def masks(draw: st.DrawFn, h: int, w: int) -> MaskRle:
    cuts = sorted(draw(st.lists(st.integers(0, h * w), max_size=12)))
    bounds = [0, *cuts, h * w]
    return MaskRle(size=[h, w], counts=[b - a for a, b in itertools.pairwise(bounds)])


@st.composite
def events(draw: st.DrawFn) -> DefectEvent:
    frame = FrameSize(width=draw(st.integers(1, 8192)), height=draw(st.integers(1, 8192)))
    x1 = draw(st.floats(0, frame.width))
    y1 = draw(st.floats(0, frame.height))
    box = BoxPx(
        x1=x1, y1=y1, x2=draw(st.floats(x1, frame.width)), y2=draw(st.floats(y1, frame.height))
    )
    mask = None
    if frame.width * frame.height <= 10_000 and draw(st.booleans()):
        mask = draw(masks(frame.height, frame.width))
    area = float(mask.area()) if mask else draw(st.floats(0, frame.width * frame.height))
    kind: Literal["new", "update", "end"] = draw(st.sampled_from(["new", "update", "end"]))
    event_id = draw(uuid7s)
    defect_id = event_id if kind == "new" else draw(uuid7s.filter(lambda u: u != event_id))
    ms = draw(epoch_ms)
    return DefectEvent(
        v=1, event_id=event_id, defect_id=defect_id, kind=kind, ts=format_ts(ms), ts_ms=ms,
        site=draw(ids), line=draw(ids), station=draw(ids), camera=draw(ids),
        track_id=draw(counts), frame_seq=draw(counts), index_in_frame=draw(st.integers(0, 999)),
        class_name=draw(labels), class_id=draw(st.integers(0, 65535)), confidence=draw(unit),
        severity=draw(severities), zone=draw(st.none() | labels), box=box,
        box_norm=box.normalised(frame), frame=frame, mask=mask, area_px=area,
        area_mm2=draw(st.none() | st.floats(0, 1e12)), refined=draw(st.booleans()),
        model=draw(models),
    )  # fmt: skip


@st.composite
def alarms(draw: st.DrawFn) -> Alarm:
    ms = draw(epoch_ms)
    if draw(st.booleans()):
        return Alarm(
            v=1, active=True, code=draw(st.integers(1, 65535)), class_name=draw(labels),
            severity=draw(severities), zone=draw(st.none() | labels), event_id=draw(uuid7s),
            count=draw(st.integers(1, 2**53 - 1)), ts=format_ts(ms), ts_ms=ms,
        )  # fmt: skip
    return Alarm(
        v=1, active=False, code=0, count=0, event_id=draw(st.none() | uuid7s),
        cleared_by=draw(st.sampled_from(["ack", "timeout", "startup"])), ts=format_ts(ms), ts_ms=ms,
    )  # fmt: skip


@st.composite
def stats(draw: st.DrawFn) -> Stats:
    ms = draw(epoch_ms)
    lat = st.floats(0, 3.6e6).flatmap(
        lambda p50: st.floats(p50, 3.6e6).map(lambda p99: LatencyMs(p50=p50, p99=p99))
    )
    return Stats(
        v=1, ts=format_ts(ms), ts_ms=ms, interval_s=draw(st.floats(0.001, 86400)),
        frames_inspected=draw(counts), parts_seen=draw(counts),
        defects_by_class=draw(st.dictionaries(labels, counts, max_size=8)),
        fps=draw(st.floats(0, 10000)),
        latency_ms=draw(st.dictionaries(stage_names, lat, max_size=6)),
        drops=draw(st.dictionaries(stage_names, counts, max_size=6)), outbox_backlog=draw(counts),
    )  # fmt: skip


@st.composite
def statuses(draw: st.DrawFn) -> Status:
    ms = draw(epoch_ms)
    return Status(
        v=1, state=draw(st.sampled_from(["up", "down", "reconnecting"])), ts=format_ts(ms),
        ts_ms=ms, model=draw(st.none() | models), message=draw(st.text(max_size=256)),
    )  # fmt: skip


@st.composite
def deadletters(draw: st.DrawFn) -> DeadLetter:
    raw = draw(st.binary(max_size=2048))
    ms = draw(epoch_ms)
    return DeadLetter(
        v=1,
        reason_code=draw(st.sampled_from(["bad_topic", "oversize", "invalid", "store_rejected"])),
        reason=draw(st.text(max_size=200)), topic=draw(st.text(max_size=1024)),
        payload_b64=base64.b64encode(raw).decode(), payload_bytes=len(raw),
        truncated=draw(st.booleans()), received_ts=format_ts(ms), received_ts_ms=ms,
        collector=draw(st.none() | labels),
    )  # fmt: skip


acks = st.builds(
    AlarmAck, v=st.just(1), event_id=st.none() | uuid7s, by=st.none() | labels,
    ts_ms=st.none() | epoch_ms,
)  # fmt: skip


def round_trip(topic: str, payload: Payload) -> None:
    raw = encode_payload(payload)
    assume(len(raw) <= MAX_PAYLOAD_BYTES)
    assert parse_message(topic, raw).payload == payload


FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(events())
def test_events_round_trip(ev: DefectEvent) -> None:
    round_trip(build_topic(TopicKind.EVENTS, ev.site, ev.line, ev.station, ev.camera), ev)


def cam_topic(kind: TopicKind) -> str:
    return build_topic(kind, "p", "l", "s", "c")


@FUZZ
@given(alarms())
def test_alarms_round_trip(alarm: Alarm) -> None:
    round_trip(cam_topic(TopicKind.ALARM), alarm)


@FUZZ
@given(acks)
def test_acks_round_trip(ack: AlarmAck) -> None:
    round_trip(cam_topic(TopicKind.ALARM_ACK), ack)


@FUZZ
@given(statuses())
def test_status_round_trip(status: Status) -> None:
    round_trip(cam_topic(TopicKind.STATUS), status)


@FUZZ
@given(stats())
def test_stats_round_trip(s: Stats) -> None:
    round_trip(cam_topic(TopicKind.STATS), s)


@FUZZ
@given(deadletters())
def test_deadletters_round_trip(d: DeadLetter) -> None:
    round_trip(build_topic(TopicKind.DEADLETTER), d)


EXAMPLES = all_examples()
TOPICS = [t for t, _ in EXAMPLES]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


def parses_or_contract_error(topic: str, raw: bytes) -> None:
    try:
        parse_message(topic, raw)
    except ContractError as exc:
        assert exc.reason


@FUZZ
@given(st.sampled_from(TOPICS) | st.text(max_size=80), st.binary(max_size=512))
def test_random_bytes_only_raise_contract_error(topic: str, raw: bytes) -> None:
    parses_or_contract_error(topic, raw)


@FUZZ
@given(st.sampled_from(TOPICS), json_values)
def test_random_json_only_raises_contract_error(topic: str, value: Any) -> None:
    parses_or_contract_error(topic, json.dumps(value).encode())


@FUZZ
@given(st.sampled_from(range(len(EXAMPLES))), st.data())
def test_mutated_examples_only_raise_contract_error(index: int, data: st.DataObject) -> None:
    """Replace one field of a valid message with junk: valid or a ContractError, never a crash."""
    topic, payload = EXAMPLES[index]
    raw = encode_payload(payload)
    if not raw.startswith(b"{"):
        return
    obj = json.loads(raw)
    key = data.draw(st.sampled_from(sorted(obj)))
    obj[key] = data.draw(json_values)
    parses_or_contract_error(topic, json.dumps(obj).encode())


@FUZZ
@given(
    st.text(max_size=2000),
    st.binary(max_size=70_000),
    st.text(max_size=3000),
    epoch_ms,
    st.none() | st.text(max_size=100),
)
def test_any_rejected_message_makes_a_valid_dead_letter(
    topic: str, raw: bytes, reason: str, ms: int, collector: str | None
) -> None:
    letter = make_dead_letter(topic, raw, "invalid", reason, ms, collector)
    assert base64.b64decode(letter.payload_b64) == raw[:DEADLETTER_MAX_ORIGINAL]
    assert letter.truncated == (len(raw) > DEADLETTER_MAX_ORIGINAL)
    round_trip(build_topic(TopicKind.DEADLETTER), letter)
