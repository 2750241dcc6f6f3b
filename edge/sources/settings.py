"""Settings of frame sources: one model per kind, selected by ``kind``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class _Source(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Reconnecting(_Source):
    reconnect_initial_s: float = Field(0.5, gt=0, le=600,
                                       description="first reconnect delay; doubles per failure")
    reconnect_max_s: float = Field(30.0, gt=0, le=3600, description="cap on the reconnect delay")

    @model_validator(mode="after")
    def _ordered_delays(self) -> _Reconnecting:
        if self.reconnect_max_s < self.reconnect_initial_s:
            raise ValueError(
                f"reconnect_max_s ({self.reconnect_max_s}) must be >= reconnect_initial_s "
                f"({self.reconnect_initial_s})")
        return self


class FileSource(_Source):
    kind: Literal["file"] = "file"
    path: Path
    loop: bool = False
    pace: bool = Field(True, description="deliver at the video's native fps, like a camera; false "
                       "without loop: offline, every frame as fast as detection takes them")
    fps: float | None = Field(None, gt=0, le=1000,
                              description="pace at this rate instead of the file's own fps")


class RtspSource(_Reconnecting):
    kind: Literal["rtsp"] = "rtsp"
    url: str = Field(pattern=r"^rtsps?://", description="rtsp:// or rtsps:// URL")
    open_timeout_s: float = Field(5.0, gt=0, le=120)
    read_timeout_s: float = Field(5.0, gt=0, le=120,
                                  description="a read slower than this counts as a stall")
    transport: Literal["tcp", "udp"] = Field(
        "tcp", description="RTP over the RTSP TCP connection (no loss on busy networks) or UDP")
    ffmpeg_options: dict[str, str] = Field(
        default_factory=dict,
        description="extra FFmpeg demuxer options, e.g. {analyzeduration: '500000'} to open "
                    "faster when the camera sends a key frame at least that often (microseconds)")

    @field_validator("ffmpeg_options")
    @classmethod
    def _plain_options(cls, value: dict[str, str]) -> dict[str, str]:
        for key, val in value.items():
            for text in (key, val):
                if not text or ";" in text or "|" in text:
                    raise ValueError(
                        f"FFmpeg option {key!r}: keys and values must be non-empty "
                        "and contain no ';' or '|'")
        if "rtsp_transport" in value:
            raise ValueError("set the RTSP transport with 'transport', not ffmpeg_options")
        return value


class DeviceSource(_Reconnecting):
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
    pace: bool = Field(True, description="deliver at fps; false: as fast as images decode")


class SyntheticSource(_Source):
    kind: Literal["synthetic"] = "synthetic"
    seed: int = 0
    fps: float = Field(15.0, gt=0, le=240)
    width: int = Field(640, ge=64, le=4096)
    height: int = Field(480, ge=64, le=4096)
    loop: bool = True
    pace: bool = True
    frames: int | None = Field(None, gt=0,
                               description="length of the video; None: endless conveyor")
    world: Literal["classic", "train", "heldout", "all"] = Field(
        "classic", description="classic: the v2 conveyor; otherwise a domain-randomised line "
        "drawn from that world (heldout: part families the shipped model never saw)")


SourceSettings = Annotated[
    FileSource | RtspSource | DeviceSource | FolderSource | SyntheticSource,
    Field(discriminator="kind"),
]
