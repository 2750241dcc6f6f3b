"""PLC alarms through a real Mosquitto: raise, latch, ack (from an independent mosquitto_pub),
auto-clear, retained state for a PLC gateway that (re)connects, restore across an agent restart,
plain 1/0 payloads. The PLC side is mosquitto_sub/mosquitto_pub: a stand-in for the gateway,
since no PLC can run here."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edge.publish.publisher import Publisher
from lineinspect.testing import MosquittoServer, MosquittoSub
from tests._publish_helpers import frame_event, publish_settings, start_publisher, topic

Sub = Callable[..., MosquittoSub]
ALARM = topic("alarm")
ACK = topic("alarm/ack")


def mosquitto_pub(broker: MosquittoServer, tpc: str, payload: str, retain: bool = False) -> None:
    argv = ["mosquitto_pub", "-h", broker.host, "-p", str(broker.port), "-q", "1", "-t", tpc]
    argv += ["-r"] if retain else []
    argv += ["-n"] if payload == "" else ["-m", payload]
    subprocess.run(argv, check=True, timeout=20)


def alarms(sub: MosquittoSub) -> list[dict[str, Any]]:
    return [json.loads(m.payload) for m in sub.messages if m.topic == ALARM]


def wait_alarm(sub: MosquittoSub, pred: Callable[[dict[str, Any]], bool],
               timeout: float = 20) -> dict[str, Any]:
    sub.wait_for(lambda ms: any(m.topic == ALARM and pred(json.loads(m.payload)) for m in ms),
                 timeout)
    return next(a for a in alarms(sub) if pred(a))


def retained_alarm(broker: MosquittoServer, mosquitto_sub: Sub) -> tuple[str, bool]:
    """What a PLC gateway connecting now gets: the retained payload and its retain flag."""
    plc = mosquitto_sub(broker, ALARM, qos=1)
    m = plc.wait_count(1, timeout=10)[0]
    plc.stop()
    return m.payload, m.retained


def start(broker: MosquittoServer, tmp_path: Path, **alarm_rules: Any) -> Publisher:
    pub = start_publisher(publish_settings(broker, tmp_path / "o.sqlite3", alarms=alarm_rules))
    assert pub.client.wait_connected(20)
    return pub


def test_startup_state_then_raise_latch_and_ack(
    mosquitto: MosquittoServer, mosquitto_sub: Sub, tmp_path: Path
) -> None:
    sub = mosquitto_sub(mosquitto, ALARM, qos=1)
    pub = start(mosquitto, tmp_path, clear="ack", codes={"crack": 20})
    try:
        startup = wait_alarm(sub, lambda a: a["cleared_by"] == "startup")
        assert startup["active"] is False and startup["code"] == 0
        ev = frame_event(1, class_name="crack", class_id=1, severity="high")
        pub.publish_event(ev)
        raised = wait_alarm(sub, lambda a: a["active"])
        assert (raised["code"], raised["class_name"], raised["event_id"]) == (
            20, "crack", ev.event_id,
        )
        # Latched: a PLC gateway (re)connecting now gets the active state, retained.
        time.sleep(1.0)
        payload, retained = retained_alarm(mosquitto, mosquitto_sub)
        assert retained and json.loads(payload)["active"] is True
        # An ack naming another alarm changes nothing; the right one clears it.
        mosquitto_pub(mosquitto, ACK, json.dumps({"v": 1, "event_id": frame_event(9).event_id}))
        time.sleep(1.0)
        assert not any(a["cleared_by"] == "ack" for a in alarms(sub))
        mosquitto_pub(mosquitto, ACK, json.dumps({"v": 1, "event_id": ev.event_id,
                                                  "by": "plc-line3"}))
        cleared = wait_alarm(sub, lambda a: a["cleared_by"] == "ack")
        assert (cleared["active"], cleared["code"], cleared["event_id"]) == (False, 0, ev.event_id)
        payload, retained = retained_alarm(mosquitto, mosquitto_sub)
        assert retained and json.loads(payload)["cleared_by"] == "ack"
    finally:
        pub.close()


def test_auto_clear_after_quiet_time(
    mosquitto: MosquittoServer, mosquitto_sub: Sub, tmp_path: Path
) -> None:
    sub = mosquitto_sub(mosquitto, ALARM, qos=1)
    pub = start(mosquitto, tmp_path, clear="auto", auto_clear_s=1.0)
    try:
        t0 = time.monotonic()
        pub.publish_event(frame_event(1))
        wait_alarm(sub, lambda a: a["active"])
        cleared = wait_alarm(sub, lambda a: a["cleared_by"] == "timeout")
        assert 0.9 <= time.monotonic() - t0 <= 10
        assert cleared["active"] is False
    finally:
        pub.close()


def test_retained_ack_is_ignored_live_and_after_a_restart_and_plain_ack_works(
    mosquitto: MosquittoServer, mosquitto_sub: Sub, tmp_path: Path
) -> None:
    sub = mosquitto_sub(mosquitto, ALARM, qos=1)
    pub = start(mosquitto, tmp_path)
    try:
        pub.publish_event(frame_event(1))
        wait_alarm(sub, lambda a: a["active"])
        mosquitto_pub(mosquitto, ACK, "ack", retain=True)  # a misconfigured gateway
        time.sleep(1.5)
        # MQTT 5 retain-as-published shows the flag on a live message too.
        assert not any(a["cleared_by"] == "ack" for a in alarms(sub))
        assert pub.counters()["alarm_acks_ignored"] == 1
    finally:
        pub.close()
    for protocol in ("3.1.1", "5"):  # the broker hands the retained ack over on subscribe
        pub = start_publisher(publish_settings(mosquitto, tmp_path / "o.sqlite3",
                                               protocol=protocol))
        try:
            assert pub.client.wait_connected(20)
            time.sleep(2.0)
            assert not any(a["cleared_by"] == "ack" for a in alarms(sub))
            assert pub.counters()["alarm_acks_ignored"] >= 1
        finally:
            pub.close()
    mosquitto_pub(mosquitto, ACK, "", retain=True)  # remove it from the broker again
    pub = start(mosquitto, tmp_path)
    try:
        mosquitto_pub(mosquitto, ACK, "junk")
        mosquitto_pub(mosquitto, ACK, "ACK")
        wait_alarm(sub, lambda a: a["cleared_by"] == "ack")
        assert pub.counters()["bad_messages"] >= 1
    finally:
        pub.close()


def test_rate_limit_keeps_a_defect_storm_off_the_plc(
    mosquitto: MosquittoServer, mosquitto_sub: Sub, tmp_path: Path
) -> None:
    sub = mosquitto_sub(mosquitto, ALARM, qos=1)
    pub = start(mosquitto, tmp_path, min_interval_s=1.0)
    try:
        wait_alarm(sub, lambda a: a["cleared_by"] == "startup")
        for i in range(200):
            pub.publish_event(frame_event(i))
        last = wait_alarm(sub, lambda a: a["count"] == 200)
        assert last["active"]
        assert len(alarms(sub)) <= 1 + 5  # startup + raise + a few rate-limited updates
    finally:
        pub.close()


def test_latched_alarm_survives_an_agent_restart_and_an_ack_sent_while_it_was_down(
    mosquitto: MosquittoServer, mosquitto_sub: Sub, tmp_path: Path
) -> None:
    sub = mosquitto_sub(mosquitto, ALARM, qos=1)
    pub = start(mosquitto, tmp_path)
    ev = frame_event(1)
    try:
        pub.publish_event(ev)
        wait_alarm(sub, lambda a: a["active"])
    finally:
        pub.close()
    # Restart: the agent reads its retained alarm back and keeps it latched (no startup clear).
    pub = start(mosquitto, tmp_path)
    try:
        time.sleep(3.0)  # restore_wait_s (1 s) and then some
        assert not any(a["cleared_by"] == "startup" for a in alarms(sub)[1:])
        payload, _ = retained_alarm(mosquitto, mosquitto_sub)
        assert json.loads(payload)["active"] is True
    finally:
        pub.close()
    # The operator acks while the agent is down: its persistent session keeps the ack.
    mosquitto_pub(mosquitto, ACK, json.dumps({"v": 1, "event_id": ev.event_id}))
    pub = start(mosquitto, tmp_path)
    try:
        cleared = wait_alarm(sub, lambda a: a["cleared_by"] == "ack")
        assert cleared["event_id"] == ev.event_id
    finally:
        pub.close()


def test_plain_mode_payloads_for_a_bit_mapping_gateway(
    mosquitto: MosquittoServer, mosquitto_sub: Sub, tmp_path: Path
) -> None:
    sub = mosquitto_sub(mosquitto, ALARM, qos=1)
    pub = start(mosquitto, tmp_path, payload="plain")
    try:
        sub.wait_for(lambda ms: [m.payload for m in ms] == ["0"], 20)  # startup
        pub.publish_event(frame_event(1))
        sub.wait_for(lambda ms: [m.payload for m in ms] == ["0", "1"], 20)
        payload, retained = retained_alarm(mosquitto, mosquitto_sub)
        assert (payload, retained) == ("1", True)
        mosquitto_pub(mosquitto, ACK, "1")
        sub.wait_for(lambda ms: [m.payload for m in ms] == ["0", "1", "0"], 20)
    finally:
        pub.close()


def test_alarm_listener_hears_every_state_and_cannot_stop_publishing(
    mosquitto: MosquittoServer, mosquitto_sub: Sub, tmp_path: Path
) -> None:
    """What `edge run` feeds the viewer's alarm pill with: startup, raise, ack — the same states
    the PLC gets, from the publisher's open on; a listener that throws costs only itself."""
    from edge.publish.factory import open_publisher
    from tests._publish_helpers import station

    heard: list[Any] = []

    def broken(alarm: Any) -> None:
        raise RuntimeError("viewer gone")

    s = publish_settings(mosquitto, tmp_path / "o.sqlite3", alarms={"clear": "ack"})
    sub = mosquitto_sub(mosquitto, ALARM, qos=1)
    pub = open_publisher(station(), s, on_alarm=heard.append)
    pub.add_alarm_listener(broken)
    try:
        assert pub.client.wait_connected(20)
        wait_alarm(sub, lambda a: a["cleared_by"] == "startup")
        ev = frame_event(1, class_name="crack", class_id=1, severity="high")
        pub.publish_event(ev)
        wait_alarm(sub, lambda a: a["active"])
        mosquitto_pub(mosquitto, ACK, json.dumps({"v": 1, "event_id": ev.event_id}))
        wait_alarm(sub, lambda a: a["cleared_by"] == "ack")
    finally:
        pub.close()
    assert [(a.active, a.cleared_by) for a in heard] == [
        (False, "startup"), (True, None), (False, "ack")]
    assert heard[1].event_id == ev.event_id
