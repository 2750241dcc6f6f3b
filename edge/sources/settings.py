"""Settings of frame sources: one model per kind, selected by ``kind``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Source(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FileSource(_Source):
    kind: Literal["file"] = "file"
    path: Path
    loop: bool = False
    pace: bool = Field(True, description="deliver at the video's native fps, like a camera")


class RtspSource(_Source):
    kind: Literal["rtsp"] = "rtsp"
    url: str = Field(pattern=r"^rtsps?://", description="rtsp:// or rtsps:// URL")
    open_timeout_s: float = Field(5.0, gt=0, le=120)
    read_timeout_s: float = Field(5.0, gt=0, le=120)
    reconnect_initial_s: float = Field(0.5, gt=0)
    reconnect_max_s: float = Field(30.0, gt=0)


class DeviceSource(_Source):
    kind: Literal["device"] = "device"
    device: int | str = Field(0, description="V4L2 index or /dev/videoN path")
    width: int | None = Field(None, gt=0)
    height: int | None = Field(None, gt=0)
    fps: float | None = Field(None, gt=0)


class FolderSource(_Source):
    kind: Literal["folder"] = "folder"
    path: Path
    fps: float = Field(10.0, gt=0, le=1000)
    loop: bool = False


class SyntheticSource(_Source):
    kind: Literal["synthetic"] = "synthetic"
    seed: int = 0
    fps: float = Field(15.0, gt=0, le=240)
    width: int = Field(640, ge=64, le=4096)
    height: int = Field(480, ge=64, le=4096)
    loop: bool = True
    pace: bool = True


SourceSettings = Annotated[
    FileSource | RtspSource | DeviceSource | FolderSource | SyntheticSource,
    Field(discriminator="kind"),
]
