"""What travels through the publisher's hand-off queue, and the clock and station it works with."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Protocol, TypeAlias

from edge.publish.alarms import Now
from edge.publish.handoff import Handoff
from lineinspect.contract import DefectEvent, TopicKind, build_topic


class Clock(Protocol):
    def now(self) -> Now: ...


class Publishing(Protocol):
    """What the worker needs from the MQTT client (``edge.publish.client.MqttClient``)."""

    def publish(self, topic: str, payload: bytes, qos: int, retain: bool) -> int: ...
    def subscribe(self, topics: tuple[str, ...]) -> int | None: ...
    def unsubscribe(self, topics: tuple[str, ...]) -> None: ...


class SystemClock:
    def now(self) -> Now:
        return Now(time.monotonic(), time.time_ns() // 1_000_000)


@dataclass(frozen=True)
class Station:
    site: str
    line: str
    station: str
    cameras: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.cameras:
            raise ValueError("a station needs at least one camera")
        if len(set(self.cameras)) != len(self.cameras):
            raise ValueError(f"camera ids must be unique, got {self.cameras}")
        for camera in self.cameras:  # validates every id once, here
            build_topic(TopicKind.EVENTS, self.site, self.line, self.station, camera)

    def topic(self, kind: TopicKind, camera: str | None = None) -> str:
        return build_topic(kind, self.site, self.line, self.station, camera)

    @property
    def availability_topic(self) -> str:
        return self.topic(TopicKind.AVAILABILITY)


# -- data lane -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class EventItem:
    event: DefectEvent
    t0: float  # perf_counter at hand-over


# -- control lane ----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Connected:
    session_present: bool
    receive_maximum: int | None


@dataclass(frozen=True, slots=True)
class Disconnected:
    reason: str


@dataclass(frozen=True, slots=True)
class Published:
    mid: int
    failure: int | None  # MQTT 5 PUBACK reason code >= 0x80, else None
    reason: str
    t: float  # perf_counter when paho reported it


@dataclass(frozen=True, slots=True)
class Subscribed:
    mid: int


@dataclass(frozen=True, slots=True)
class Incoming:
    topic: str
    payload: bytes
    retain: bool


@dataclass(frozen=True, slots=True)
class StateItem:
    """A retained state message (camera status) to queue durably in the state lane."""

    camera: str
    topic: str
    payload: bytes


@dataclass(frozen=True, slots=True)
class Flush:
    done: threading.Event


@dataclass(frozen=True, slots=True)
class Stop:
    drain_s: float


Control: TypeAlias = (
    Connected | Disconnected | Published | Subscribed | Incoming | StateItem | Flush
    | Stop
)
PublisherHandoff: TypeAlias = Handoff[EventItem, Control]


class HandoffListener:
    """The MQTT client's callbacks, turned into control items for the worker (never blocks)."""

    def __init__(self, handoff: PublisherHandoff) -> None:
        self._handoff = handoff

    def on_connected(self, session_present: bool, receive_maximum: int | None) -> None:
        self._handoff.put_control(Connected(session_present, receive_maximum))

    def on_disconnected(self, reason: str) -> None:
        self._handoff.put_control(Disconnected(reason))

    def on_published(self, mid: int, failure: int | None, reason: str) -> None:
        self._handoff.put_control(Published(mid, failure, reason, time.perf_counter()))

    def on_subscribed(self, mid: int) -> None:
        self._handoff.put_control(Subscribed(mid))

    def on_message(self, topic: str, payload: bytes, retain: bool) -> None:
        self._handoff.put_control(Incoming(topic, payload, retain))
