"""The collector's MQTT connection: persistent session, shared subscription, manual acks.

* MQTT 5: ``clean_start=False`` + Session Expiry, so QoS 1 messages wait in the broker while
  the collector is away; a Receive Maximum large enough for three batches, because every message
  stays unacknowledged until its batch is written; ``$share/{group}/lineinspect/v1/#``.
* A broker that refuses MQTT 5 (or shared subscriptions) gets MQTT 3.1.1 with a persistent
  session and a plain subscription: replicas then each get every message, which the point
  design makes harmless (same identity, overwritten), but they no longer split the load.
* An acknowledgement is sent only on the connection the message came on. After a reconnect
  the broker resends every unacknowledged message with its original packet id, so acking an
  old one on the new connection could acknowledge a different, unwritten message.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from cloud.collector.counters import Counters
from cloud.collector.intake import Item
from cloud.collector.mqtt_probe import UNSUPPORTED_PROTOCOL, probe_protocol
from cloud.settings import CollectorSettings
from lineinspect.backoff import RetryPolicy, backoff_delay
from lineinspect.contract import DeadLetter, encode_payload
from lineinspect.contract.topics import TOPIC_ROOT
from lineinspect.mqtt import build_client, default_client_id

log = logging.getLogger(__name__)

_SHARED_NOT_SUPPORTED = 158


BROKER_VERSION_TOPIC = "$SYS/broker/version"


def mosquitto_loses_shared_subscriptions(version_text: str) -> bool:
    """True for ``mosquitto version 2.0.0`` .. ``2.0.11`` (and 1.6), whose persistence does not
    restore ``$share`` subscriptions of durable clients (Mosquitto 2.0.12 changelog)."""
    m = re.fullmatch(r"mosquitto version (\d+)\.(\d+)\.(\d+)\S*", version_text.strip())
    if m is None:
        return False
    return tuple(int(x) for x in m.groups()) < (2, 0, 12)


def _ignore_protocol(protocol: mqtt.MQTTProtocolVersion) -> None:
    pass


def _no_sink(item: Item) -> None:
    raise RuntimeError("MqttLink.sink must be set before start()")


def subscription_filters(share_group: str | None, shared: bool) -> str:
    base = f"{TOPIC_ROOT}/#"
    return f"$share/{share_group}/{base}" if share_group and shared else base


class MqttLink:
    def __init__(
        self,
        settings: CollectorSettings,
        counters: Counters,
        receive_maximum: int,
        client_id: str | None = None,
    ) -> None:
        self.settings = settings
        self.client_id = client_id or settings.mqtt.client_id or default_client_id("collector")
        self.sink: Callable[[Item], None] = _no_sink
        self.on_protocol: Callable[[mqtt.MQTTProtocolVersion], None] = _ignore_protocol
        self._counters = counters
        self._receive_maximum = receive_maximum
        self._lock = threading.Lock()
        self._gen = 0
        self._connected = threading.Event()
        self._subscribed = threading.Event()
        self._paused = False
        self._downgraded = False
        self._closing = threading.Event()
        self._retiring = False
        self._version_checked = False
        self._sub_mid: int | None = None
        self._last_message_at = time.monotonic()
        self._starter: threading.Thread | None = None
        self._shared = settings.share_group is not None
        self.protocol = mqtt.MQTTv5 if settings.mqtt.protocol == "5" else mqtt.MQTTv311
        self._client = self._build(self.protocol)

    # -- set-up ---------------------------------------------------------------------------------
    def _build(self, protocol: mqtt.MQTTProtocolVersion) -> mqtt.Client:
        client = build_client(self.settings.mqtt, self.client_id, protocol=protocol,
                              persistent=True, manual_ack=True)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        return client

    def _connect_properties(self) -> Properties:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self.settings.session_expiry_s
        props.ReceiveMaximum = self._receive_maximum
        return props

    def start(self) -> None:
        """Connect in the background (first finding out, for MQTT 5, whether the broker
        speaks it); reconnects with back-off for as long as the link runs."""
        self._starter = threading.Thread(target=self._start, name="mqtt-start", daemon=True)
        self._starter.start()

    def _start(self) -> None:
        ms = self.settings.mqtt
        if self.protocol == mqtt.MQTTv5:
            retry = RetryPolicy(ms.reconnect_min_s, ms.reconnect_max_s, jitter=0.0)
            attempt = 0
            while not self._closing.is_set():
                found = probe_protocol(ms, self.client_id)
                if found is not None:
                    break
                attempt += 1
                self._closing.wait(backoff_delay(attempt, retry))
            if self._closing.is_set():
                return
            if found == mqtt.MQTTv311:
                self._fall_back_to_311()
        self._connect()

    def _connect(self) -> None:
        endpoint = self.settings.mqtt.endpoint
        keepalive = self.settings.mqtt.keepalive_s
        with self._lock:
            if self._closing.is_set():
                return
            if self.protocol == mqtt.MQTTv5:
                self._client.connect_async(
                    endpoint.host,
                    endpoint.port,
                    keepalive,
                    clean_start=False,
                    properties=self._connect_properties(),
                )
            else:
                self._client.connect_async(endpoint.host, endpoint.port, keepalive)
            self._client.loop_start()

    def stop(self, end_session: bool = False) -> None:
        """Disconnect; with a persistent session the broker keeps queuing for us, unless
        ``end_session`` (MQTT 5: Session Expiry 0 on DISCONNECT) deletes the session."""
        self._paused = True
        self._closing.set()
        if self._starter is not None:
            self._starter.join(self.settings.mqtt.connect_timeout_s + 5)
        with self._lock:
            client = self._client
        props = None
        if end_session and self.protocol == mqtt.MQTTv5:
            props = Properties(PacketTypes.DISCONNECT)
            props.SessionExpiryInterval = 0
        client.disconnect(properties=props)
        client.loop_stop()

    def unsubscribe(self) -> None:
        """Leave the (shared) subscription: the broker routes new messages to the other
        members, while what it already queued for this session is still delivered."""
        with self._lock:
            self._retiring = True
            self._client.unsubscribe(subscription_filters(self.settings.share_group, self._shared))

    @property
    def last_message_at(self) -> float:
        return self._last_message_at

    def pause_intake(self) -> None:
        """Stop taking messages; ones arriving now stay unacknowledged and are redelivered
        when this client id connects again."""
        self._paused = True

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    def wait_subscribed(self, timeout: float) -> bool:
        """True once the broker granted the subscription on the current connection."""
        return self._subscribed.wait(timeout)

    # -- callbacks (paho network thread) --------------------------------------------------------
    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason.is_failure:
            code = getattr(reason, "value", None)
            if self.protocol == mqtt.MQTTv5 and code in UNSUPPORTED_PROTOCOL:
                self._begin_downgrade()
                return
            self._counters.add("connect_refused")
            log.error("MQTT broker refused the connection: %s", reason)
            return
        self._counters.add("connects")
        log.info(
            "connected to MQTT %s as %s (MQTT %s, session present: %s)",
            self.settings.mqtt.url,
            self.client_id,
            "5" if self.protocol == mqtt.MQTTv5 else "3.1.1",
            flags.session_present,
        )
        if self._retiring:
            self._subscribed.set()  # a retiring replica only drains what is queued for it
        else:
            self._subscribe(client)
        self._connected.set()

    def _subscribe(self, client: mqtt.Client) -> None:
        filt = subscription_filters(self.settings.share_group, self._shared)
        if self._shared and not self._version_checked:
            client.subscribe(BROKER_VERSION_TOPIC, qos=0)
        if self.protocol == mqtt.MQTTv5:
            _, self._sub_mid = client.subscribe(filt, options=SubscribeOptions(qos=1))
        else:
            _, self._sub_mid = client.subscribe(filt, qos=1)
        log.info("subscribing to %s", filt)

    def _on_subscribe(
        self,
        client: mqtt.Client,
        userdata: Any,
        mid: int,
        reasons: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        if mid != self._sub_mid:
            return  # the broker-version lookup; its outcome does not matter
        failed = [r for r in reasons if r.is_failure]
        if not failed:
            self._subscribed.set()
            log.info("subscription active")
            return
        if self._shared and any(getattr(r, "value", 0) == _SHARED_NOT_SUPPORTED for r in failed):
            log.warning("broker does not support shared subscriptions; using a plain one")
            self._shared = False
            self._subscribe(client)
            return
        self._counters.add("subscribe_refused")
        log.error("broker refused the subscription: %s", ", ".join(str(r) for r in failed))

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.DisconnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        with self._lock:
            self._gen += 1
            self._connected.clear()
            self._subscribed.clear()
        if not self._paused:
            self._counters.add("disconnects")
            log.warning("MQTT connection lost (%s); reconnecting", reason)

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            topic = msg.topic
        except UnicodeDecodeError:
            topic = msg._topic.decode("utf-8", "replace")
        if topic == BROKER_VERSION_TOPIC:
            self._check_broker_version(client, bytes(msg.payload))
            return
        if self._paused:
            return
        self._last_message_at = time.monotonic()
        self._counters.add("received")
        received_ms = time.time_ns() // 1_000_000
        self.sink(Item(msg.mid, msg.qos, self._gen, topic, bytes(msg.payload), received_ms))

    def _check_broker_version(self, client: mqtt.Client, payload: bytes) -> None:
        self._version_checked = True
        client.unsubscribe(BROKER_VERSION_TOPIC)
        text = payload.decode("utf-8", "replace")
        if mosquitto_loses_shared_subscriptions(text):
            self._counters.add("broker_shared_subscription_bug")
            log.warning(
                "broker is %s: it forgets shared subscriptions of persistent sessions when it "
                "restarts (fixed in Mosquitto 2.0.12), so messages published after a broker "
                "restart and before the collector resubscribes are lost. Upgrade the broker, "
                "or run a single collector with share_group: null", text
            )

    # -- used by the writer thread ---------------------------------------------------------------
    def ack(self, item: Item) -> None:
        if item.qos == 0:
            return
        with self._lock:
            if item.link_gen != self._gen or not self._connected.is_set():
                # The broker resends it on the new connection; that copy gets acknowledged.
                self._counters.add("acks_skipped_reconnect")
                return
            self._client.ack(item.mid, item.qos)

    def publish_dead_letter(self, dead_letter: DeadLetter) -> mqtt.MQTTMessageInfo:
        info = self._client.publish(
            self.settings.deadletter_topic, encode_payload(dead_letter), qos=1
        )
        if info.rc == mqtt.MQTT_ERR_NO_CONN:
            # paho keeps a QoS 1 message it could not send and sends it after reconnecting;
            # clear the code so is_published() waits for that instead of raising.
            info.rc = mqtt.MQTT_ERR_SUCCESS
        return info

    # -- MQTT 3.1.1 fallback ---------------------------------------------------------------------
    def _fall_back_to_311(self) -> None:
        log.warning("broker does not speak MQTT 5; using MQTT 3.1.1 with a plain subscription "
                    "(every replica receives every message; the point design makes that safe)")
        with self._lock:
            self.protocol = mqtt.MQTTv311
            self._shared = False
            self._client = self._build(mqtt.MQTTv311)
        self.on_protocol(mqtt.MQTTv311)

    def _begin_downgrade(self) -> None:
        # A broker that refused our MQTT 5 CONNECT after the probe said it speaks MQTT 5.
        with self._lock:
            if self._downgraded:
                return
            self._downgraded = True
        threading.Thread(target=self._downgrade, name="mqtt-downgrade", daemon=True).start()

    def _downgrade(self) -> None:
        old = self._client
        old.disconnect()
        old.loop_stop()
        self._fall_back_to_311()
        self._connect()
