"""The publisher against a real Mosquitto, checked by mosquitto_sub as an independent client:
events, availability and last will, status, stats, MQTT 3.1.1, TLS with client certificates and
passwords, the hand-off queue's drop policy, and the embedded broker."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edge.publish.embedded_broker import EmbeddedBroker
from edge.publish.factory import PublishSettings, build_publisher, open_publisher
from edge.publish.settings import (
    AlarmSettings,
    MqttSettings,
    OutboxSettings,
    StatsSettings,
    TlsSettings,
)
from lineinspect.contract import Stats, Status, parse_message
from lineinspect.testing import MosquittoServer, MosquittoSub, free_port
from tests._pki import make_pki, tls_listener
from tests._publish_helpers import (
    MODEL,
    SITE,
    STATION,
    frame_event,
    publish_settings,
    start_publisher,
    station,
    topic,
)

AVAILABILITY = f"lineinspect/v1/{SITE}/line3/{STATION}/availability"
Sub = Callable[..., MosquittoSub]


def frame_seqs(sub: MosquittoSub, suffix: str = "/events") -> list[int]:
    return [json.loads(m.payload)["frame_seq"] for m in sub.messages if m.topic.endswith(suffix)]


def test_events_arrive_once_in_order_at_qos1_and_parse(
    mosquitto: MosquittoServer, mosquitto_sub: Sub, tmp_path: Path
) -> None:
    sub = mosquitto_sub(mosquitto, topic("events"), qos=1)
    pub = start_publisher(publish_settings(mosquitto, tmp_path / "o.sqlite3"))
    try:
        # Connected first: events queued before the first connect are a backlog, which keeps
        # its order only while it is small (docs/mqtt.md, "Order").
        assert pub.client.wait_connected(20)
        for i in range(300):
            assert pub.publish_event(frame_event(i))
        sub.wait_for(lambda msgs: len(msgs) >= 300, timeout=60)
        assert frame_seqs(sub) == list(range(300))
        assert all(m.qos == 1 and not m.retained for m in sub.messages)
        for m in sub.messages[:5]:
            parse_message(m.topic, m.payload.encode())  # the contract accepts what we send
        deadline = time.monotonic() + 10
        while pub.counters()["backlog"] and time.monotonic() < deadline:
            time.sleep(0.05)
        counters = pub.counters()
        assert counters["backlog"] == 0 and counters["acked"] >= 300
    finally:
        pub.close()


def test_availability_online_retained_and_offline_on_clean_close(
    mosquitto: MosquittoServer, mosquitto_sub: Sub, tmp_path: Path
) -> None:
    pub = start_publisher(publish_settings(mosquitto, tmp_path / "o.sqlite3"))
    try:
        assert pub.client.wait_connected(20)
        late = mosquitto_sub(mosquitto, AVAILABILITY)  # subscribes after the fact
        got = late.wait_count(1, timeout=10)
        assert (got[0].payload, got[0].retained) == ("online", True)
    finally:
        pub.close()
    after = mosquitto_sub(mosquitto, AVAILABILITY)
    got = after.wait_count(1, timeout=10)
    assert (got[0].payload, got[0].retained) == ("offline", True)


def test_status_is_retained_and_published_only_on_change(
    mosquitto: MosquittoServer, mosquitto_sub: Sub, tmp_path: Path
) -> None:
    sub = mosquitto_sub(mosquitto, topic("status"))
    pub = start_publisher(publish_settings(mosquitto, tmp_path / "o.sqlite3"))
    try:
        pub.set_camera_status("cam1", "reconnecting", "rtsp: connection refused", MODEL)
        pub.set_camera_status("cam1", "reconnecting", "rtsp: connection refused", MODEL)
        pub.set_camera_status("cam1", "up", "rtsp connected", MODEL)
        sub.wait_count(2, timeout=20)
        time.sleep(0.5)
        states = [json.loads(m.payload)["state"] for m in sub.messages]
        assert states == ["reconnecting", "up"]
        late = mosquitto_sub(mosquitto, topic("status"))
        m = late.wait_count(1, timeout=10)[0]
        status = parse_message(m.topic, m.payload.encode()).payload
        assert m.retained and isinstance(status, Status)
        assert (status.state, status.model) == ("up", MODEL)
        with pytest.raises(ValueError, match="unknown camera"):
            pub.set_camera_status("cam9", "up")
    finally:
        pub.close()


def test_stats_every_interval_at_qos0_with_the_pipelines_counters(
    mosquitto: MosquittoServer, mosquitto_sub: Sub, tmp_path: Path
) -> None:
    sub = mosquitto_sub(mosquitto, topic("stats"), qos=1)
    pub = start_publisher(
        publish_settings(mosquitto, tmp_path / "o.sqlite3", stats_interval_s=1.0)
    )
    try:
        counters = pub.stats("cam1")
        counters.frame_inspected(30)
        counters.part_seen(2)
        counters.latency("detect", 20.0)
        counters.drop("capture", 4)
        pub.publish_event(frame_event(1, class_name="crack", class_id=1))
        msgs = sub.wait_for(
            lambda ms: any(json.loads(m.payload)["frames_inspected"] == 30 for m in ms), 30
        )
        m = next(m for m in msgs if json.loads(m.payload)["frames_inspected"] == 30)
        stats = parse_message(m.topic, m.payload.encode()).payload
        assert isinstance(stats, Stats) and m.qos == 0 and not m.retained
        assert stats.parts_seen == 2 and stats.drops == {"capture": 4}
        assert stats.defects_by_class == {"crack": 1}
        assert stats.latency_ms["detect"].p50 == 20.0
        assert "publish" in stats.latency_ms  # hand-over to PUBACK, measured by the publisher
        assert 0.5 <= stats.interval_s <= 5.0
    finally:
        pub.close()


def test_mqtt_311_client(mosquitto: MosquittoServer, mosquitto_sub: Sub, tmp_path: Path) -> None:
    sub = mosquitto_sub(mosquitto, topic("events"))
    pub = start_publisher(
        publish_settings(mosquitto, tmp_path / "o.sqlite3", protocol="3.1.1")
    )
    try:
        for i in range(20):
            pub.publish_event(frame_event(i))
        sub.wait_count(20, timeout=30)
        assert frame_seqs(sub) == list(range(20))
        assert "(p2," in mosquitto.log_tail(200)  # the broker saw protocol level 4 (3.1.1)
    finally:
        pub.close()


def test_handoff_queue_full_drops_newest_and_counts_them(tmp_path: Path) -> None:
    settings = publish_settings("mqtt://127.0.0.1:9", tmp_path / "o.sqlite3",
                                outbox={"queue_size": 16})
    pub = build_publisher(station(), settings)  # not started: nothing drains the queue
    results = [pub.publish_event(frame_event(i)) for i in range(20)]
    assert results == [True] * 16 + [False] * 4
    assert pub.counters()["queue_dropped"] == 4
    assert pub.stats("cam1").take().drops == {"publish": 4}
    pub.outbox.close()


def test_events_of_another_station_or_camera_are_refused(tmp_path: Path) -> None:
    pub = build_publisher(station(), publish_settings("mqtt://127.0.0.1:9", tmp_path / "o"))
    with pytest.raises(ValueError, match="unknown camera 'cam2'"):
        pub.publish_event(frame_event(1, camera="cam2"))
    other = frame_event(1).model_copy(update={"station": "st9"})
    with pytest.raises(ValueError, match="handed to the publisher of plant1/line3/st2"):
        pub.publish_event(other)
    pub.outbox.close()


# -- TLS + credentials --------------------------------------------------------------------------
def test_tls_with_client_certificate_and_password(
    mosquitto_factory: Callable[..., MosquittoServer], tmp_path: Path
) -> None:
    pki = make_pki(tmp_path)
    tls_port = free_port()
    broker = mosquitto_factory(
        users={"edge": "s3cret"},
        extra_config=tls_listener(pki, tls_port, require_certificate=True),
    )
    tls = TlsSettings(ca_file=pki["ca"], cert_file=pki["cli"], key_file=pki["cli_key"])

    def settings(password: str) -> MqttSettings:
        return MqttSettings(url=f"mqtts://127.0.0.1:{tls_port}", username="edge",
                            password=password, tls=tls, reconnect_max_s=0.5)

    sub = MosquittoSub(broker.host, broker.port, [topic("events")], username="edge",
                       password="s3cret").start()
    try:
        good = build_publisher(station(), _with_mqtt(settings("s3cret"), tmp_path / "a"))
        with good:
            good.publish_event(frame_event(1))
            sub.wait_count(1, timeout=30)
        bad = build_publisher(station(), _with_mqtt(settings("wrong"), tmp_path / "b"))
        with bad:
            bad.publish_event(frame_event(2, severity="low"))  # low: raises no alarm
            assert bad.flush(10)
            time.sleep(2.0)
            assert not bad.connected
            assert bad.counters()["backlog"] == 1  # kept for when the credentials are fixed
    finally:
        sub.stop()
    assert "not authorised" in broker.log_tail(100).lower() or "not authorized" in (
        broker.log_tail(100).lower()
    )


def _with_mqtt(mqtt_settings: MqttSettings, path: Path) -> PublishSettings:
    return PublishSettings(mqtt_settings, OutboxSettings(path=path / "o.sqlite3"),
                           AlarmSettings(), StatsSettings())


# -- embedded broker ----------------------------------------------------------------------------
def test_embedded_broker_binds_loopback_and_carries_events(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="loopback only"):
        EmbeddedBroker(host="0.0.0.0")
    pub = open_publisher(station(), PublishSettings(
        None, OutboxSettings(path=tmp_path / "o.sqlite3"), AlarmSettings(), StatsSettings()))
    try:
        assert pub.client.wait_connected(20)
        url = pub.client.settings.url
        assert url.startswith("mqtt://127.0.0.1:")
        got: list[str] = []
        c = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
        c.on_message = lambda _c, _u, m: got.append(m.payload.decode())
        c.on_connect = lambda cl, *_: cl.subscribe(topic("events"), 1)
        host, port = url.removeprefix("mqtt://").split(":")
        c.connect(host, int(port))
        c.loop_start()
        try:
            time.sleep(1.0)
            for i in range(10):
                pub.publish_event(frame_event(i))
            deadline = time.monotonic() + 20
            while len(got) < 10 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert [json.loads(p)["frame_seq"] for p in got] == list(range(10))
        finally:
            c.disconnect()
            c.loop_stop()
    finally:
        pub.close()


def test_open_from_edge_settings_uses_the_configured_broker(
    mosquitto: MosquittoServer, mosquitto_sub: Sub, tmp_path: Path
) -> None:
    from edge.publish.factory import open_from_settings
    from edge.settings import EdgeSettings

    settings = EdgeSettings.model_validate({
        "site": SITE, "line": "line3", "station": STATION,
        "cameras": [{"id": "cam1", "source": {"kind": "synthetic"}},
                    {"id": "cam2", "source": {"kind": "synthetic"}}],
        "mqtt": {"url": mosquitto.url, "reconnect_max_s": 0.5},
        "outbox": {"path": str(tmp_path / "o.sqlite3")},
    })
    sub = mosquitto_sub(mosquitto, topic("events", "cam2"))
    pub = open_from_settings(settings)
    try:
        assert pub.station.cameras == ("cam1", "cam2")
        pub.publish_event(frame_event(5, camera="cam2"))
        assert json.loads(sub.wait_count(1, timeout=30)[0].payload)["frame_seq"] == 5
    finally:
        pub.close()
