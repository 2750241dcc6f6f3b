"""Response bodies of the edge HTTP API (they are its OpenAPI schema)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field


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


class Rle(BaseModel):
    """A whole-image binary mask, COCO uncompressed RLE (as the v1 event's ``mask``)."""

    model_config = ConfigDict(extra="forbid")

    size: list[int] = Field(min_length=2, max_length=2,
                            description="[height, width] of the uploaded image")
    counts: list[int] = Field(description="run lengths over the pixels in column-major order, "
                                          "starting with a run of unset pixels")


class RefinedDetection(Detection):
    """A detection with the refiner's mask when it has one (``refined``)."""

    model_config = ConfigDict(extra="forbid")

    refined: bool = Field(description="true: mask and measurements are the refiner's; false: "
                                      "not refined (not a defect class the refiner knows, or "
                                      "it found no mask) and they are null")
    mask: Rle | None = Field(description="the defect's pixels in the uploaded image")
    area_px: int | None = Field(ge=0, description="set pixels of mask")
    length_px: float | None = Field(
        ge=0, description="long side of the mask's minimum-area rotated rectangle, pixels")
    width_px: float | None = Field(
        ge=0, description="short side of that rectangle (a scratch's width), pixels")
    refiner_score: float | None = Field(ge=0, le=1, description="the refiner's mask score")


class RefinedImageResult(BaseModel):
    file: str = Field(description="the upload's file name")
    width: int
    height: int
    detections: list[RefinedDetection] = Field(
        description="model=both: every detection, refined or not; model=refiner: only the "
                    "refined ones")
    inference_ms: float = Field(description="detector time, ms")
    refine_ms: float = Field(description="refiner time over all of this image's crops, ms")


class ModelInfo(BaseModel):
    name: str
    version: str
    sha256: str
    classes: list[str]
    provider: str


class RefinerInfo(BaseModel):
    name: str
    version: str
    sha256: str
    classes: list[str] = Field(description="classes it refines (detections of others are not)")
    input_size: int = Field(description="crop side fed to the model, pixels")
    mask_threshold: float


class PredictResponse(BaseModel):
    model: Literal["detector"] = Field(description="which model answered (yolo is its alias)")
    model_info: ModelInfo
    results: list[ImageResult]


class RefinedPredictResponse(BaseModel):
    model: Literal["refiner", "both"] = Field(
        description="which view answered (mask2former is an alias of both)")
    model_info: ModelInfo = Field(description="the detector that proposed the boxes")
    refiner_info: RefinerInfo
    results: list[RefinedImageResult]


AnyPredictResponse = Annotated[PredictResponse | RefinedPredictResponse,
                               Field(discriminator="model")]


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
