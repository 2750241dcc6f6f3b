"""Root settings of the edge agent: one YAML file, ``LINEINSPECT_*`` overrides.

Each section is the small model of the component that uses it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_settings import SettingsConfigDict

from edge.api.settings import ApiSettings
from edge.detect.settings import DetectorSettings
from edge.publish.settings import (
    AlarmSettings,
    MqttSettings,
    OutboxSettings,
    StatsSettings,
)
from edge.refine.settings import RefineSettings
from edge.sources.settings import SourceSettings
from edge.stream.settings import StreamSettings
from edge.track.settings import SeveritySettings, TrackingSettings
from lineinspect.config.common import LoggingSettings, TopicId
from lineinspect.config.errors import ConfigIssue
from lineinspect.config.load import RoleSettings, file_issue, load_settings


class CameraSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: TopicId
    source: SourceSettings
    tracking: TrackingSettings | None = Field(
        None, description="replaces the top-level tracking section for this camera"
    )
    mm_per_px: float | None = Field(
        None, gt=0, le=1000, description="calibration; enables area_mm2 in events"
    )
    homography: list[list[float]] | None = Field(
        None, description="3x3 image pixels -> belt plane millimetres (row-major); for a "
        "camera that looks at the belt at an angle. Refined measurements use it over mm_per_px",
    )

    @field_validator("homography")
    @classmethod
    def _homography(cls, h: list[list[float]] | None) -> list[list[float]] | None:
        if h is None:
            return None
        if len(h) != 3 or any(len(row) != 3 for row in h):
            raise ValueError("homography must be 3 rows of 3 numbers")
        if not all(math.isfinite(v) for row in h for v in row):
            raise ValueError("homography values must be finite")
        m = np.asarray(h, dtype=np.float64)
        # Relative to its scale: a near-singular matrix maps the image onto a line.
        if abs(np.linalg.det(m)) <= 1e-12 * float(np.abs(m).max()) ** 3:
            raise ValueError("homography must be invertible (its determinant is ~0)")
        return h


class EdgeSettings(RoleSettings):
    model_config = SettingsConfigDict(
        extra="forbid", env_prefix="LINEINSPECT_", env_nested_delimiter="__"
    )

    site: TopicId
    line: TopicId
    station: TopicId
    cameras: list[CameraSettings] = Field(min_length=1, max_length=64)
    detector: DetectorSettings = Field(default_factory=DetectorSettings)
    tracking: TrackingSettings = Field(default_factory=TrackingSettings)
    mqtt: MqttSettings | None = Field(
        None, description="broker connection; None: the embedded broker (demo, laptop)"
    )
    outbox: OutboxSettings = Field(default_factory=OutboxSettings)
    alarms: AlarmSettings = Field(default_factory=AlarmSettings)
    severity: SeveritySettings = Field(default_factory=SeveritySettings)
    stats: StatsSettings = Field(default_factory=StatsSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    stream: StreamSettings = Field(default_factory=StreamSettings)
    refine: RefineSettings = Field(default_factory=RefineSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)

    @field_validator("cameras")
    @classmethod
    def _unique_ids(cls, cameras: list[CameraSettings]) -> list[CameraSettings]:
        seen: set[str] = set()
        for cam in cameras:
            if cam.id in seen:
                raise ValueError(f"camera id {cam.id!r} is used twice; ids must be unique")
            seen.add(cam.id)
        return cameras

    def tracking_for(self, camera: CameraSettings) -> TrackingSettings:
        return camera.tracking if camera.tracking is not None else self.tracking

    def zone_names(self) -> set[str]:
        return {z.name for cam in self.cameras for z in self.tracking_for(cam).zones}

    @classmethod
    def file_issues(cls, data: Mapping[str, Any]) -> list[ConfigIssue]:
        found: list[ConfigIssue | None] = []
        detector = data.get("detector")
        if isinstance(detector, Mapping) and detector.get("model") is not None:
            found.append(file_issue("detector.model", detector["model"]))
        refine = data.get("refine")
        if isinstance(refine, Mapping) and refine.get("model_path") is not None:
            found.append(file_issue("refine.model_path", refine["model_path"]))
        cameras = data.get("cameras")
        for i, cam in enumerate(cameras if isinstance(cameras, list) else []):
            src = cam.get("source") if isinstance(cam, Mapping) else None
            if isinstance(src, Mapping) and src.get("kind") in ("file", "folder"):
                want_dir = src["kind"] == "folder"
                found.append(file_issue(f"cameras.{i}.source.path", src.get("path"), want_dir))
        return [issue for issue in found if issue is not None]

    def extra_issues(self) -> list[ConfigIssue]:
        zones = self.zone_names()
        known = ", ".join(sorted(zones)) or "none"
        issues = [
            ConfigIssue(f"alarms.zones.{i}", f"no zone named {name!r} (defined: {known})")
            for i, name in enumerate(self.alarms.zones)
            if name not in zones
        ]
        issues += [
            ConfigIssue(f"refine.zones.{i}", f"no zone named {name!r} (defined: {known})")
            for i, name in enumerate(self.refine.zones or [])
            if name not in zones
        ]
        return issues


def load_edge_settings(path: Path | str, env: Mapping[str, str] | None = None) -> EdgeSettings:
    """Edge settings from ``path`` with ``LINEINSPECT_*`` overrides from ``env``
    (default ``os.environ``); raises ``ConfigError`` listing every problem."""
    return load_settings(EdgeSettings, path, env)
