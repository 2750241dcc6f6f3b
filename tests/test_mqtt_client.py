"""The one MQTT client factory (``lineinspect.mqtt``) both roles connect with, against the real
Mosquitto: TLS (CA, client certificate, ``insecure_skip_verify``), credentials, the protocol
version and session a client asks for, and the reconnect back-off; plus the back-off rule and
the default client ids as pure functions.

The MQTT 5 → 3.1.1 fallback's other arm (a broker that refuses MQTT 5) needs a broker that
speaks only 3.1.1, which Mosquitto cannot be made to be: tests/test_collector_mqtt311.py runs
it against amqtt.
"""

from __future__ import annotations

import queue
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from cloud.collector.mqtt_probe import probe_protocol
from lineinspect.backoff import RetryPolicy, backoff_delay
from lineinspect.config.mqtt import MqttSettings, TlsSettings
from lineinspect.mqtt import build_client, default_client_id
from lineinspect.testing import MosquittoServer, free_port
from tests._pki import make_pki, tls_listener

POLICY = RetryPolicy(initial_s=0.5, max_s=30.0, jitter=0.5)


# -- pure ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(("attempt", "policy", "u", "expected"), [
    (1, POLICY, 0.0, 0.5),
    (2, POLICY, 0.0, 1.0),
    (3, POLICY, 0.0, 2.0),
    (6, POLICY, 0.0, 16.0),
    (7, POLICY, 0.0, 30.0),  # 32 capped
    (10_000, POLICY, 0.0, 30.0),  # no overflow far out
    (1, POLICY, 0.999999, 0.25),  # jitter takes off up to half
    (7, POLICY, 0.5, 22.5),
    # the collector's store writes and broker probes: plain doubling
    (1, RetryPolicy(0.2, 5.0, jitter=0.0), 0.7, 0.2),
    (2, RetryPolicy(0.2, 5.0, jitter=0.0), 0.7, 0.4),
    (4, RetryPolicy(0.2, 5.0, jitter=0.0), 0.0, 1.6),
    (6, RetryPolicy(0.2, 5.0, jitter=0.0), 0.0, 5.0),
    (1001, RetryPolicy(0.2, 5.0, jitter=0.0), 0.0, 5.0),
])
def test_backoff_delay(attempt: int, policy: RetryPolicy, u: float, expected: float) -> None:
    assert backoff_delay(attempt, policy, u) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("bad", [dict(initial_s=0), dict(initial_s=5, max_s=1), dict(jitter=1.0)])
def test_retry_policy_rejects_nonsense(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="retry policy"):
        RetryPolicy(**bad)


def test_backoff_attempt_counts_from_one() -> None:
    with pytest.raises(ValueError, match="from 1"):
        backoff_delay(0, POLICY, 0.0)


@pytest.mark.parametrize(("role", "names", "expected"), [
    ("edge", ("plant1", "line3", "st2"), "lineinspect-edge-plant1-line3-st2"),
    ("collector", (), None),  # the host name: a restarted replica resumes its session
    ("edge", ("s" * 200,), ("lineinspect-edge-" + "s" * 200)[:128]),
])
def test_default_client_id(role: str, names: tuple[str, ...], expected: str | None) -> None:
    got = default_client_id(role, *names)
    assert len(got) <= 128
    if expected is None:
        assert re.fullmatch(rf"lineinspect-{role}-\S+", got)
        assert got == default_client_id(role)
    else:
        assert got == expected


# -- against Mosquitto ---------------------------------------------------------------------------
@contextmanager
def connecting(settings: MqttSettings, client_id: str, **options: Any) -> Iterator[
        Callable[[float], str | None]]:  # fmt: skip
    """Start a factory-built client; yields ``wait(timeout)`` -> the CONNACK reason, or None."""
    answers: queue.Queue[str] = queue.Queue()
    client = build_client(settings, client_id, **options)
    client.on_connect = lambda _c, _u, _f, reason, _p: answers.put(str(reason))
    endpoint = settings.endpoint
    # MQTT 5 keeps a session by the CONNECT's clean-start flag (build_client leaves it to us).
    clean_start = not options["persistent"] if settings.protocol == "5" else True
    client.connect_async(endpoint.host, endpoint.port, settings.keepalive_s,
                         clean_start=clean_start)
    client.loop_start()

    def wait(timeout: float) -> str | None:
        try:
            return answers.get(timeout=timeout)
        except queue.Empty:
            return None

    try:
        yield wait
    finally:
        client.disconnect()
        client.loop_stop()


