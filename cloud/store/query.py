"""What the query API asks of a store, and the rows it gets back. Both the InfluxQL backend and
the embedded SQLite store implement :class:`QueryStore` with the same bucket alignment (buckets
start at multiples of the interval since the Unix epoch, as InfluxQL's ``GROUP BY time()``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

GroupKey = Literal["site", "line", "station", "camera", "class"]
GROUP_KEYS: tuple[GroupKey, ...] = ("site", "line", "station", "camera", "class")


@dataclass(frozen=True)
class Scope:
    """Filters on the tags; ``None`` means any."""

    site: str | None = None
    line: str | None = None
    station: str | None = None
    camera: str | None = None
    class_name: str | None = None

    def tag_filters(self, with_class: bool = True) -> list[tuple[str, str]]:
        pairs = [
            ("site", self.site),
            ("line", self.line),
            ("station", self.station),
            ("camera", self.camera),
        ]
        if with_class:
            pairs.append(("class", self.class_name))
        return [(k, v) for k, v in pairs if v is not None]


@dataclass(frozen=True)
class TimeRange:
    start_us: int
    end_us: int  # exclusive

    def __post_init__(self) -> None:
        if self.end_us <= self.start_us:
            raise ValueError("time range end must be after its start")


@dataclass(frozen=True)
class CountRow:
    bucket_us: int
    group: dict[str, str]
    defects: int


@dataclass(frozen=True)
class InspectedRow:
    bucket_us: int
    group: dict[str, str]
    frames_inspected: int
    parts_seen: int


@dataclass(frozen=True)
class CameraState:
    site: str
    line: str
    station: str
    camera: str
    status: dict[str, Any] | None = None
    stats: dict[str, Any] | None = None
    alarm: dict[str, Any] | None = None


@dataclass(frozen=True)
class Record:
    """One stored point as tags + fields + time (events, alarms)."""

    time_us: int
    tags: dict[str, str]
    fields: dict[str, Any] = field(default_factory=dict)


class QueryStore(Protocol):
    def defect_counts(
        self, scope: Scope, rng: TimeRange, interval_s: int, group_by: tuple[GroupKey, ...]
    ) -> list[CountRow]:
        """New defects (events of kind ``new``) per bucket and group."""

    def inspected(
        self, scope: Scope, rng: TimeRange, interval_s: int, group_by: tuple[GroupKey, ...]
    ) -> list[InspectedRow]:
        """Frames and parts inspected per bucket and group, from the edge stats (``class`` in
        ``group_by`` or in ``scope`` is ignored: the denominators have no class)."""

    def latest_events(self, scope: Scope, rng: TimeRange, limit: int) -> list[Record]:
        """Newest first."""

    def alarms(self, scope: Scope, rng: TimeRange, limit: int) -> list[Record]:
        """Alarm state changes, newest first."""

    def camera_states(self, scope: Scope) -> list[CameraState]:
        """Latest status, stats and alarm of every camera that ever reported."""

    def close(self) -> None: ...


Latest = dict[tuple[str, ...], "Record"]
"""The newest record of a measurement per camera, keyed by (site, line, station, camera)."""


def camera_states(status: Latest, stats: Latest, alarms: Latest) -> list[CameraState]:
    """One state per camera seen in any of the three, sorted by camera key."""

    def view(rec: Record | None) -> dict[str, Any] | None:
        return None if rec is None else {"time_us": rec.time_us, **rec.fields}

    out = []
    for key in sorted(set(status) | set(stats) | set(alarms)):
        site, line, station, camera = key
        out.append(
            CameraState(
                site,
                line,
                station,
                camera,
                status=view(status.get(key)),
                stats=view(stats.get(key)),
                alarm=view(alarms.get(key)),
            )
        )
    return out
