"""Build a :class:`Publisher` from settings: the real broker when ``mqtt`` is configured, else an
embedded one on loopback (demo, laptop)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from edge.clock import Clock
from edge.publish.client import ClientOptions, MqttClient
from edge.publish.embedded_broker import EmbeddedBroker
from edge.publish.outbox import Outbox
from edge.publish.publisher import Publisher
from edge.publish.pump import PublishConfig
from edge.publish.settings import (
    AlarmSettings,
    MqttSettings,
    OutboxSettings,
    StatsSettings,
)
from edge.publish.station import Station
from lineinspect.contract import Alarm, TopicKind
from lineinspect.mqtt import default_client_id

if TYPE_CHECKING:
    from edge.settings import EdgeSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PublishSettings:
    """The settings sections the publisher reads (``EdgeSettings`` has them all)."""

    mqtt: MqttSettings | None
    """None: no broker configured; :func:`open_publisher` starts the embedded one."""
    outbox: OutboxSettings
    alarms: AlarmSettings
    stats: StatsSettings
    persistent_session: bool = True


def build_publisher(
    station: Station,
    settings: PublishSettings,
    clock: Clock | None = None,
    on_close: tuple[Callable[[], None], ...] = (),
) -> Publisher:
    """A publisher that is not started yet (call ``.start()``, or use it as a context)."""
    if settings.mqtt is None:
        raise ValueError("build_publisher needs an mqtt section (open_publisher starts the "
                         "embedded broker when there is none)")
    options = ClientOptions(
        client_id=settings.mqtt.client_id
        or default_client_id("edge", station.site, station.line, station.station),
        will_topic=station.availability_topic,
        subscriptions=tuple(station.topic(TopicKind.ALARM_ACK, c) for c in station.cameras),
        persistent_session=settings.persistent_session,
        max_inflight=settings.outbox.max_inflight,
    )
    client = MqttClient(settings.mqtt, options)
    box = settings.outbox
    outbox = Outbox(box.path, box.max_bytes, box.synchronous, box.fsync_interval_s)
    config = PublishConfig(settings.outbox, settings.alarms, settings.stats)
    return Publisher(station, client, outbox, config, clock=clock, on_close=on_close)


def open_publisher(
    station: Station,
    settings: PublishSettings,
    embedded_port: int = 0,
    on_alarm: Callable[[Alarm], None] | None = None,
) -> Publisher:
    """Start a publisher; with ``settings.mqtt=None`` first start the embedded broker on
    127.0.0.1 and ``embedded_port`` (0: a free one; the URL is
    ``publisher.client.settings.url``), stopped again by ``Publisher.close()``. ``on_alarm``
    hears every alarm state from the start on (a latched alarm restored from the broker
    included)."""

    def started(pub: Publisher) -> Publisher:
        if on_alarm is not None:
            pub.add_alarm_listener(on_alarm)
        return pub.start()

    if settings.mqtt is not None:
        return started(build_publisher(station, settings))
    broker = EmbeddedBroker(port=embedded_port).start()
    log.info("no mqtt section configured: using the embedded broker at %s", broker.url)
    # amqtt speaks 3.1.1 only and keeps no persistent sessions.
    local = MqttSettings(url=broker.url, protocol="3.1.1", reconnect_max_s=2.0)
    embedded = replace(settings, mqtt=local, persistent_session=False)
    try:
        return started(build_publisher(station, embedded, on_close=(broker.close,)))
    except Exception:
        broker.close()
        raise


def publish_settings(settings: EdgeSettings) -> PublishSettings:
    return PublishSettings(settings.mqtt, settings.outbox, settings.alarms, settings.stats)


def edge_station(settings: EdgeSettings) -> Station:
    return Station(settings.site, settings.line, settings.station,
                   tuple(cam.id for cam in settings.cameras))


def open_from_settings(settings: EdgeSettings, embedded_port: int = 0) -> Publisher:
    """The agent's publisher, started: the configured broker, or the embedded one."""
    return open_publisher(edge_station(settings), publish_settings(settings), embedded_port)
