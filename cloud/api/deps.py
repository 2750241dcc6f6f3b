"""What every query route depends on: the store, the bearer-token check, and the query
parameters that select data (scope, time range, bucket width, grouping, limit).

``create_app`` puts one :class:`QueryDeps` on ``app.state``; the routes reach it through
FastAPI's dependency injection, so the route modules hold no state of their own.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Annotated

from fastapi import Depends, HTTPException, Query, Request

from cloud.api.models import StoredPoint
from cloud.store.query import GroupKey, QueryStore, Record, Scope, TimeRange

MAX_BUCKETS = 10_000
DEFAULT_SPAN_S = 24 * 3600
ID = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$"


@dataclass(frozen=True)
class QueryDeps:
    store: QueryStore
    token: str | None
    clock: Callable[[], float]  # Unix seconds; the default end of a time range


def query_deps(request: Request) -> QueryDeps:
    deps: QueryDeps = request.app.state.query_deps
    return deps


Deps = Annotated[QueryDeps, Depends(query_deps)]


def authorize(request: Request, deps: Deps) -> None:
    if deps.token is None:
        return
    given = request.headers.get("authorization", "")
    if not hmac.compare_digest(given.encode(), f"Bearer {deps.token}".encode()):
        raise HTTPException(401, "missing or wrong bearer token")


def scope(
    site: Annotated[str | None, Query(pattern=ID)] = None,
    line: Annotated[str | None, Query(pattern=ID)] = None,
    station: Annotated[str | None, Query(pattern=ID)] = None,
    camera: Annotated[str | None, Query(pattern=ID)] = None,
    class_name: Annotated[str | None, Query(alias="class", min_length=1, max_length=64)] = None,
) -> Scope:
    return Scope(site, line, station, camera, class_name)


def utc(ts_us: int) -> datetime:
    return datetime.fromtimestamp(ts_us / 1e6, tz=timezone.utc)


def unix_us(dt: datetime) -> int:
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return int(dt.timestamp() * 1_000_000)


def stored(rec: Record) -> StoredPoint:
    return StoredPoint(time=utc(rec.time_us), tags=rec.tags, fields=rec.fields)


def time_range(
    deps: Deps,
    start: Annotated[datetime | None, Query(description="default: end - 24 h")] = None,
    end: Annotated[datetime | None, Query(description="default: now")] = None,
) -> TimeRange:
    end_us = unix_us(end) if end is not None else int(deps.clock() * 1_000_000)
    start_us = unix_us(start) if start is not None else end_us - DEFAULT_SPAN_S * 1_000_000
    if end_us <= start_us:
        raise HTTPException(422, "end must be after start")
    return TimeRange(start_us, end_us)


def check_buckets(rng: TimeRange, interval_s: int) -> None:
    n = (rng.end_us - rng.start_us) / (interval_s * 1_000_000)
    if n > MAX_BUCKETS:
        raise HTTPException(
            422, f"{n:.0f} buckets requested; at most {MAX_BUCKETS}: widen interval_s"
        )


Auth = Depends(authorize)
ScopeDep = Annotated[Scope, Depends(scope)]
RangeDep = Annotated[TimeRange, Depends(time_range)]
Interval = Annotated[int, Query(ge=1, le=31 * 86400, description="bucket width, seconds")]
GroupBy = Annotated[list[GroupKey], Query(description="tags to group by; repeat the parameter")]
Limit = Annotated[int, Query(ge=1, le=10_000)]
