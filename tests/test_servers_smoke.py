"""The real-server fixtures work: what later tests rely on when they use them.

Each test talks to a real Mosquitto or influxd child process over loopback.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import pytest

from lineinspect.testing import (
    InfluxError,
    InfluxServer,
    InfluxUnavailable,
    MosquittoServer,
    MosquittoSub,
    mqtt_connack_code,
)
from tests._paho import paho_client, publish, subscribe

SubFactory = Callable[..., MosquittoSub]


# -- Mosquitto ---------------------------------------------------------------------------------
def test_paho_qos1_round_trip(mosquitto_session: MosquittoServer) -> None:
    topic = f"smoke/{uuid.uuid4().hex}/events"
    with paho_client(mosquitto_session) as (client, received):
        subscribe(client, topic)
        publish(client, topic, '{"n": 1}')
        msg = received.get(timeout=10)
    assert (msg.topic, msg.payload, msg.qos) == (topic, b'{"n": 1}', 1)


def test_mosquitto_sub_sees_paho_messages_with_flags(
    mosquitto_session: MosquittoServer, mosquitto_sub: SubFactory
) -> None:
    base = f"smoke/{uuid.uuid4().hex}"
    sub = mosquitto_sub(mosquitto_session, f"{base}/#", client_id="smoke-sub", clean=False)
    with paho_client(mosquitto_session) as (client, _):
        publish(client, f"{base}/events", '{"kind": "new"}', qos=1)
        publish(client, f"{base}/alarm", '{"active": true}', qos=1, retain=True)
    got = sub.wait_count(2)
    assert sub.lines == [f'{base}/events {{"kind": "new"}}', f'{base}/alarm {{"active": true}}']
    # A retained message delivered to a live subscriber carries retain=0 (MQTT 3.1.1 §3.3.1.3).
    assert [(m.qos, m.retained) for m in got] == [(1, False), (1, False)]


def test_retained_message_survives_sigterm_restart(
    mosquitto: MosquittoServer, mosquitto_sub: SubFactory
) -> None:
    topic = "lineinspect/v1/s/l/st/cam/alarm"
    with paho_client(mosquitto) as (client, _):
        publish(client, topic, '{"active": true}', qos=1, retain=True)
    port = mosquitto.port
    assert mosquitto.stop() == 0
    assert mosquitto.persistence_file.exists(), "SIGTERM must write the persistence file"
    mosquitto.start()
    assert mosquitto.port == port and mosquitto.start_count == 2
    sub = mosquitto_sub(mosquitto, topic, clean=True)
    (msg,) = sub.wait_count(1)
    assert (msg.topic, msg.payload, msg.retained) == (topic, '{"active": true}', True)


def test_queued_messages_beyond_default_limit_survive_restart(
    mosquitto: MosquittoServer, mosquitto_sub: SubFactory
) -> None:
    # 1500 > Mosquitto 2.0's default max_queued_messages (1000), so this fails if the fixture's
    # raised limit is not in force, and it proves the offline queue is persisted across restarts.
    base = "smoke/queue"
    sub = mosquitto_sub(mosquitto, f"{base}/#", client_id="slow-consumer", clean=False)
    sub.stop()
    n = 1500
    with paho_client(mosquitto) as (client, _):
        infos = [client.publish(f"{base}/e", str(i), qos=1) for i in range(n)]
        for info in infos:
            info.wait_for_publish(timeout=30)
    mosquitto.restart()
    again = mosquitto_sub(mosquitto, f"{base}/#", client_id="slow-consumer", clean=False)
    got = again.wait_count(n, timeout=30)
    assert [m.payload for m in got] == [str(i) for i in range(n)]


def test_mosquitto_sub_reconnects_after_broker_restart(
    mosquitto: MosquittoServer, mosquitto_sub: SubFactory
) -> None:
    sub = mosquitto_sub(mosquitto, "smoke/re/#", client_id="re-sub", clean=False)
    mosquitto.stop()
    with pytest.raises(OSError), paho_client(mosquitto):
        pass
    mosquitto.start()
    assert sub.wait_subscribed(2, timeout=20), sub.debug_tail()
    with paho_client(mosquitto) as (client, _):
        publish(client, "smoke/re/x", "after-restart")
    assert sub.wait_count(1)[0].payload == "after-restart"


def test_kill_pause_resume(mosquitto: MosquittoServer) -> None:
    mosquitto.pause()
    assert mqtt_connack_code(mosquitto.host, mosquitto.port, "probe", timeout=0.5) is None
    mosquitto.resume()
    assert mqtt_connack_code(mosquitto.host, mosquitto.port, "probe") == 0
    assert mosquitto.kill() == -9
    assert not mosquitto.running
    mosquitto.start()
    assert mqtt_connack_code(mosquitto.host, mosquitto.port, "probe") == 0


def test_broker_with_users_refuses_anonymous(
    mosquitto_factory: Callable[..., MosquittoServer],
) -> None:
    broker = mosquitto_factory(users={"edge": "s3cret"})
    assert mqtt_connack_code(broker.host, broker.port, "anon") == 5  # not authorised
    with paho_client(broker, username="edge", password="s3cret") as (client, received):
        subscribe(client, "auth/t")
        publish(client, "auth/t", "ok")
        assert received.get(timeout=10).payload == b"ok"


# -- InfluxDB ----------------------------------------------------------------------------------
def test_influx_write_and_query_point(influx_session: InfluxServer) -> None:
    db = f"smoke_{uuid.uuid4().hex[:8]}"
    influx_session.create_database(db)
    assert db in influx_session.databases()
    influx_session.write(
        "defects,line=L1,cls=scratch confidence=0.93,area_px=120i 1700000000123000000", db=db
    )
    rows = influx_session.select("SELECT * FROM defects", db=db)
    assert rows == [
        {
            "time": "2023-11-14T22:13:20.123Z",
            "area_px": 120,
            "cls": "scratch",
            "confidence": 0.93,
            "line": "L1",
        }
    ]


def test_influx_rejects_bad_line_protocol(influx_session: InfluxServer) -> None:
    influx_session.create_database("smoke_bad")
    with pytest.raises(InfluxError, match="HTTP 400"):
        influx_session.write("defects confidence=", db="smoke_bad")


def test_influx_write_fails_while_stopped_and_data_survives_restart(influx: InfluxServer) -> None:
    influx.create_database("outage")
    influx.write("m v=1i 1000000000", db="outage", precision="ns")
    port = influx.port
    influx.stop()
    with pytest.raises(InfluxUnavailable):
        influx.write("m v=2i 2000000000", db="outage")
    influx.start()
    assert influx.port == port
    influx.write("m v=2i 2000000000", db="outage")
    rows = influx.select("SELECT v FROM m", db="outage")
    assert [r["v"] for r in rows] == [1, 2]


def test_influx_keeps_acknowledged_writes_across_sigkill(influx: InfluxServer) -> None:
    influx.create_database("crash")
    influx.write([f"m v={i}i {i}" for i in range(1, 101)], db="crash")
    influx.kill()
    influx.start()
    (row,) = influx.select("SELECT count(v) FROM m", db="crash")
    assert row["count"] == 100


def test_influx_pause_makes_requests_time_out(influx: InfluxServer) -> None:
    influx.pause()
    began = time.monotonic()
    with pytest.raises(InfluxUnavailable):
        influx.query("SHOW DATABASES", timeout=0.5)
    assert time.monotonic() - began < 5
    influx.resume()
    assert "_internal" not in influx.databases()  # monitor store is off in tests


def test_influx_with_admin_requires_auth(influx_factory: Callable[..., InfluxServer]) -> None:
    server = influx_factory(admin=("admin", "pw"))
    server.create_database("authdb")  # the helper authenticates as the admin
    server.admin = None  # now the same helper sends no credentials
    with pytest.raises(InfluxError, match="HTTP 401"):
        server.query("SHOW DATABASES")


def test_default_queue_limit_would_drop_messages(
    mosquitto_factory: Callable[..., MosquittoServer], mosquitto_sub: SubFactory
) -> None:
    # Why the fixture and deploy/mosquitto raise max_queued_messages: with 2.0's default the
    # broker accepts (PUBACKs) every publish and silently discards the overflow.
    broker = mosquitto_factory(max_queued_messages=1000)
    mosquitto_sub(broker, "q/#", client_id="offline", clean=False).stop()
    with paho_client(broker) as (client, _):
        for info in [client.publish("q/e", str(i), qos=1) for i in range(1500)]:
            info.wait_for_publish(timeout=30)
            assert info.is_published()
    again = mosquitto_sub(broker, "q/#", client_id="offline", clean=False)
    again.wait_count(1000, timeout=30)
    time.sleep(0.5)  # give any message beyond the limit the chance to show up
    assert [m.payload for m in again.messages] == [str(i) for i in range(1000)]
