"""The shipped broker ACL (deploy/mosquitto/acl): each role can do exactly its part.

The real Mosquitto runs the shipped mosquitto.conf and acl (tests/_deployed_broker.py), and every
case runs over both listeners: 1883 with user + password, and 8883 with TLS, where the client
certificate's CN is the user. A write case is judged by what a reader allowed to see everything
under lineinspect/v1/ (the collector) receives; a read case by what the role itself receives.
"""

from __future__ import annotations

import contextlib
import queue
import ssl
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from tests._deployed_broker import DeployedMosquitto
from tests._paho import ConnackRefused, paho_client
from tests._pki import ScratchCA

EDGE, PLC, MES, COLLECTOR = "edge-plant1-line3-st2", "plc-plant1-line3", "mes", "collector"
ROLES = (EDGE, PLC, MES, COLLECTOR)
PASSWORDS = {role: f"{role}-pw" for role in ROLES}
ST2 = "lineinspect/v1/plant1/line3/st2"
ST9 = "lineinspect/v1/plant1/line3/st9"  # another station on the same line
LINE4 = "lineinspect/v1/plant1/line4/st1"

# (who publishes, topic, allowed?)
WRITES = [
    (EDGE, f"{ST2}/cam1/events", True),
    (EDGE, f"{ST2}/cam1/alarm", True),
    (EDGE, f"{ST2}/cam1/status", True),
    (EDGE, f"{ST2}/cam1/stats", True),
    (EDGE, f"{ST2}/availability", True),
    (EDGE, f"{ST9}/cam1/events", False),  # cannot speak for another station
    (EDGE, f"{ST2}/cam1/alarm/ack", False),  # cannot acknowledge its own alarms
    (EDGE, "lineinspect/v1/_deadletter", False),
    (PLC, f"{ST2}/cam1/alarm/ack", True),
    (PLC, f"{ST9}/cam1/alarm/ack", True),
    (PLC, f"{LINE4}/cam1/alarm/ack", False),  # another line's gateway acknowledges those
    (PLC, f"{ST2}/cam1/alarm", False),  # cannot raise or clear an alarm
    (PLC, f"{ST2}/cam1/events", False),
    (MES, f"{ST2}/cam1/events", False),
    (MES, f"{ST2}/cam1/alarm/ack", False),
    (COLLECTOR, "lineinspect/v1/_deadletter", True),
    (COLLECTOR, f"{ST2}/cam1/events", False),
]

# (who publishes, topic, who subscribes to it, delivered?)
READS = [
    (PLC, f"{ST2}/cam1/alarm/ack", EDGE, True),
    (PLC, f"{ST9}/cam1/alarm/ack", EDGE, False),  # not another station's acks
    (EDGE, f"{ST2}/cam1/alarm", PLC, True),
    (EDGE, f"{ST2}/cam1/events", PLC, False),
    (EDGE, f"{ST2}/cam1/events", MES, True),
    (EDGE, f"{ST2}/cam1/alarm", MES, True),
    (EDGE, f"{ST2}/availability", MES, True),
    (PLC, f"{ST2}/cam1/alarm/ack", MES, False),
    (EDGE, f"{ST2}/cam1/alarm", EDGE, True),  # its own retained alarms, read back on restart
]


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DeployedMosquitto]:
    server = DeployedMosquitto(tmp_path_factory.mktemp("acl-broker"), users=PASSWORDS)
    server.start()
    try:
        yield server
    finally:
        server.close()


class Transport:
    def __init__(self, broker: DeployedMosquitto, kind: str) -> None:
        self.broker = broker
        self.kind = kind
        self._certs = {role: broker.ca.issue(role) for role in ROLES} if kind == "tls" else {}

    def client(self, role: str, stack: ExitStack) -> tuple[mqtt.Client, queue.Queue]:
        if self.kind == "tls":
            files = self._certs[role]
            tls = (self.broker.ca.ca_file, files.cert, files.key)
            return stack.enter_context(paho_client(self.broker, port=self.broker.tls_port,
                                                   tls=tls))  # fmt: skip
        return stack.enter_context(paho_client(self.broker, username=role,
                                               password=PASSWORDS[role]))  # fmt: skip


def _subscribe(client: mqtt.Client, topic: str) -> None:
    # A refused SUBACK and a granted one that delivers nothing are both "cannot read".
    result, _ = client.subscribe(topic, qos=1)
    assert result == mqtt.MQTT_ERR_SUCCESS


def _drain(received: queue.Queue, seen: set[str], want: set[str], wait_s: float) -> None:
    deadline = time.monotonic() + wait_s
    while not want <= seen and time.monotonic() < deadline:
        with contextlib.suppress(queue.Empty):
            seen.add(received.get(timeout=0.1).payload.decode())
    # Whatever is still in flight for refused cases has had the same time to arrive.
    time.sleep(0.5)
    while not received.empty():
        seen.add(received.get().payload.decode())


