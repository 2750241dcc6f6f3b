"""``/api/v1/defects/*``: defect counts per time bucket, and rates (per part, per frame)."""

from __future__ import annotations

from fastapi import APIRouter

from cloud.api.deps import Auth, Deps, GroupBy, Interval, RangeDep, ScopeDep, check_buckets, utc
from cloud.api.models import CountBucket, CountsResponse, RateBucket, RatesResponse
from cloud.api.rates import join_rates

router = APIRouter(prefix="/api/v1/defects", dependencies=[Auth])


@router.get("/counts", response_model=CountsResponse)
def defect_counts(
    deps: Deps,
    sc: ScopeDep,
    rng: RangeDep,
    interval_s: Interval = 3600,
    group_by: GroupBy = [],  # noqa: B006 (FastAPI copies query defaults)
) -> CountsResponse:
    check_buckets(rng, interval_s)
    keys = tuple(dict.fromkeys(group_by))
    rows = deps.store.defect_counts(sc, rng, interval_s, keys)
    return CountsResponse(
        start=utc(rng.start_us),
        end=utc(rng.end_us),
        interval_s=interval_s,
        group_by=list(keys),
        buckets=[
            CountBucket(time=utc(r.bucket_us), group=r.group, defects=r.defects) for r in rows
        ],
    )


@router.get("/rates", response_model=RatesResponse)
def defect_rates(
    deps: Deps,
    sc: ScopeDep,
    rng: RangeDep,
    interval_s: Interval = 3600,
    group_by: GroupBy = [],  # noqa: B006
) -> RatesResponse:
    check_buckets(rng, interval_s)
    keys = tuple(dict.fromkeys(group_by))
    counts = deps.store.defect_counts(sc, rng, interval_s, keys)
    inspected = deps.store.inspected(sc, rng, interval_s, keys)
    rows = join_rates(counts, inspected, keys)
    return RatesResponse(
        start=utc(rng.start_us),
        end=utc(rng.end_us),
        interval_s=interval_s,
        group_by=list(keys),
        buckets=[
            RateBucket(
                time=utc(r.bucket_us),
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
