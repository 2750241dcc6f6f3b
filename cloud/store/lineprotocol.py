"""InfluxDB line protocol encoding: pure functions, one line per point.

Escaping follows what influxd actually parses (checked against the 1.6 server in the tests),
which is narrower than "escape every backslash":

* measurement: ``,`` and space are escaped with a backslash;
* tag keys, tag values, field keys: ``,``, ``=`` and space are escaped. A backslash is kept as
  is (the server does not unescape ``\\\\`` in these places), so a name *ending* in a backslash
  cannot be written at all and is rejected here;
* string field values: double-quoted, ``"`` and ``\\`` escaped; newlines are kept verbatim
  inside the quotes (influxd reads them back unchanged);
* newline or carriage return anywhere but a string field value is rejected: the server would
  split the point there.

Empty tag values are left out of the line (line protocol has no empty tag value).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

FieldValue = bool | int | float | str

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

_MEASUREMENT = str.maketrans({",": "\\,", " ": "\\ "})
_KEY = str.maketrans({",": "\\,", "=": "\\=", " ": "\\ "})
_STRING = str.maketrans({'"': '\\"', "\\": "\\\\"})


class LineProtocolError(ValueError):
    """A point that line protocol cannot represent; the message names the part."""


def _check_name(what: str, text: str) -> None:
    if not text:
        raise LineProtocolError(f"{what} must not be empty")
    if "\n" in text or "\r" in text:
        raise LineProtocolError(f"{what} {text[:64]!r} contains a line break")
    if text.endswith("\\"):
        raise LineProtocolError(
            f"{what} {text[:64]!r} ends with a backslash, which line protocol cannot represent"
        )


# Names and tag values repeat on every point (a few dozen distinct ones), so escaping is cached:
# it is most of the encoder's cost otherwise.
@functools.lru_cache(maxsize=8192)
def escape_measurement(name: str) -> str:
    _check_name("measurement", name)
    return name.translate(_MEASUREMENT)


@functools.lru_cache(maxsize=8192)
def escape_key(what: str, text: str) -> str:
    """Escape a tag key, tag value or field key (``what`` names it in errors)."""
    _check_name(what, text)
    return text.translate(_KEY)


def _format_float(key: str, value: float) -> str:
    if not math.isfinite(value):
        raise LineProtocolError(f"field {key!r}: {value} is not a finite number")
    return repr(value)


def _format_str(key: str, value: str) -> str:
    return '"' + value.translate(_STRING) + '"'


def _format_int(key: str, value: int) -> str:
    if not INT64_MIN <= value <= INT64_MAX:
        raise LineProtocolError(f"field {key!r}: integer {value} does not fit in int64")
    return f"{value}i"


def _format_bool(key: str, value: bool) -> str:
    return "true" if value else "false"


def _format_other(key: str, value: FieldValue) -> str:
    # Subclasses of the four types (an IntEnum, a str subclass...): bool before int, because
    # True is an int in Python but a boolean in line protocol.
    for kind, fmt in _BY_BASE:
        if isinstance(value, kind):
            return fmt(key, value)
    raise LineProtocolError(f"field {key!r}: unsupported type {type(value).__name__}")


_Formatter = Callable[[str, Any], str]
_BY_BASE: tuple[tuple[type, _Formatter], ...] = (
    (bool, _format_bool),
    (int, _format_int),
    (float, _format_float),
    (str, _format_str),
)
_BY_TYPE: dict[type, _Formatter] = dict(_BY_BASE)


def format_field_value(key: str, value: FieldValue) -> str:
    return _BY_TYPE.get(type(value), _format_other)(key, value)


@functools.lru_cache(maxsize=8192)
def _field_prefix(key: str) -> str:
    return escape_key("field key", key) + "="


def encode_tags(tags: Iterable[tuple[str, str]]) -> str:
    """``,k=v,...`` for the non-empty tags, sorted by key as the server prefers."""
    parts = []
    for key, value in sorted(tags):
        if value == "":
            continue
        parts.append(f",{escape_key('tag key', key)}={escape_key('tag value', value)}")
    return "".join(parts)


@functools.lru_cache(maxsize=4096)
def _head(measurement: str, tags: tuple[tuple[str, str], ...]) -> str:
    # A line's "measurement,tags" part: the same few hundred combinations over and over.
    return escape_measurement(measurement) + encode_tags(tags)


def encode_fields(fields: Mapping[str, FieldValue]) -> str:
    if not fields:
        raise LineProtocolError("a point needs at least one field")
    by_type = _BY_TYPE
    return ",".join(
        [
            _field_prefix(key) + by_type.get(type(value), _format_other)(key, value)
            for key, value in fields.items()
        ]
    )


def encode_line(
    measurement: str,
    tags: Iterable[tuple[str, str]],
    fields: Mapping[str, FieldValue],
    timestamp: int,
) -> str:
    """One line of line protocol (no trailing newline); ``timestamp`` in the write precision."""
    if isinstance(timestamp, bool) or not isinstance(timestamp, int):
        raise LineProtocolError(f"timestamp must be an integer, got {timestamp!r}")
    if not INT64_MIN <= timestamp <= INT64_MAX:
        raise LineProtocolError(f"timestamp {timestamp} does not fit in int64")
    head = _head(measurement, tags if type(tags) is tuple else tuple(tags))
    return f"{head} {encode_fields(fields)} {timestamp}"
