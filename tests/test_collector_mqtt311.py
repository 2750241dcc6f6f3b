"""On a broker that only speaks MQTT 3.1.1 the collector falls back: MQTT 3.1.1, persistent
session, plain (not shared) subscription, and still writes every event. The broker is amqtt,
a real MQTT 3.1.1 broker (it answers an MQTT 5 CONNECT with "unacceptable protocol
version"), run as a child process by a local fixture (the shared fixtures have Mosquitto
only, which speaks MQTT 5)."""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
import yaml

from cloud.collector.mqtt_probe import probe_protocol
from cloud.store.query import Scope, TimeRange
from cloud.store.sqlite_store import SqliteStore
from lineinspect.config.mqtt import MqttSettings
from lineinspect.testing import MosquittoServer, ServerProcess, free_port, mqtt_connack_code
from tests._cloud_helpers import (
    Publisher,
    cloud_settings,
    event_stream,
    running_collector,
    wait_until,
)


class AmqttServer(ServerProcess):
    name = "amqtt"

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir, startup_timeout=90.0)
        self.host = "127.0.0.1"
        self.port = free_port()
        self.config_path = self.workdir / "amqtt.yaml"

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def _write_config(self) -> None:
        doc = {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin":
                        {"allow_anonymous": True}},
        }  # fmt: skip
        self.config_path.write_text(yaml.safe_dump(doc))

    def _command(self) -> list[str]:
        # Beside the running interpreter: the venv the suite runs in (a worktree has none).
        return [str(Path(sys.executable).parent / "amqtt"), "-c", str(self.config_path)]

    def _answers(self) -> bool:
        return mqtt_connack_code(self.host, self.port, "probe") == 0


@pytest.fixture
def broker311(tmp_path: Path) -> Iterator[AmqttServer]:
    server = AmqttServer(tmp_path / "amqtt")
    server.start()
    try:
        yield server
    finally:
        server.close()


def _refuses_mqtt5(host: str, port: int) -> bool:
    """Send an MQTT 5 CONNECT by hand; a 3.1.1 broker answers return code 1."""
    packet = b"\x10\x10\x00\x04MQTT\x05\x02\x00\x0a\x00\x00\x03abc"
    with socket.create_connection((host, port), timeout=5) as sock:
        sock.sendall(packet)
        reply = sock.recv(16)
    return len(reply) >= 4 and reply[0] == 0x20 and reply[3] in (1, 0x84)


def test_collector_falls_back_to_mqtt311_and_stores_everything(
    broker311: AmqttServer, tmp_path: Path
) -> None:
    assert _refuses_mqtt5(broker311.host, broker311.port)
    path = tmp_path / "store.sqlite3"
    settings = cloud_settings(broker311, sqlite_path=path, client_id="collector-311",
                              flush_interval_ms=100)  # fmt: skip
    assert settings.collector.mqtt.protocol == "5"
    events = event_stream(300)
    with running_collector(settings) as collector:
        assert collector.link.protocol == mqtt.MQTTv311
        pub = Publisher(broker311, protocol=mqtt.MQTTv311)
        try:
            pub.publish_events(events)
            wait_until(lambda: collector.counters.get("messages_done") >= len(events), 120,
                       f"stored {collector.counters.get('messages_done')}")  # fmt: skip
        finally:
            pub.close()
    stored = SqliteStore(path).latest_events(Scope(), TimeRange(0, 2**62), 1000)
    assert {r.fields["event_id"] for r in stored} == {e.event_id for e in events}


def test_probe_tells_the_protocol_or_that_nobody_answers(
    broker311: AmqttServer, mosquitto_session: MosquittoServer
) -> None:
    def ms(url: str) -> MqttSettings:
        return MqttSettings(url=url, connect_timeout_s=5.0)

    assert probe_protocol(ms(broker311.url), "probe-test") == mqtt.MQTTv311
    assert probe_protocol(ms(mosquitto_session.url), "probe-test") == mqtt.MQTTv5
    assert probe_protocol(ms(f"mqtt://127.0.0.1:{free_port()}"), "probe-test") is None
