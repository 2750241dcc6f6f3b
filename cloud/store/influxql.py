"""The query store on InfluxDB through InfluxQL (1.x natively; 2.x/3.x through their v1
``/query`` compatibility endpoint, with the bucket mapped to a database).

The query builders are pure functions; every identifier and string literal goes through
:func:`quote_ident` / :func:`quote_str`, so a filter value cannot change the query."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cloud.store.influx_http import InfluxHttp, Series
from cloud.store.query import (
    CameraState,
    CountRow,
    GroupKey,
    InspectedRow,
    Latest,
    Record,
    Scope,
    TimeRange,
    camera_states,
)
from cloud.store.schema import ALARMS, DEFECTS, STATS, STATUS

_CAMERA = ("site", "line", "station", "camera")


def quote_ident(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def quote_str(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _conditions(scope: Scope, rng: TimeRange | None, with_class: bool) -> str:
    parts = []
    if rng is not None:
        parts.append(f"time >= {rng.start_us}u AND time < {rng.end_us}u")
    parts += [f"{quote_ident(k)} = {quote_str(v)}" for k, v in scope.tag_filters(with_class)]
    return (" WHERE " + " AND ".join(parts)) if parts else ""


def _group(interval_s: int | None, keys: Sequence[str]) -> str:
    items = [f"time({interval_s}s)"] if interval_s is not None else []
    items += [quote_ident(k) for k in keys]
    return (" GROUP BY " + ", ".join(items)) if items else ""


def counts_query(
    scope: Scope, rng: TimeRange, interval_s: int, group_by: Sequence[GroupKey]
) -> str:
    where = _conditions(scope, rng, with_class=True)
    return (
        f'SELECT count("event_id") AS "defects" FROM {quote_ident(DEFECTS)}{where} '
        f"AND \"kind\" = 'new'{_group(interval_s, group_by)} fill(none)"
    )


def inspected_query(
    scope: Scope, rng: TimeRange, interval_s: int, group_by: Sequence[GroupKey]
) -> str:
    keys = [k for k in group_by if k != "class"]
    where = _conditions(scope, rng, with_class=False)
    return (
        'SELECT sum("frames_inspected") AS "frames", sum("parts_seen") AS "parts" '
        f"FROM {quote_ident(STATS)}{where}{_group(interval_s, keys)} fill(none)"
    )


def recent_query(measurement: str, scope: Scope, rng: TimeRange, limit: int) -> str:
    where = _conditions(scope, rng, with_class=measurement == DEFECTS)
    return f"SELECT * FROM {quote_ident(measurement)}{where} ORDER BY time DESC LIMIT {int(limit)}"


def latest_per_camera_query(measurement: str, scope: Scope) -> str:
    where = _conditions(scope, None, with_class=False)
    return (
        f"SELECT * FROM {quote_ident(measurement)}{where}{_group(None, _CAMERA)} "
        "ORDER BY time DESC LIMIT 1"
    )


def _int(value: Any) -> int:
    return int(value) if value is not None else 0


class InfluxQueryStore:
    def __init__(self, http: InfluxHttp, database: str) -> None:
        self._http = http
        self.database = database

    def _series(self, q: str) -> list[Series]:
        results = self._http.query(q, db=self.database)
        return results[0] if results else []

    def defect_counts(
        self, scope: Scope, rng: TimeRange, interval_s: int, group_by: tuple[GroupKey, ...]
    ) -> list[CountRow]:
        rows = []
        for s in self._series(counts_query(scope, rng, interval_s, group_by)):
            group: dict[str, str] = {k: s.tags.get(k, "") for k in group_by}
            for r in s.rows():
                rows.append(CountRow(int(r["time"]), group, _int(r["defects"])))
        return sorted(rows, key=lambda r: (r.bucket_us, tuple(r.group.values())))

    def inspected(
        self, scope: Scope, rng: TimeRange, interval_s: int, group_by: tuple[GroupKey, ...]
    ) -> list[InspectedRow]:
        keys = tuple(k for k in group_by if k != "class")
        rows = []
        for s in self._series(inspected_query(scope, rng, interval_s, keys)):
            group: dict[str, str] = {k: s.tags.get(k, "") for k in keys}
            for r in s.rows():
                rows.append(
                    InspectedRow(int(r["time"]), group, _int(r["frames"]), _int(r["parts"]))
                )
        return sorted(rows, key=lambda r: (r.bucket_us, tuple(r.group.values())))

    def _records(self, q: str, tag_keys: Sequence[str]) -> list[Record]:
        out = []
        for s in self._series(q):
            for r in s.rows():
                tags = dict(s.tags)
                tags.update({k: r.pop(k) for k in tag_keys if k in r and r[k] is not None})
                for k in tag_keys:
                    r.pop(k, None)
                time_us = int(r.pop("time"))
                fields = {k: v for k, v in r.items() if v is not None}
                out.append(Record(time_us, {k: v for k, v in tags.items() if v}, fields))
        return out

    def latest_events(self, scope: Scope, rng: TimeRange, limit: int) -> list[Record]:
        tag_keys = (*_CAMERA, "class", "model_version")
        return self._records(recent_query(DEFECTS, scope, rng, limit), tag_keys)

    def alarms(self, scope: Scope, rng: TimeRange, limit: int) -> list[Record]:
        return self._records(recent_query(ALARMS, scope, rng, limit), _CAMERA)

    def _latest(self, measurement: str, scope: Scope) -> Latest:
        records = self._records(latest_per_camera_query(measurement, scope), _CAMERA)
        return {tuple(rec.tags.get(k, "") for k in _CAMERA): rec for rec in records}

    def camera_states(self, scope: Scope) -> list[CameraState]:
        return camera_states(
            self._latest(STATUS, scope), self._latest(STATS, scope), self._latest(ALARMS, scope)
        )

    def close(self) -> None:
        self._http.close()
