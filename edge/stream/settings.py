"""Settings of the live WebRTC stream (the ``stream`` section of the edge config)."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

IceUrl = Annotated[str, Field(pattern=r"^(stun|turn|turns):\S+$", max_length=512)]
Codec = Literal["h264", "vp8"]


def _default_codecs() -> list[Codec]:
    return ["h264", "vp8"]


class IceServer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    urls: list[IceUrl] = Field(min_length=1, max_length=8)
    username: str | None = Field(None, max_length=256)
    credential: SecretStr | None = None


class StreamSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    fps: float = Field(15.0, gt=0, le=60, description="stream rate, independent of the detector")
    width: int | None = Field(
        None, ge=16, le=7680, description="None: camera width (or kept aspect if height is set)")
    height: int | None = Field(
        None, ge=16, le=4320, description="None: camera height (or kept aspect if width is set)")
    max_viewers: int = Field(8, ge=1, le=256, description="live sessions over all cameras")
    codecs: list[Codec] = Field(
        default_factory=_default_codecs, min_length=1, max_length=2,
        description="offered in this order; each camera runs one encoder per codec in use")
    bitrate_kbps: int = Field(1500, ge=100, le=50_000)
    keyframe_interval_s: float = Field(
        2.0, gt=0, le=60, description="longest wait for a picture after a lost packet")
    ice_servers: list[IceServer] = Field(
        default_factory=list, max_length=16,
        description="STUN/TURN; empty: host candidates only, no traffic off the LAN")
    ice_host_addresses: list[IPv4Address | IPv6Address] | None = Field(
        None, max_length=32,
        description="gather host candidates on exactly these local addresses (loopback "
                    "allowed); None: every interface address except loopback")
    connect_timeout_s: float = Field(
        20.0, gt=0, le=600, description="a session that is not connected by then is closed")

    @field_validator("codecs")
    @classmethod
    def _unique(cls, codecs: list[Codec]) -> list[Codec]:
        if len(set(codecs)) != len(codecs):
            raise ValueError(f"codecs must not repeat, got {codecs}")
        return codecs
