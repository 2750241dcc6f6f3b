"""Settings of the refinement stage (``refine:`` in the edge config): which detections get a
Mask2Former mask, how many at once, and how a measured defect becomes low / medium / high.

Off by default: the refiner costs a second model on the same CPU, so a station opts in.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator


class BetterView(BaseModel):
    """When a track already refined is refined again: only for a clearly better look."""

    model_config = ConfigDict(extra="forbid")

    score_margin: float = Field(
        0.15, ge=0.0, le=1.0, description="re-refine when the score rose at least this much")
    area_factor: float = Field(
        1.5, ge=1.0, le=100.0,
        description="re-refine when the box area grew at least this many times")
    max_per_track: int = Field(
        3, ge=1, le=100, description="refinements of one track at most (bounds a storm)")


class SizeThresholds(BaseModel):
    """At or above ``medium``: at least medium; at or above ``high``: high. None: not used."""

    model_config = ConfigDict(extra="forbid")

    medium: float | None = Field(None, gt=0)
    high: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> SizeThresholds:
        if self.medium is not None and self.high is not None and self.high < self.medium:
            raise ValueError(f"high ({self.high}) must be >= medium ({self.medium})")
        return self


class SizeRule(BaseModel):
    """Severity of one class from its measured size. Millimetre thresholds are used when the
    camera is calibrated (``mm_per_px`` or ``homography``), the pixel ones otherwise; a
    measurement beyond either threshold raises the level, the largest level wins, and below
    every threshold the defect is ``low``."""

    model_config = ConfigDict(extra="forbid")

    area_mm2: SizeThresholds = Field(default_factory=SizeThresholds)
    length_mm: SizeThresholds = Field(default_factory=SizeThresholds)
    area_px: SizeThresholds = Field(default_factory=SizeThresholds)
    length_px: SizeThresholds = Field(default_factory=SizeThresholds)


def _default_rules() -> dict[str, SizeRule]:
    # Round figures for the synthetic line at 640x480 (~0.2 mm/px); a plant sets its own.
    return {
        "scratch": SizeRule(length_mm=SizeThresholds(medium=5.0, high=15.0),
                            length_px=SizeThresholds(medium=25.0, high=75.0)),
        "crack": SizeRule(length_mm=SizeThresholds(medium=2.0, high=6.0),
                          length_px=SizeThresholds(medium=10.0, high=30.0)),
        "dent": SizeRule(area_mm2=SizeThresholds(medium=4.0, high=16.0),
                         area_px=SizeThresholds(medium=100.0, high=400.0)),
    }


class RefineSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    model_path: Path | None = Field(
        None, description="refiner ONNX with its manifest beside it; default: the shipped one "
        "(models/artifacts/refiner/lineinspect-refiner-v1.onnx)")
    classes: list[str] = Field(
        default_factory=lambda: ["scratch", "crack", "dent"], min_length=1,
        description="classes whose defects are refined")
    min_score: float = Field(0.5, ge=0.0, le=1.0, description="detection score to refine")
    zones: list[str] | None = Field(
        None, description="tracking zone names whose defects are refined; None: everywhere")
    queue_size: int = Field(
        16, ge=1, le=4096, description="waiting crops; full: the oldest is dropped, counted")
    workers: int = Field(1, ge=1, le=8, description="refiner threads, one session each")
    intra_op_threads: int = Field(1, ge=1, le=64)
    better_view: BetterView = Field(default_factory=BetterView)
    severity: dict[str, SizeRule] = Field(
        default_factory=_default_rules,
        description="per class; a class without a rule keeps the severity section's level")
    max_per_frame: int = Field(
        32, ge=1, le=400, description="crops cut from one frame at most (hot-path bound)")
