"""A point as every store sees it: measurement, tags, fields, a microsecond timestamp, and its
line-protocol text, encoded once when the point is made (so a point that cannot be written is
known at intake, not in the middle of a batch)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from cloud.store.lineprotocol import FieldValue, encode_line

PRECISION = "u"
"""Timestamps are Unix microseconds: fine enough to give each event of a frame its own instant
within the frame's millisecond (see ``docs/collector.md``)."""


@dataclass(frozen=True, slots=True)
class Point:
    measurement: str
    tags: tuple[tuple[str, str], ...]
    fields: Mapping[str, FieldValue]
    time_us: int
    line: str

    def tag(self, key: str) -> str:
        for k, v in self.tags:
            if k == key:
                return v
        return ""


def make_point(
    measurement: str,
    tags: Mapping[str, str | None],
    fields: Mapping[str, FieldValue | None],
    time_us: int,
) -> Point:
    """A point with ``None`` tags and fields left out; raises ``LineProtocolError``."""
    kept_tags = tuple(sorted((k, v) for k, v in tags.items() if v))
    kept_fields = {k: v for k, v in fields.items() if v is not None}
    line = encode_line(measurement, kept_tags, kept_fields, time_us)
    return Point(measurement, kept_tags, kept_fields, time_us, line)
