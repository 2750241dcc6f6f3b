"""Root settings of the cloud side: collector (MQTT in), InfluxDB and local store, query API."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from lineinspect.config.common import LoggingSettings, TopicId
from lineinspect.config.http import CorsOrigin, check_exposure
from lineinspect.config.load import RoleSettings, load_settings
from lineinspect.config.mqtt import MqttSettings
from lineinspect.config.secrets import pick_secret, readable_file, reject_url_credentials
from lineinspect.contract.codec import MAX_PAYLOAD_BYTES
from lineinspect.contract.topics import DEADLETTER_TOPIC, MAX_TOPIC_LENGTH


def _publishable_topic(topic: str) -> str:
    if not topic or len(topic) > MAX_TOPIC_LENGTH:
        raise ValueError(f"topic must be 1-{MAX_TOPIC_LENGTH} characters")
    if "+" in topic or "#" in topic or topic.startswith("$") or "\x00" in topic:
        raise ValueError("a publish topic cannot contain '+', '#' or NUL, or start with '$'")
    return topic


class CollectorSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mqtt: MqttSettings = Field(default_factory=MqttSettings)
    share_group: TopicId | None = Field(
        "lineinspect-collectors",
        description="MQTT shared-subscription group; replicas in one group split the messages. "
        "None: every replica gets every message",
    )
    session_expiry_s: int = Field(
        3600,
        ge=0,
        le=2**32 - 1,
        description="MQTT 5: how long the broker keeps queuing for a disconnected collector",
    )
    deadletter_topic: str = Field(DEADLETTER_TOPIC, description="where rejected messages go")
    max_payload_bytes: int = Field(
        MAX_PAYLOAD_BYTES, ge=1024, le=16 * 1024 * 1024, description="larger payloads are rejected"
    )
    linger_ms: int | None = Field(
        None,
        ge=0,
        le=10_000,
        description="write the pending batch once no message arrived for this long. None: 20 ms "
        "on MQTT 3.1.1 (the broker stops at its in-flight cap until we acknowledge), off on "
        "MQTT 5 (Receive Maximum covers three batches). Set it for an MQTT 5 broker that caps "
        "in-flight messages below 3 x batch_size (EMQX: mqtt.max_inflight)",
    )
    retry_min_s: float = Field(0.2, gt=0, le=60, description="first back-off after a failed write")
    retry_max_s: float = Field(5.0, gt=0, le=600, description="longest back-off between retries")
    qos0_backlog_limit: int = Field(
        20_000,
        ge=100,
        le=1_000_000,
        description="QoS 0 messages (stats) arriving while this many messages wait for the "
        "store are dropped and counted (QoS 1 messages are bounded by MQTT flow control)",
    )
    stats_log_interval_s: float = Field(60.0, gt=0, le=86400, description="counters log period")
    worker_process: bool = Field(
        True,
        description="judge and write messages in a worker process, so one collector uses two "
        "cores (the MQTT side stays in the main process); off: one process does everything",
    )

    @model_validator(mode="after")
    def _retry(self) -> CollectorSettings:
        if self.retry_max_s < self.retry_min_s:
            raise ValueError("retry_max_s must be >= retry_min_s")
        return self

    @field_validator("deadletter_topic")
    @classmethod
    def _topic(cls, value: str) -> str:
        return _publishable_topic(value)


class InfluxSettings(BaseModel):
    """InfluxDB 1.x (``api: v1``: database, username/password) or 2.x/3.x (``api: v2``:
    org, bucket, token)."""

    model_config = ConfigDict(extra="forbid")

    api: Literal["v1", "v2"] = "v1"
    url: str = "http://127.0.0.1:8086"
    database: str | None = Field(None, min_length=1, max_length=256, description="v1")
    retention_policy: str | None = Field(None, min_length=1, max_length=256, description="v1")
    username: str | None = Field(None, min_length=1, max_length=256, description="v1")
    password: SecretStr | None = Field(None, description="v1")
    password_file: Path | None = None
    org: str | None = Field(None, min_length=1, max_length=256, description="v2")
    bucket: str | None = Field(None, min_length=1, max_length=256, description="v2")
    token: SecretStr | None = Field(None, description="v2")
    token_file: Path | None = None
    batch_size: int = Field(5000, ge=1, le=100_000, description="points per write")
    flush_interval_ms: int = Field(1000, ge=10, le=60_000, description="max wait before a write")
    timeout_s: float = Field(10.0, gt=0, le=300)
    create_database: bool = Field(
        False, description="v1: CREATE DATABASE at start (InfluxDB 1.x; needs admin rights)"
    )
    query_database: str | None = Field(
        None,
        min_length=1,
        max_length=256,
        description="v2: the InfluxQL database (DBRP mapping) the query API reads; "
        "None: the bucket name",
    )

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        try:
            parts = urlsplit(value)
        except ValueError as exc:
            raise ValueError(f"not a valid URL: {exc}") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("InfluxDB URL must be http(s)://host[:port]")
        return reject_url_credentials(value)

    @field_validator("password_file", "token_file")
    @classmethod
    def _secret_file(cls, value: Path | None) -> Path | None:
        return None if value is None else readable_file(value)

    @model_validator(mode="after")
    def _resolve(self) -> InfluxSettings:
        self.password = pick_secret("password", self.password, self.password_file)
        self.token = pick_secret("token", self.token, self.token_file)
        if self.api == "v1" and self.database is None:
            raise ValueError("api v1 needs database")
        if self.api == "v2":
            missing = [n for n in ("org", "bucket", "token") if getattr(self, n) is None]
            if missing:
                raise ValueError(f"api v2 needs {', '.join(missing)}")
        if self.password is not None and self.username is None:
            raise ValueError("a password needs a username")
        return self


class StoreSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: Path = Field(Path("var/lineinspect.sqlite3"), description="embedded SQLite store")
    batch_size: int = Field(1000, ge=1, le=100_000, description="points per transaction")
    flush_interval_ms: int = Field(200, ge=10, le=60_000, description="max wait before a write")


class CloudApiSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str = Field("127.0.0.1", min_length=1)
    port: int = Field(8090, ge=1, le=65535)
    token: SecretStr | None = Field(None, description="bearer token; None: no auth")
    token_file: Path | None = None
    allow_anonymous: bool = Field(
        False, description="serve beyond loopback without a token (anyone on that network)")
    cors_origins: list[CorsOrigin] = Field(
        default_factory=list, max_length=100,
        description="web origins whose pages may read the API (GET only); none by default")

    @field_validator("token_file")
    @classmethod
    def _secret_file(cls, value: Path | None) -> Path | None:
        return None if value is None else readable_file(value)

    @model_validator(mode="after")
    def _resolve(self) -> CloudApiSettings:
        self.token = pick_secret("token", self.token, self.token_file)
        check_exposure(self.host, self.token, self.allow_anonymous)
        return self


class CloudSettings(RoleSettings):
    model_config = SettingsConfigDict(
        extra="forbid", env_prefix="LINEINSPECT_", env_nested_delimiter="__"
    )

    collector: CollectorSettings = Field(default_factory=CollectorSettings)
    influx: InfluxSettings | None = Field(
        None, description="None: events and stats go to the embedded store only"
    )
    store: StoreSettings = Field(default_factory=StoreSettings)
    api: CloudApiSettings = Field(default_factory=CloudApiSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)


def load_cloud_settings(path: Path | str, env: Mapping[str, str] | None = None) -> CloudSettings:
    """Cloud settings from ``path`` with ``LINEINSPECT_*`` overrides from ``env``
    (default ``os.environ``); raises ``ConfigError`` listing every problem."""
    return load_settings(CloudSettings, path, env)
