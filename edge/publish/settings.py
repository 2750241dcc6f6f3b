"""Settings of the publisher: MQTT connection, durable outbox, PLC alarm rules, stats."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from lineinspect.config.mqtt import MqttEndpoint, MqttSettings, TlsSettings, parse_mqtt_url
from lineinspect.contract.v1 import Severity

__all__ = [
    "AlarmSettings",
    "MqttEndpoint",
    "MqttSettings",
    "OutboxSettings",
    "StatsSettings",
    "TlsSettings",
    "parse_mqtt_url",
]


_RAISING: list[Severity] = ["medium", "high"]


class OutboxSettings(BaseModel):
    """Store-and-forward queue on disk: every QoS 1 message waits here until the broker acks."""

    model_config = ConfigDict(extra="forbid")

    path: Path = Field(Path("var/outbox.sqlite3"), description="outbox database file")
    max_bytes: int = Field(
        256 * 1024 * 1024,
        ge=1024 * 1024,
        description="budget for queued topics + payloads; at the cap the oldest events are "
        "dropped first (counted)",
    )
    drain_rate_per_s: float = Field(
        200.0, gt=0, le=100_000, description="publish rate while draining a backlog"
    )
    synchronous: Literal["full", "normal"] = Field(
        "normal",
        description="normal: appends survive a crash of the agent at once and a power loss "
        "after fsync_interval_s; full: each append is fsynced before it is sent (alarms then "
        "wait for the disk)",
    )
    fsync_interval_s: float = Field(
        0.2, ge=0, le=60, description="normal: background fsync period of the queue; 0: never"
    )
    max_inflight: int = Field(
        20, ge=1, le=1000, description="messages sent but not yet acknowledged by the broker"
    )
    queue_size: int = Field(
        4096, ge=16, le=1_000_000, description="hand-off queue from the pipeline; full: drop"
    )
    close_drain_s: float = Field(
        2.0, ge=0, le=600, description="on shutdown, time to keep sending before closing"
    )


class AlarmSettings(BaseModel):
    """Which defects raise the PLC alarm and how it clears."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    classes: list[str] = Field(
        default_factory=list, max_length=256, description="classes that raise; empty: all"
    )
    severities: list[Severity] = Field(
        default_factory=lambda: _RAISING.copy(), description="severities that raise; empty: all"
    )
    zones: list[str] = Field(
        default_factory=list, max_length=64, description="zone names that raise; empty: anywhere"
    )
    clear: Literal["ack", "auto"] = Field(
        "ack", description="ack: latched until acknowledged; auto: clears after auto_clear_s"
    )
    auto_clear_s: float = Field(
        5.0, gt=0, le=86_400, description="quiet time after the last raising defect (clear: auto)"
    )
    min_interval_s: float = Field(
        0.2, ge=0, le=60, description="rate limit: at most one alarm publish per interval"
    )
    payload: Literal["json", "plain"] = Field("json", description="plain: the text 1 or 0")
    codes: dict[str, int] = Field(
        default_factory=dict, description="PLC code per class; default class_id + 1"
    )
    restore_wait_s: float = Field(
        1.0,
        gt=0,
        le=60,
        description="at start, how long to wait for the retained alarm after subscribing",
    )

    @model_validator(mode="after")
    def _codes_in_range(self) -> AlarmSettings:
        for name, code in self.codes.items():
            if not 1 <= code <= 65535:
                raise ValueError(f"codes.{name}: alarm code must be 1..65535 (0 means no alarm)")
        return self


class StatsSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    interval_s: float = Field(10.0, ge=1.0, le=3600.0, description="stats publish period")
