"""Line protocol encoder: the escaping rules, table by table, then the same tricky values
written to a real influxd 1.6 and read back unchanged."""

from __future__ import annotations

import uuid

import pytest

from cloud.store.lineprotocol import (
    LineProtocolError,
    encode_fields,
    encode_line,
    encode_tags,
    escape_key,
    escape_measurement,
    format_field_value,
)
from lineinspect.testing import InfluxServer

MEASUREMENTS = [
    ("defect_events", "defect_events"),
    ("a b", "a\\ b"),
    ("a,b", "a\\,b"),
    ("a=b", "a=b"),  # '=' needs no escape in a measurement
    ('a"b', 'a"b'),
    ("a\\b", "a\\b"),  # backslash kept: influxd does not unescape it
    ("café", "café"),
]


@pytest.mark.parametrize(("name", "want"), MEASUREMENTS)
def test_measurement_escaping(name: str, want: str) -> None:
    assert escape_measurement(name) == want


KEYS = [
    ("station", "station"),
    ("a b", "a\\ b"),
    ("a,b", "a\\,b"),
    ("a=b", "a\\=b"),
    ("a, =b", "a\\,\\ \\=b"),
    ('"q"', '"q"'),  # quotes are literal in tags
    ("a\\b", "a\\b"),
    ("tab\there", "tab\there"),
]


@pytest.mark.parametrize(("text", "want"), KEYS)
def test_tag_and_field_key_escaping(text: str, want: str) -> None:
    assert escape_key("tag value", text) == want


STRINGS = [
    ("plain", '"plain"'),
    ('say "hi"', '"say \\"hi\\""'),
    ("back\\slash", '"back\\\\slash"'),
    ("ends\\", '"ends\\\\"'),
    ("two\nlines", '"two\nlines"'),  # kept verbatim inside the quotes
    ("cr\r\nlf", '"cr\r\nlf"'),
    ("a, b=c", '"a, b=c"'),  # no tag-style escaping inside a string
    ("", '""'),
]


@pytest.mark.parametrize(("text", "want"), STRINGS)
def test_string_field_values(text: str, want: str) -> None:
    assert format_field_value("f", text) == want


VALUES = [
    (True, "true"),
    (False, "false"),
    (0, "0i"),
    (-42, "-42i"),
    (2**63 - 1, "9223372036854775807i"),
    (-(2**63), "-9223372036854775808i"),
    (0.87, "0.87"),
    (2.0, "2.0"),
    (1e16, "1e+16"),
    (-1.5e-7, "-1.5e-07"),
]


@pytest.mark.parametrize(("value", "want"), VALUES)
def test_typed_field_values(value: bool | int | float, want: str) -> None:
    assert format_field_value("f", value) == want


BAD_VALUES = [
    (2**63, "int64"),
    (-(2**63) - 1, "int64"),
    (float("nan"), "finite"),
    (float("inf"), "finite"),
    (b"bytes", "unsupported type bytes"),
    (None, "unsupported type NoneType"),
]


@pytest.mark.parametrize(("value", "message"), BAD_VALUES)
def test_unrepresentable_field_values_are_refused(value: object, message: str) -> None:
    with pytest.raises(LineProtocolError, match=message):
        format_field_value("f", value)  # type: ignore[arg-type]


BAD_NAMES = [
    ("", "must not be empty"),
    ("two\nlines", "line break"),
    ("cr\rhere", "line break"),
    ("ends\\", "ends with a backslash"),
]


@pytest.mark.parametrize(("name", "message"), BAD_NAMES)
def test_names_that_cannot_be_written_are_refused(name: str, message: str) -> None:
    with pytest.raises(LineProtocolError, match=message):
        escape_measurement(name)
    with pytest.raises(LineProtocolError, match=message):
        escape_key("tag value", name)


def test_tags_sorted_and_empty_values_left_out() -> None:
    got = encode_tags([("station", "st 2"), ("camera", ""), ("class", "a,b"), ("line", "l3")])
    assert got == ",class=a\\,b,line=l3,station=st\\ 2"


def test_fields_keep_order_and_need_one() -> None:
    assert encode_fields({"b": 1, "a": "x", "c": True}) == 'b=1i,a="x",c=true'
    with pytest.raises(LineProtocolError, match="at least one field"):
        encode_fields({})


def test_whole_line() -> None:
    line = encode_line(
        "defect_events",
        [("station", "st2"), ("class", "scratch")],
        {"event_id": "abc", "confidence": 0.5, "track_id": 7},
        1_763_794_391_123_002,
    )
    assert line == (
        'defect_events,class=scratch,station=st2 event_id="abc",confidence=0.5,track_id=7i '
        "1763794391123002"
    )


@pytest.mark.parametrize("ts", [1.5, "1", True, 2**63])
def test_timestamp_must_be_an_int64(ts: object) -> None:
    with pytest.raises(LineProtocolError, match="timestamp"):
        encode_line("m", [], {"f": 1}, ts)  # type: ignore[arg-type]


# -- against the real server -------------------------------------------------------------------
ROUND_TRIP_TAGS = ["a b", "a,b", "a=b", "a, =b", '"q"', "a\\b", "a\\,b", "café", "tab\tx"]
ROUND_TRIP_STRINGS = [s for s, _ in STRINGS]


def test_round_trip_through_influxd(influx_session: InfluxServer) -> None:
    db = f"lp_{uuid.uuid4().hex[:8]}"
    influx_session.create_database(db)
    lines = []
    for i, tag in enumerate(ROUND_TRIP_TAGS):
        lines.append(encode_line("tags x,y", [("t k", tag)], {"i": i}, 1_000 + i))
    for i, text in enumerate(ROUND_TRIP_STRINGS):
        lines.append(encode_line("strings", [], {"s": text, "i": i}, 2_000 + i))
    numbers = {"b": True, "n": -(2**63), "x": 1e16, "y": -1.5e-7, "z": 0.87}
    lines.append(encode_line("numbers", [], numbers, 3_000))
    influx_session.write(lines, db=db, precision="u")

    tag_rows = influx_session.select('SELECT "i", "t k" FROM "tags x,y"', db=db)
    assert {r["i"]: r["t k"] for r in tag_rows} == dict(enumerate(ROUND_TRIP_TAGS))
    str_rows = influx_session.select('SELECT "i", "s" FROM "strings"', db=db)
    assert {r["i"]: r["s"] for r in str_rows} == dict(enumerate(ROUND_TRIP_STRINGS))
    (num,) = influx_session.select('SELECT * FROM "numbers"', db=db)
    assert {k: num[k] for k in numbers} == numbers
