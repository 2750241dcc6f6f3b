"""Which MQTT version does the broker speak? The collector asks before it connects.

Why probe instead of waiting for a refused CONNECT: the collector's real MQTT 5 CONNECT carries
properties (session expiry, receive maximum), and a 3.1.1-only broker that parses the whole
packet before checking the protocol level misreads them and may never answer (amqtt does this).
A bare MQTT 5 CONNECT, under a separate client id and with a clean start so it cannot touch
the collector's session, gets a clear "unacceptable protocol version" from such a broker.
"""

from __future__ import annotations

import threading
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.reasoncodes import ReasonCode

from lineinspect.config.mqtt import MqttSettings
from lineinspect.mqtt import build_client

UNSUPPORTED_PROTOCOL = frozenset({1, 132})  # 3.1.1 CONNACK code / MQTT 5 reason code


def probe_protocol(settings: MqttSettings, client_id: str) -> mqtt.MQTTProtocolVersion | None:
    """``MQTTv311`` if the broker refuses MQTT 5, ``MQTTv5`` if it answers anything else,
    ``None`` if it cannot be reached or does not answer in time."""
    answer: list[ReasonCode] = []
    done = threading.Event()

    def on_connect(client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode,
                   properties: Any) -> None:  # fmt: skip
        answer.append(reason)
        done.set()

    probe = build_client(settings, f"{client_id}-probe"[:128], protocol=mqtt.MQTTv5,
                         persistent=False)
    probe.on_connect = on_connect
    probe.on_disconnect = lambda *args: done.set()
    endpoint = settings.endpoint
    try:
        probe.connect(endpoint.host, endpoint.port, settings.keepalive_s, clean_start=True)
    except (OSError, ValueError):
        return None
    probe.loop_start()
    try:
        done.wait(settings.connect_timeout_s)
    finally:
        probe.disconnect()
        probe.loop_stop()
    if not answer:
        return None
    if getattr(answer[0], "value", None) in UNSUPPORTED_PROTOCOL:
        return mqtt.MQTTv311
    return mqtt.MQTTv5
