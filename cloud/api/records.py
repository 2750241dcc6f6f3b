"""The latest records as stored: defect events, alarm state changes, and each camera's state."""

from __future__ import annotations

from fastapi import APIRouter

from cloud.api.deps import Auth, Deps, Limit, RangeDep, ScopeDep, stored
from cloud.api.models import CameraStatus, PointsResponse, StatusResponse

router = APIRouter(prefix="/api/v1", dependencies=[Auth])


@router.get("/events/latest", response_model=PointsResponse)
def latest_events(deps: Deps, sc: ScopeDep, rng: RangeDep, limit: Limit = 50) -> PointsResponse:
    return PointsResponse(items=[stored(r) for r in deps.store.latest_events(sc, rng, limit)])


@router.get("/alarms", response_model=PointsResponse)
def alarms(deps: Deps, sc: ScopeDep, rng: RangeDep, limit: Limit = 100) -> PointsResponse:
    return PointsResponse(items=[stored(r) for r in deps.store.alarms(sc, rng, limit)])


@router.get("/cameras/status", response_model=StatusResponse)
def camera_status(deps: Deps, sc: ScopeDep) -> StatusResponse:
    return StatusResponse(
        cameras=[
            CameraStatus(site=c.site, line=c.line, station=c.station, camera=c.camera,
                         status=c.status, stats=c.stats, alarm=c.alarm)
            for c in deps.store.camera_states(sc)
        ]
    )
