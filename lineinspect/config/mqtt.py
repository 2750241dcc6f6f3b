"""MQTT connection settings shared by the edge publisher and the cloud collector."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from lineinspect.config.secrets import pick_secret, readable_file, reject_url_credentials

_SCHEMES: dict[str, tuple[str, bool, int]] = {
    # scheme: (transport, tls, default port)
    "mqtt": ("tcp", False, 1883),
    "tcp": ("tcp", False, 1883),
    "mqtts": ("tcp", True, 8883),
    "ssl": ("tcp", True, 8883),
    "ws": ("websockets", False, 80),
    "wss": ("websockets", True, 443),
}


@dataclass(frozen=True)
class MqttEndpoint:
    host: str
    port: int
    transport: Literal["tcp", "websockets"]
    tls: bool
    ws_path: str


def parse_mqtt_url(url: str) -> MqttEndpoint:
    """``mqtts://broker:8883`` -> endpoint; ``ValueError`` naming what is wrong otherwise."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"not a valid URL: {exc}") from None
    if parts.scheme not in _SCHEMES:
        raise ValueError(
            f"scheme {parts.scheme + '://' if parts.scheme else '(none)'} is not supported; "
            "use mqtt://, mqtts://, tcp://, ssl://, ws:// or wss://"
        )
    if not parts.hostname:
        raise ValueError("the URL has no host, e.g. mqtt://broker.local:1883")
    reject_url_credentials(url)
    transport, tls, default_port = _SCHEMES[parts.scheme]
    if transport == "tcp" and parts.path not in ("", "/"):
        raise ValueError(f"{parts.scheme}:// URLs take no path (got {parts.path!r})")
    return MqttEndpoint(
        host=parts.hostname,
        port=port if port is not None else default_port,
        transport="websockets" if transport == "websockets" else "tcp",
        tls=tls,
        ws_path=parts.path or "/mqtt",
    )


class TlsSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ca_file: Path | None = Field(None, description="CA bundle; None: the system trust store")
    cert_file: Path | None = Field(None, description="client certificate (mutual TLS)")
    key_file: Path | None = Field(None, description="client private key (mutual TLS)")
    insecure_skip_verify: bool = Field(
        False, description="accept any server certificate; for lab brokers only"
    )

    @field_validator("ca_file", "cert_file", "key_file")
    @classmethod
    def _readable(cls, value: Path | None) -> Path | None:
        return None if value is None else readable_file(value)

    @model_validator(mode="after")
    def _pair(self) -> TlsSettings:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("set both cert_file and key_file for a client certificate, or neither")
        return self


class MqttSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field("mqtt://127.0.0.1:1883", description="mqtt(s)://, tcp://, ssl://, ws(s)://")
    client_id: str | None = Field(
        None,
        min_length=1,
        max_length=128,
        pattern=r"^[\x21-\x7e]+$",
        description="None: derived from the role and host name",
    )
    username: str | None = Field(None, min_length=1, max_length=256)
    password: SecretStr | None = None
    password_file: Path | None = Field(None, description="file holding the password")
    tls: TlsSettings | None = Field(
        None, description="CA/client cert; TLS is on for mqtts/ssl/wss URLs or when this is set"
    )
    protocol: Literal["3.1.1", "5"] = "5"
    keepalive_s: int = Field(30, ge=5, le=3600)
    connect_timeout_s: float = Field(10.0, gt=0, le=300)
    reconnect_min_s: float = Field(0.5, gt=0, le=600)
    reconnect_max_s: float = Field(30.0, gt=0, le=3600)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        parse_mqtt_url(value)
        return value

    @field_validator("password_file")
    @classmethod
    def _secret_file(cls, value: Path | None) -> Path | None:
        return None if value is None else readable_file(value)

    @model_validator(mode="after")
    def _resolve(self) -> MqttSettings:
        # The file is read at load, so a missing secret fails `config check`, not the first
        # connect at 3 a.m.
        self.password = pick_secret("password", self.password, self.password_file)
        if self.password is not None and self.username is None:
            raise ValueError("a password needs a username")
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError("reconnect_max_s must be >= reconnect_min_s")
        return self

    @property
    def endpoint(self) -> MqttEndpoint:
        return parse_mqtt_url(self.url)

    @property
    def use_tls(self) -> bool:
        return self.endpoint.tls or self.tls is not None
