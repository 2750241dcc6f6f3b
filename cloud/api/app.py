"""The query API: defect counts and rates, latest events, camera status, alarms. The same
endpoints run on InfluxDB (InfluxQL) and on the embedded SQLite store."""

# No `from __future__ import annotations`: FastAPI reads the endpoint signatures at run time,
# and they use aliases local to create_app.
import hmac
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse

from cloud.api.models import (
    CameraStatus,
    CountBucket,
    CountsResponse,
    Health,
    PointsResponse,
    RateBucket,
    RatesResponse,
    StatusResponse,
    StoredPoint,
)
from cloud.api.rates import join_rates
from cloud.store.query import GroupKey, QueryStore, Record, Scope, TimeRange
from cloud.store.writer import StoreUnavailable, WriteError

MAX_BUCKETS = 10_000
DEFAULT_SPAN_S = 24 * 3600
ID = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$"


def _utc(ts_us: int) -> datetime:
    return datetime.fromtimestamp(ts_us / 1e6, tz=timezone.utc)


def _us(dt: datetime) -> int:
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return int(dt.timestamp() * 1_000_000)


def _stored(rec: Record) -> StoredPoint:
    return StoredPoint(time=_utc(rec.time_us), tags=rec.tags, fields=rec.fields)


def create_app(
    store: QueryStore,
    token: str | None = None,
    clock: Callable[[], float] = time.time,
) -> FastAPI:
    app = FastAPI(
        title="lineinspect query API",
        version="1",
        description="Defect counts and rates (defects / parts or frames inspected), latest "
        "events, camera status and alarms, from InfluxDB or the embedded store.",
    )

    def authorize(request: Request) -> None:
        if token is None:
            return
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            raise HTTPException(401, "missing or wrong bearer token")

    def scope(
        site: Annotated[str | None, Query(pattern=ID)] = None,
        line: Annotated[str | None, Query(pattern=ID)] = None,
        station: Annotated[str | None, Query(pattern=ID)] = None,
        camera: Annotated[str | None, Query(pattern=ID)] = None,
        class_name: Annotated[
            str | None, Query(alias="class", min_length=1, max_length=64)
        ] = None,
    ) -> Scope:
        return Scope(site, line, station, camera, class_name)

    def time_range(
        start: Annotated[datetime | None, Query(description="default: end - 24 h")] = None,
        end: Annotated[datetime | None, Query(description="default: now")] = None,
    ) -> TimeRange:
        end_us = _us(end) if end is not None else int(clock() * 1_000_000)
        start_us = _us(start) if start is not None else end_us - DEFAULT_SPAN_S * 1_000_000
        if end_us <= start_us:
            raise HTTPException(422, "end must be after start")
        return TimeRange(start_us, end_us)

    Auth = Depends(authorize)
    ScopeDep = Annotated[Scope, Depends(scope)]
    RangeDep = Annotated[TimeRange, Depends(time_range)]
    Interval = Annotated[int, Query(ge=1, le=31 * 86400, description="bucket width, seconds")]
    GroupBy = Annotated[
        list[GroupKey], Query(description="tags to group by; repeat the parameter")
    ]
    Limit = Annotated[int, Query(ge=1, le=10_000)]

    def check_buckets(rng: TimeRange, interval_s: int) -> None:
        n = (rng.end_us - rng.start_us) / (interval_s * 1_000_000)
        if n > MAX_BUCKETS:
            raise HTTPException(
                422, f"{n:.0f} buckets requested; at most {MAX_BUCKETS}: widen interval_s"
            )

    @app.exception_handler(StoreUnavailable)
    def _unavailable(request: Request, exc: StoreUnavailable) -> JSONResponse:
        return JSONResponse({"detail": f"store unavailable: {exc}"}, status_code=503)

    @app.exception_handler(WriteError)
    def _store_error(request: Request, exc: WriteError) -> JSONResponse:
        return JSONResponse({"detail": f"store error: {exc}"}, status_code=502)

    @app.get("/healthz", response_model=Health)
    def healthz() -> Health:
        return Health(status="ok")

    @app.get("/api/v1/defects/counts", response_model=CountsResponse, dependencies=[Auth])
    def defect_counts(
        sc: ScopeDep,
        rng: RangeDep,
        interval_s: Interval = 3600,
        group_by: GroupBy = [],  # noqa: B006 (FastAPI copies query defaults)
    ) -> CountsResponse:
        check_buckets(rng, interval_s)
        keys = tuple(dict.fromkeys(group_by))
        rows = store.defect_counts(sc, rng, interval_s, keys)
        return CountsResponse(
            start=_utc(rng.start_us),
            end=_utc(rng.end_us),
            interval_s=interval_s,
            group_by=list(keys),
            buckets=[
                CountBucket(time=_utc(r.bucket_us), group=r.group, defects=r.defects)
                for r in rows
            ],
        )

    @app.get("/api/v1/defects/rates", response_model=RatesResponse, dependencies=[Auth])
    def defect_rates(
        sc: ScopeDep,
        rng: RangeDep,
        interval_s: Interval = 3600,
        group_by: GroupBy = [],  # noqa: B006
    ) -> RatesResponse:
        check_buckets(rng, interval_s)
        keys = tuple(dict.fromkeys(group_by))
        counts = store.defect_counts(sc, rng, interval_s, keys)
        inspected = store.inspected(sc, rng, interval_s, keys)
        rows = join_rates(counts, inspected, keys)
        return RatesResponse(
            start=_utc(rng.start_us),
            end=_utc(rng.end_us),
            interval_s=interval_s,
            group_by=list(keys),
            buckets=[
                RateBucket(
                    time=_utc(r.bucket_us),
                    group=r.group,
                    defects=r.defects,
                    frames_inspected=r.frames_inspected,
                    parts_seen=r.parts_seen,
                    rate_per_part=r.per_part,
                    rate_per_frame=r.per_frame,
                )
                for r in rows
            ],
        )

    @app.get("/api/v1/events/latest", response_model=PointsResponse, dependencies=[Auth])
    def latest_events(sc: ScopeDep, rng: RangeDep, limit: Limit = 50) -> PointsResponse:
        return PointsResponse(items=[_stored(r) for r in store.latest_events(sc, rng, limit)])

    @app.get("/api/v1/alarms", response_model=PointsResponse, dependencies=[Auth])
    def alarms(sc: ScopeDep, rng: RangeDep, limit: Limit = 100) -> PointsResponse:
        return PointsResponse(items=[_stored(r) for r in store.alarms(sc, rng, limit)])

    @app.get("/api/v1/cameras/status", response_model=StatusResponse, dependencies=[Auth])
    def camera_status(sc: ScopeDep) -> StatusResponse:
        return StatusResponse(
            cameras=[
                CameraStatus(
                    site=c.site,
                    line=c.line,
                    station=c.station,
                    camera=c.camera,
                    status=c.status,
                    stats=c.stats,
                    alarm=c.alarm,
                )
                for c in store.camera_states(sc)
            ]
        )

    return app