@pytest.fixture
def tls_broker(
    mosquitto_factory: Callable[..., MosquittoServer], tmp_path: Path
) -> tuple[MosquittoServer, int, dict[str, Path]]:
    """Mosquitto with a password file, and a TLS listener that wants a client certificate."""
    pki = make_pki(tmp_path)
    port = free_port()
    broker = mosquitto_factory(users={"edge": "s3cret"},
                               extra_config=tls_listener(pki, port, require_certificate=True))
    return broker, port, pki


@pytest.mark.parametrize(("case", "tls", "password", "connects"), [
    ("mutual TLS, right password", "ca+cert", "s3cret", True),
    ("mutual TLS, wrong password", "ca+cert", "wrong", False),
    ("no client certificate", "ca", "s3cret", False),
    ("server cert not checked", "insecure+cert", "s3cret", True),
    ("unknown CA, checked", "cert", "s3cret", False),
])
def test_tls_and_credentials(
    tls_broker: tuple[MosquittoServer, int, dict[str, Path]],
    case: str, tls: str, password: str, connects: bool,
) -> None:
    broker, port, pki = tls_broker
    cert = {"cert_file": pki["cli"], "key_file": pki["cli_key"]} if "cert" in tls else {}
    settings = MqttSettings(
        url=f"mqtts://127.0.0.1:{port}", username="edge", password=password,
        tls=TlsSettings(ca_file=pki["ca"] if "ca" in tls else None,
                        insecure_skip_verify="insecure" in tls, **cert),
        reconnect_max_s=1.0, connect_timeout_s=3.0,
    )
    with connecting(settings, f"tls-{tls}-{password}", persistent=False) as wait:
        reason = wait(8.0)
    if connects:
        assert reason == "Success", f"{case}: {reason}\n{broker.log_tail(20)}"
    else:
        assert reason != "Success", case
    if password == "wrong":
        assert reason is not None and "not authori" in reason.lower(), reason


@pytest.mark.parametrize(("protocol", "persistent", "logged"), [
    ("5", True, "p5, c0"),
    ("5", False, "p5, c1"),
    ("3.1.1", True, "p2, c0"),  # mosquitto logs 3.1.1 as p2
    ("3.1.1", False, "p2, c1"),
])
def test_protocol_and_session_are_what_the_settings_ask(
    mosquitto: MosquittoServer, protocol: str, persistent: bool, logged: str
) -> None:
    settings = MqttSettings(url=mosquitto.url, protocol=protocol)  # type: ignore[arg-type]
    client_id = f"proto-{protocol}-{persistent}"
    with connecting(settings, client_id, persistent=persistent) as wait:
        assert wait(10.0) == "Success"
    assert re.search(rf"as {re.escape(client_id)} \({logged}", mosquitto.log_tail(50)), (
        mosquitto.log_tail(10))


def test_probe_uses_the_factory_and_finds_mqtt5_behind_tls_and_auth(
    tls_broker: tuple[MosquittoServer, int, dict[str, Path]],
) -> None:
    _broker, port, pki = tls_broker
    settings = MqttSettings(
        url=f"mqtts://127.0.0.1:{port}", username="edge", password="s3cret",
        tls=TlsSettings(ca_file=pki["ca"], cert_file=pki["cli"], key_file=pki["cli_key"]),
        connect_timeout_s=5.0,
    )
    assert probe_protocol(settings, "probe-tls") == mqtt.MQTTv5


def test_reconnects_with_backoff_until_the_broker_comes(tmp_path: Path) -> None:
    port = free_port()
    settings = MqttSettings(url=f"mqtt://127.0.0.1:{port}", reconnect_min_s=0.2,
                            reconnect_max_s=0.8, connect_timeout_s=2.0)
    with connecting(settings, "late-broker", persistent=False) as wait:
        assert wait(1.5) is None  # nothing listens yet: paho keeps retrying
        broker = MosquittoServer(tmp_path / "late", port=port)
        started = threading.Event()
        try:
            broker.start()
            started.set()
            t0 = time.monotonic()
            # Capped at reconnect_max_s: the next try comes within it (plus the connect itself).
            assert wait(settings.reconnect_max_s + 3.0) == "Success"
            assert time.monotonic() - t0 < settings.reconnect_max_s + 3.0
        finally:
            if started.is_set():
                broker.stop()