@pytest.mark.parametrize("kind", ["password", "tls"])
def test_each_role_can_do_exactly_its_part(broker: DeployedMosquitto, kind: str) -> None:
    transport = Transport(broker, kind)
    run = uuid.uuid4().hex[:6]
    with ExitStack() as stack:
        clients = {role: transport.client(role, stack) for role in ROLES}
        observer, observed = clients[COLLECTOR]
        _subscribe(observer, "lineinspect/v1/#")
        read_cases = [(w, t, r, ok, f"{run}-read-{i}") for i, (w, t, r, ok) in enumerate(READS)]
        for _w, topic, reader, _ok, _tag in read_cases:
            _subscribe(clients[reader][0], topic)
        # A round trip per reader, so every SUBSCRIBE is in place before anything is published.
        for role in ROLES:
            clients[role][0].publish("lineinspect/v1/_ping", b"", qos=1).wait_for_publish(10)

        write_tags = [f"{run}-write-{i}" for i in range(len(WRITES))]
        for (writer, topic, _ok), tag in zip(WRITES, write_tags, strict=True):
            clients[writer][0].publish(topic, tag, qos=1).wait_for_publish(10)
        for writer, topic, _r, _ok, tag in read_cases:
            clients[writer][0].publish(topic, tag, qos=1).wait_for_publish(10)

        seen: dict[str, set[str]] = {role: set() for role in ROLES}
        expect_write = {tag for (_w, _t, ok), tag in zip(WRITES, write_tags, strict=True) if ok}
        _drain(observed, seen[COLLECTOR], expect_write, 10)
        for role in (EDGE, PLC, MES):
            want = {tag for _w, _t, r, ok, tag in read_cases if r == role and ok}
            _drain(clients[role][1], seen[role], want, 10)

    wrong = [f"{'may not' if ok else 'must'} be refused: {writer} writes {topic}"
             for (writer, topic, ok), tag in zip(WRITES, write_tags, strict=True)
             if (tag in seen[COLLECTOR]) != ok]  # fmt: skip
    wrong += [f"{'should' if ok else 'must not'} read: {reader} <- {topic} (from {writer})"
              for writer, topic, reader, ok, tag in read_cases
              if (tag in seen[reader]) != ok]  # fmt: skip
    assert not wrong, f"over {kind}:\n" + "\n".join(wrong)


def test_collector_shared_subscription_and_broker_version(broker: DeployedMosquitto) -> None:
    with ExitStack() as stack:
        t = Transport(broker, "password")
        collector, got = t.client(COLLECTOR, stack)
        mes, mes_got = t.client(MES, stack)
        _subscribe(collector, "$share/lineinspect-collectors/lineinspect/v1/#")
        _subscribe(collector, "$SYS/broker/version")
        _subscribe(mes, "$SYS/broker/version")
        # A round trip each, so both SUBSCRIBEs are in place before the edge publishes: on a
        # busy machine the edge's PUBLISH otherwise reaches the broker first and goes nowhere.
        for client in (collector, mes):
            client.publish("lineinspect/v1/_ping", b"", qos=1).wait_for_publish(10)
        edge, _ = t.client(EDGE, stack)
        edge.publish(f"{ST2}/cam1/events", b"shared", qos=1).wait_for_publish(10)
        seen: set[str] = set()
        _drain(got, seen, {"shared"}, 10)
        assert "shared" in seen
        assert any(p.startswith("mosquitto version") for p in seen), seen
        mes_seen: set[str] = set()
        _drain(mes_got, mes_seen, set(), 0)
        assert not mes_seen, f"mes read the broker's $SYS topics: {mes_seen}"


def test_tls_listener_needs_a_certificate_from_the_site_ca(
    broker: DeployedMosquitto, tmp_path: Path
) -> None:
    # A password is not enough on 8883: without a client certificate the handshake fails.
    plain = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="no-cert")
    plain.tls_set(ca_certs=str(broker.ca.ca_file))
    plain.username_pw_set(COLLECTOR, PASSWORDS[COLLECTOR])
    with pytest.raises((ssl.SSLError, OSError)):
        plain.connect(broker.host, broker.tls_port)
        for _ in range(50):  # the refusal can come with the first read after the handshake
            plain.loop(timeout=0.1)
            if not plain.is_connected():
                raise OSError("connection closed by the broker")
    # A certificate with a known CN, from another CA, is refused as well: the handshake fails,
    # so no CONNACK ever comes (queue.Empty) or the connect itself raises.
    rogue = ScratchCA(tmp_path / "rogue").issue(COLLECTOR)
    with pytest.raises((ssl.SSLError, OSError, ConnackRefused, queue.Empty)), paho_client(
        broker, port=broker.tls_port, tls=(broker.ca.ca_file, rogue.cert, rogue.key)
    ):
        pass
