"""Client construction shared by the collector's connection and its protocol probe, and the
probe itself: which MQTT version does the broker speak?

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

UNSUPPORTED_PROTOCOL = frozenset({1, 132})  # 3.1.1 CONNACK code / MQTT 5 reason code


def new_client(
    settings: MqttSettings,
    client_id: str,
    protocol: mqtt.MQTTProtocolVersion,
    *,
    persistent: bool,
) -> mqtt.Client:
    """A paho client with the transport, credentials and TLS of ``settings``; manual acks and
    (for 3.1.1) ``clean_session=False`` when ``persistent``."""
    endpoint = settings.endpoint
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=protocol,
        clean_session=(not persistent) if protocol != mqtt.MQTTv5 else None,
        transport=endpoint.transport,
        manual_ack=persistent,
    )
    if settings.username is not None:
        password = settings.password.get_secret_value() if settings.password else None
        client.username_pw_set(settings.username, password)
    if settings.use_tls:
        tls = settings.tls
        client.tls_set(
            ca_certs=str(tls.ca_file) if tls and tls.ca_file else None,
            certfile=str(tls.cert_file) if tls and tls.cert_file else None,
            keyfile=str(tls.key_file) if tls and tls.key_file else None,
        )
        if tls is not None and tls.insecure_skip_verify:
            client.tls_insecure_set(True)
    if endpoint.transport == "websockets":
        client.ws_set_options(path=endpoint.ws_path)
    client.reconnect_delay_set(settings.reconnect_min_s, settings.reconnect_max_s)  # type: ignore[arg-type]
    return client


def probe_protocol(settings: MqttSettings, client_id: str) -> mqtt.MQTTProtocolVersion | None:
    """``MQTTv311`` if the broker refuses MQTT 5, ``MQTTv5`` if it answers anything else,
    ``None`` if it cannot be reached or does not answer in time."""
    answer: list[ReasonCode] = []
    done = threading.Event()

    def on_connect(client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode,
                   properties: Any) -> None:  # fmt: skip
        answer.append(reason)
        done.set()

    probe = new_client(settings, f"{client_id}-probe"[:128], mqtt.MQTTv5, persistent=False)
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
