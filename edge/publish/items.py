"""What travels through the publisher's hand-off queue: events in the data lane, the MQTT
client's news and the publisher's requests in the control lane."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import TypeAlias

from edge.publish.handoff import Handoff
from lineinspect.contract import DefectEvent


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
