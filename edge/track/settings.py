"""Settings of tracking and the defect-event lifecycle."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from lineinspect.classes import NON_DEFECT_CLASSES
from lineinspect.contract.v1 import Severity


class ZoneSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64)
    mode: Literal["include", "exclude"] = "include"
    polygon: list[tuple[float, float]] = Field(
        min_length=3, description="vertices as (x, y) normalised to 0..1 of the frame"
    )


class TrackingSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    default_confidence: float = Field(0.35, ge=0.0, le=1.0)
    class_confidence: dict[str, float] = Field(
        default_factory=dict, description="per-class confidence threshold overriding the default"
    )
    min_frames: int = Field(
        3, ge=1, le=1000, description="frames a defect must be seen before `new`"
    )
    max_missed_frames: int = Field(
        5, ge=0, le=1000, description="consecutive unseen frames a track survives; one more ends it"
    )
    match_iou: float = Field(0.2, gt=0.0, le=1.0)
    min_box_area_px: float = Field(0.0, ge=0.0)
    update_min_gain: float = Field(
        0.1, ge=0.0, le=1.0, description="confidence gain that triggers an `update` event"
    )
    zones: list[ZoneSettings] = Field(default_factory=list)
    non_defect_classes: list[str] = Field(
        default_factory=lambda: list(NON_DEFECT_CLASSES),
        description="model classes that are not defects (the whole `part`): never tracked as "
        "defects, so never a defect event, alarm or count; names the model lacks are ignored",
    )
    low_confidence: float = Field(
        0.1, ge=0.0, le=1.0,
        description="detections between this and the class threshold only keep a track alive",
    )
    centre_gate: float = Field(
        1.5, ge=0.0, le=20.0,
        description="match fallback: centre distance from the prediction, in box sizes (0 = off)",
    )
    first_match_gate: float = Field(
        4.0, ge=0.0, le=50.0,
        description="centre gate (box sizes) of a track whose velocity is not known yet",
    )
    centre_max_size_ratio: float = Field(
        2.5, ge=0.0, le=100.0,
        description="centre-gated matches: width and height each within this factor (0 = off)",
    )
    velocity_smoothing: float = Field(
        0.3, gt=0.0, le=1.0, description="weight of the newest velocity measurement (EMA)"
    )
    match_across_classes: bool = Field(
        True,
        description="a detection of another class may continue a track (detectors flip between "
        "similar classes); same-class matches are preferred and the track's class is the "
        "score-weighted vote of its detections until `new`. False: same class only",
    )
    merge_iou: float = Field(
        0.5, ge=0.0, le=1.0,
        description="detections of different classes overlapping this much are one defect: "
        "the best-scoring one is tracked, the others vote for its class (0 = off)",
    )
    max_tracks: int = Field(
        256, ge=1, le=400,
        description="live tracks per camera; seeds beyond it are dropped and counted. At most "
        "two events per track per frame keeps a frame under the contract's 1000 events",
    )
    belt_prior: bool = Field(
        True, description="start new tracks with the mean velocity of the established ones"
    )


class SeveritySettings(BaseModel):
    """Severity of an event: the class's base level, raised one step for large defects."""

    model_config = ConfigDict(extra="forbid")

    default: Severity = "medium"
    by_class: dict[str, Severity] = Field(default_factory=dict)
    escalate_area_px: float | None = Field(
        None, gt=0, description="area in pixels at or above which severity goes one step up"
    )
    escalate_area_mm2: float | None = Field(
        None, gt=0, description="as escalate_area_px, for calibrated cameras (takes precedence)"
    )
