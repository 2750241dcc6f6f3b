"""Response bodies of the query API (they make up its OpenAPI schema at ``/docs``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class CountBucket(BaseModel):
    time: datetime = Field(description="start of the bucket (UTC)")
    group: dict[str, str] = Field(description="the group_by tags of this row")
    defects: int = Field(description="new physical defects (events of kind 'new')")


class RateBucket(CountBucket):
    frames_inspected: int
    parts_seen: int
    rate_per_part: float | None = Field(description="defects / parts seen; null if no parts")
    rate_per_frame: float | None = Field(description="defects / frames inspected")


class _Series(BaseModel):
    start: datetime
    end: datetime
    interval_s: int
    group_by: list[str]


class CountsResponse(_Series):
    buckets: list[CountBucket]


class RatesResponse(_Series):
    buckets: list[RateBucket]


class StoredPoint(BaseModel):
    time: datetime
    tags: dict[str, str]
    fields: dict[str, Any]


class PointsResponse(BaseModel):
    items: list[StoredPoint]


class CameraStatus(BaseModel):
    site: str
    line: str
    station: str
    camera: str
    status: dict[str, Any] | None = Field(description="latest status message, with time_us")
    stats: dict[str, Any] | None = Field(description="latest edge stats: fps, latency, backlog")
    alarm: dict[str, Any] | None = Field(description="latest alarm state")


class StatusResponse(BaseModel):
    cameras: list[CameraStatus]


class Health(BaseModel):
    status: str
