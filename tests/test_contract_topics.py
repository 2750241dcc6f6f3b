"""Topic building and parsing: every kind round-trips, unsafe ids and foreign topics are refused."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lineinspect.contract import (
    DELIVERY,
    ID_PATTERN,
    ContractError,
    TopicAddress,
    TopicKind,
    build_topic,
    parse_topic,
    subscription_filter,
)

ids = st.from_regex(ID_PATTERN, fullmatch=True)
CAMERA_KINDS = [
    TopicKind.EVENTS,
    TopicKind.ALARM,
    TopicKind.ALARM_ACK,
    TopicKind.STATUS,
    TopicKind.STATS,
]


@pytest.mark.parametrize(
    ("kind", "camera", "topic"),
    [
        (TopicKind.EVENTS, "cam1", "lineinspect/v1/p1/l3/st2/cam1/events"),
        (TopicKind.ALARM, "cam1", "lineinspect/v1/p1/l3/st2/cam1/alarm"),
        (TopicKind.ALARM_ACK, "cam1", "lineinspect/v1/p1/l3/st2/cam1/alarm/ack"),
        (TopicKind.STATUS, "cam1", "lineinspect/v1/p1/l3/st2/cam1/status"),
        (TopicKind.STATS, "cam1", "lineinspect/v1/p1/l3/st2/cam1/stats"),
        (TopicKind.AVAILABILITY, None, "lineinspect/v1/p1/l3/st2/availability"),
    ],
)
def test_exact_topic_strings(kind: TopicKind, camera: str | None, topic: str) -> None:
    assert build_topic(kind, "p1", "l3", "st2", camera) == topic
    assert parse_topic(topic) == TopicAddress(kind, "p1", "l3", "st2", camera)


def test_deadletter_topic() -> None:
    assert build_topic(TopicKind.DEADLETTER) == "lineinspect/v1/_deadletter"
    assert parse_topic("lineinspect/v1/_deadletter").kind is TopicKind.DEADLETTER


def test_delivery_rules_match_the_contract() -> None:
    assert (DELIVERY[TopicKind.EVENTS].qos, DELIVERY[TopicKind.EVENTS].retain) == (1, False)
    assert (DELIVERY[TopicKind.ALARM].qos, DELIVERY[TopicKind.ALARM].retain) == (1, True)
    assert DELIVERY[TopicKind.ALARM_ACK].retain is False
    assert DELIVERY[TopicKind.STATUS].retain is True
    assert DELIVERY[TopicKind.STATS].qos == 0
    assert DELIVERY[TopicKind.AVAILABILITY].retain is True
    assert set(DELIVERY) == set(TopicKind)


@given(site=ids, line=ids, station=ids, camera=ids, kind=st.sampled_from(CAMERA_KINDS))
def test_camera_topics_round_trip(
    site: str, line: str, station: str, camera: str, kind: TopicKind
) -> None:
    topic = build_topic(kind, site, line, station, camera)
    assert parse_topic(topic) == TopicAddress(kind, site, line, station, camera)


@given(site=ids, line=ids, station=ids)
def test_station_topics_round_trip(site: str, line: str, station: str) -> None:
    topic = build_topic(TopicKind.AVAILABILITY, site, line, station)
    assert parse_topic(topic) == TopicAddress(TopicKind.AVAILABILITY, site, line, station)


@pytest.mark.parametrize(
    "bad", ["a/b", "+", "#", "a b", "", "$SYS", "_deadletter", "x" * 65, "cam\n", "ü", "-x"]
)
def test_build_rejects_unsafe_ids(bad: str) -> None:
    with pytest.raises(ValueError, match="camera id"):
        build_topic(TopicKind.EVENTS, "p1", "l1", "s1", bad)
    with pytest.raises(ValueError, match="site id"):
        build_topic(TopicKind.AVAILABILITY, bad, "l1", "s1")


def test_build_requires_camera_exactly_for_camera_kinds() -> None:
    with pytest.raises(ValueError, match="camera id is required"):
        build_topic(TopicKind.EVENTS, "p", "l", "s")
    with pytest.raises(ValueError, match="station-level"):
        build_topic(TopicKind.AVAILABILITY, "p", "l", "s", "cam1")


@pytest.mark.parametrize(
    "topic",
    [
        "lineinspect/v2/p/l/s/c/events",
        "other/v1/p/l/s/c/events",
        "lineinspect/v1/p/l/s/c/unknown",
        "lineinspect/v1/p/l/s/c/availability",
        "lineinspect/v1/p/l/s/events",
        "lineinspect/v1/p/l/s/c/events/extra",
        "lineinspect/v1/p/l/s/c/alarm/nack",
        "lineinspect/v1/p/l/s/c d/events",
        "lineinspect/v1/p/l/+/c/events",
        "lineinspect/v1/p//s/c/events",
        "lineinspect/v1/_deadletter/x",
        "lineinspect/v1/" + "a/" * 300 + "events",
        "",
    ],
)
def test_parse_rejects_foreign_topics(topic: str) -> None:
    with pytest.raises(ContractError) as exc:
        parse_topic(topic)
    assert exc.value.code == "bad_topic"


@given(st.text(max_size=200))
def test_parse_junk_only_raises_contract_error(topic: str) -> None:
    with contextlib.suppress(ContractError):
        parse_topic(topic)


def test_subscription_filters() -> None:
    assert subscription_filter(TopicKind.EVENTS) == "lineinspect/v1/+/+/+/+/events"
    assert subscription_filter(TopicKind.ALARM_ACK) == "lineinspect/v1/+/+/+/+/alarm/ack"
    assert subscription_filter(TopicKind.AVAILABILITY) == "lineinspect/v1/+/+/+/availability"
    assert (
        subscription_filter(TopicKind.STATS, share_group="collectors")
        == "$share/collectors/lineinspect/v1/+/+/+/+/stats"
    )
    with pytest.raises(ValueError):
        subscription_filter(TopicKind.STATS, share_group="a/b")
