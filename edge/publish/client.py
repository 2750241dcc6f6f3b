"""paho-mqtt 2.x client for the edge: connection, TLS, credentials, last will, reconnects.

The client does no queueing of its own beyond paho's in-flight window (the outbox is the
queue): the publisher hands it at most ``max_inflight`` QoS 1 messages at a time. paho keeps
those in memory and re-sends them (DUP) after a reconnect, and reports each PUBACK through
``on_publish``, which this class forwards to a :class:`ClientListener`.

Callbacks run on paho's network thread *while paho holds its message lock*, so a listener must
only hand the news to another thread (never call back into the client from there, never wait).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from lineinspect.config.mqtt import MqttSettings
from lineinspect.mqtt import build_client

log = logging.getLogger(__name__)

SESSION_EXPIRY_S = 86_400
"""MQTT 5 session expiry of a persistent edge session: acks published to ``alarm/ack`` while the
agent restarts are kept this long by the broker and applied when it is back."""


class ClientListener(Protocol):
    def on_connected(self, session_present: bool, receive_maximum: int | None) -> None: ...
    def on_disconnected(self, reason: str) -> None: ...
    def on_published(self, mid: int, failure: int | None, reason: str) -> None: ...
    def on_subscribed(self, mid: int) -> None: ...
    def on_message(self, topic: str, payload: bytes, retain: bool) -> None: ...


@dataclass(frozen=True)
class ClientOptions:
    client_id: str
    will_topic: str
    """Availability topic: ``offline`` is the retained last will, ``online`` sent on connect."""
    subscriptions: tuple[str, ...] = ()
    """Topics (QoS 1) subscribed on every connect."""
    persistent_session: bool = True
    """Keep the broker-side session (queued acks) across disconnects; brokers without
    persistent sessions (amqtt) need ``False``."""
    max_inflight: int = 20


class MqttClient:
    def __init__(self, settings: MqttSettings, options: ClientOptions) -> None:
        self.settings = settings
        self.options = options
        self._listener: ClientListener | None = None
        self._connected = threading.Event()
        self._closing = False
        self._v5 = settings.protocol == "5"
        endpoint = settings.endpoint
        self._host, self._port = endpoint.host, endpoint.port
        self._paho = build_client(settings, options.client_id,
                                  persistent=options.persistent_session)
        self._paho.will_set(options.will_topic, b"offline", qos=1, retain=True)
        # Our own window keeps paho below these; the headroom is for availability messages.
        self._paho.max_inflight_messages_set(options.max_inflight + 8)
        self._paho.max_queued_messages_set(0)
        self._paho.on_connect = self._on_connect
        self._paho.on_connect_fail = self._on_connect_fail
        self._paho.on_disconnect = self._on_disconnect
        self._paho.on_publish = self._on_publish
        self._paho.on_subscribe = self._on_subscribe
        self._paho.on_message = self._on_message

    # -- life cycle --------------------------------------------------------------------------
    def start(self, listener: ClientListener) -> None:
        """Connect in the background; retries with capped backoff until :meth:`close`."""
        self._listener = listener
        props = None
        if self._v5:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = SESSION_EXPIRY_S if self.options.persistent_session else 0
        clean_start: bool | Literal[3] = mqtt.MQTT_CLEAN_START_FIRST_ONLY  # the only 3.1.1 value
        if self._v5:
            clean_start = not self.options.persistent_session
        self._paho.connect_async(
            self._host,
            self._port,
            keepalive=self.settings.keepalive_s,
            clean_start=clean_start,
            properties=props,
        )
        self._paho.loop_start()

    def close(self, timeout: float = 2.0) -> None:
        """Say ``offline`` (retained) if connected, then disconnect and stop the network thread."""
        self._closing = True
        if self._connected.is_set():
            info = self._paho.publish(self.options.will_topic, b"offline", qos=1, retain=True)
            # If the connection went away meanwhile, the broker sends the will instead.
            with contextlib.suppress(RuntimeError, ValueError):
                info.wait_for_publish(timeout)
        self._paho.disconnect()
        self._paho.loop_stop()
        self._connected.clear()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    # -- operations (any thread) --------------------------------------------------------------
    def publish(self, topic: str, payload: bytes, qos: int, retain: bool) -> int:
        """Hand one message to paho; returns its mid. QoS 0 while disconnected is discarded by
        paho (rc NO_CONN); QoS 1 is kept and sent on reconnect."""
        info = self._paho.publish(topic, payload, qos=qos, retain=retain)
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            raise RuntimeError(f"paho refused to publish to {topic}: {mqtt.error_string(info.rc)}")
        return int(info.mid)

    def _sub_list(self, topics: tuple[str, ...]) -> list[tuple[str, Any]]:
        if self._v5:
            # Retain-as-published: we must see that a message was retained even when it arrives
            # live (an ack published with retain set is refused; see AlarmDesk).
            opts = SubscribeOptions(qos=1, retainAsPublished=True)
            return [(t, opts) for t in topics]
        return [(t, 1) for t in topics]

    def subscribe(self, topics: tuple[str, ...]) -> int | None:
        if not topics:
            return None
        rc, mid = self._paho.subscribe(self._sub_list(topics))
        return int(mid) if rc == mqtt.MQTT_ERR_SUCCESS and mid is not None else None

    def unsubscribe(self, topics: tuple[str, ...]) -> None:
        if topics:
            self._paho.unsubscribe(list(topics))

    # -- paho callbacks (network thread) ------------------------------------------------------
    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        props: Properties | None,
    ) -> None:
        if reason.is_failure:
            # Bad credentials, not authorised, bad client id: paho retries; say why, loudly.
            log.error("MQTT broker %s:%s refused the connection: %s", self._host, self._port,
                      reason)
            return
        receive_max = getattr(props, "ReceiveMaximum", None) if props is not None else None
        self._connected.set()
        log.info("MQTT connected to %s:%s as %s (session present: %s)", self._host, self._port,
                 self.options.client_id, flags.session_present)
        client.publish(self.options.will_topic, b"online", qos=1, retain=True)
        if self.options.subscriptions:
            client.subscribe(self._sub_list(self.options.subscriptions))
        if self._listener is not None:
            self._listener.on_connected(bool(flags.session_present), receive_max)

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        log.debug("MQTT connect to %s:%s failed; retrying", self._host, self._port)

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.DisconnectFlags,
        reason: ReasonCode,
        props: Properties | None,
    ) -> None:
        was = self._connected.is_set()
        self._connected.clear()
        if was and not self._closing:
            log.warning("MQTT disconnected from %s:%s: %s", self._host, self._port, reason)
        if self._listener is not None:
            self._listener.on_disconnected(str(reason))

    def _on_publish(
        self,
        client: mqtt.Client,
        userdata: Any,
        mid: int,
        reason: ReasonCode,
        props: Properties | None,
    ) -> None:
        if self._listener is not None:
            failure = int(reason.value) if reason.is_failure else None
            self._listener.on_published(mid, failure, str(reason))

    def _on_subscribe(
        self,
        client: mqtt.Client,
        userdata: Any,
        mid: int,
        reasons: list[ReasonCode],
        props: Properties | None,
    ) -> None:
        bad = [str(r) for r in reasons if r.is_failure]
        if bad:
            log.error("MQTT subscription refused by the broker: %s", ", ".join(bad))
        if self._listener is not None:
            self._listener.on_subscribed(mid)

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        if self._listener is not None:
            self._listener.on_message(msg.topic, bytes(msg.payload), bool(msg.retain))

