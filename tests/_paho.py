"""paho-mqtt 2.x helpers for tests: a connected client whose messages land in a queue."""

from __future__ import annotations

import queue
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from lineinspect.testing.mosquitto import MosquittoServer


class ConnackRefused(ConnectionError):
    """The broker answered CONNECT with a failure code (bad credentials, not authorised)."""


@contextmanager
def paho_client(
    broker: MosquittoServer,
    client_id: str = "",
    username: str | None = None,
    password: str | None = None,
    *,
    port: int | None = None,
    tls: tuple[Path, Path, Path] | None = None,
) -> Iterator[tuple[mqtt.Client, queue.Queue[mqtt.MQTTMessage]]]:
    """A connected paho-mqtt 2.x client and the queue its on_message fills.

    ``tls`` (CA file, client certificate, client key) connects with TLS to ``port``.
    """
    received: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
    connected: queue.Queue[ReasonCode] = queue.Queue()
    client = mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=client_id or f"smoke-{uuid.uuid4().hex[:8]}",
        protocol=mqtt.MQTTv311,
    )
    if username is not None:
        client.username_pw_set(username, password)
    if tls is not None:
        ca, cert, key = tls
        client.tls_set(ca_certs=str(ca), certfile=str(cert), keyfile=str(key))
    client.on_message = lambda _c, _u, msg: received.put(msg)
    client.on_connect = lambda _c, _u, _f, rc, _p: connected.put(rc)
    client.connect(broker.host, port if port is not None else broker.port, keepalive=30)
    client.loop_start()
    try:
        rc = connected.get(timeout=10)
        if rc.is_failure:
            raise ConnackRefused(f"{broker.url} refused the connection: {rc}")
        yield client, received
    finally:
        client.disconnect()
        client.loop_stop()


def subscribe(client: mqtt.Client, topic: str, qos: int = 1) -> None:
    """Subscribe and wait for the SUBACK, failing if the broker refused."""
    acked: queue.Queue[list[ReasonCode]] = queue.Queue()
    client.on_subscribe = lambda _c, _u, mid, codes, _p: acked.put(codes)
    result, _mid = client.subscribe(topic, qos=qos)
    assert result == mqtt.MQTT_ERR_SUCCESS
    codes = acked.get(timeout=10)
    assert not any(c.is_failure for c in codes), f"SUBACK refused {topic}: {codes}"


def publish(
    client: mqtt.Client, topic: str, payload: str | bytes, qos: int = 1, retain: bool = False
) -> None:
    """Publish and wait until the broker acknowledged it (QoS >= 1) or it was sent (QoS 0)."""
    info = client.publish(topic, payload, qos=qos, retain=retain)
    info.wait_for_publish(timeout=10)
    assert info.is_published(), f"no PUBACK for {topic}"
