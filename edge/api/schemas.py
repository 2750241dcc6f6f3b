"""Response bodies of the edge HTTP API (they are its OpenAPI schema)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class Box(BaseModel):
    x1: float
    y1: float
    x2: float
    y2: float


class Detection(BaseModel):
    class_id: int
    class_name: str
    score: float = Field(ge=0, le=1)
    box: Box = Field(description="pixels of the uploaded image, x2/y2 exclusive")


class ImageResult(BaseModel):
    file: str = Field(description="the upload's file name")
    width: int
    height: int
    detections: list[Detection]
    inference_ms: float


class ModelInfo(BaseModel):
    name: str
    version: str
    sha256: str
    classes: list[str]
    provider: str


class PredictResponse(BaseModel):
    model: str = Field(description="which model answered: detector")
    model_info: ModelInfo
    results: list[ImageResult]


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    ready: bool
    reasons: list[str] = Field(description="why not ready; empty when ready")
    cameras: dict[str, str]
    model_loaded: bool


class CameraStatus(BaseModel):
    id: str
    state: str
    viewers: int
    frames_offered: int
    frames_streamed: int
    frames_skipped: int


class StreamStatus(BaseModel):
    enabled: bool
    fps: float
    width: int | None
    height: int | None
    codecs: list[str]
    viewers: int
    max_viewers: int
    ice_servers: list[dict[str, Any]]


class Status(BaseModel):
    ready: bool
    model: ModelInfo | None
    models: list[str] = Field(description="values accepted by /predict?model=")
    cameras: list[CameraStatus]
    stream: StreamStatus
    alarm: dict[str, Any] | None
    live: dict[str, dict[str, Any]]
    recent_events: int
    event_clients: int
    max_upload_bytes: int
    max_images: int
    detail: dict[str, Any]


class Problem(BaseModel):
    detail: str
