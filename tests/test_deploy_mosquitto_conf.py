"""The shipped broker config (deploy/mosquitto/mosquitto.conf) works with Debian's Mosquitto.

A broker is started from the file itself (tests/_deployed_broker.py), with only ports, paths and
the log destination moved into a temp dir, so every other line (auth, ACL, TLS, persistence,
queue and packet limits) is what a site gets. The ACL per role: test_deploy_mosquitto_acl.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from lineinspect.contract import MAX_PAYLOAD_BYTES
from lineinspect.testing import MosquittoServer, MosquittoSub, mqtt_connack_code
from tests._deployed_broker import DeployedMosquitto, deploy_setting
from tests._paho import ConnackRefused, paho_client, publish, subscribe

EDGE, COLLECTOR = "edge-plant1-line3-st2", "collector"
USERS = {EDGE: "edge-pw", COLLECTOR: "collector-pw"}
EVENTS = "lineinspect/v1/plant1/line3/st2/cam1/events"


@pytest.fixture
def deployed(tmp_path: Path) -> Iterator[MosquittoServer]:
    server = DeployedMosquitto(tmp_path, users=USERS)
    server.start()
    try:
        yield server
    finally:
        server.close()


def test_production_settings_are_present() -> None:
    assert deploy_setting("allow_anonymous") == "false"
    assert deploy_setting("acl_file") == "/etc/mosquitto/acl"
    assert deploy_setting("require_certificate") == "true"
    assert deploy_setting("persistence") == "true"
    assert deploy_setting("autosave_on_changes") == "false"
    assert int(deploy_setting("autosave_interval")) <= 300
    assert int(deploy_setting("max_queued_messages")) >= 100_000


def test_anonymous_refused_and_users_accepted(deployed: MosquittoServer) -> None:
    assert mqtt_connack_code(deployed.host, deployed.port, "anon") == 5  # not authorised
    with pytest.raises(ConnackRefused), paho_client(deployed, username=COLLECTOR, password="x"):
        pass
    with paho_client(deployed, username=EDGE, password="edge-pw") as (client, _):
        publish(client, EVENTS, "ok")


def test_largest_contract_payload_passes(deployed: MosquittoServer) -> None:
    payload = b"x" * MAX_PAYLOAD_BYTES
    creds = {"username": COLLECTOR, "password": "collector-pw"}
    with paho_client(deployed, **creds) as (reader, received):
        subscribe(reader, EVENTS)
        with paho_client(deployed, username=EDGE, password="edge-pw") as (client, _):
            publish(client, EVENTS, payload)
        assert received.get(timeout=10).payload == payload


def test_offline_queue_beyond_default_limit_survives_restart(
    deployed: MosquittoServer, mosquitto_sub: Callable[..., MosquittoSub]
) -> None:
    creds = {"username": COLLECTOR, "password": "collector-pw"}
    sub = mosquitto_sub(deployed, "lineinspect/v1/#", client_id="collector-1", clean=False, **creds)
    sub.stop()
    n = 1500  # > Mosquitto's default max_queued_messages of 1000
    with paho_client(deployed, username=EDGE, password="edge-pw") as (client, _):
        for info in [client.publish(EVENTS, str(i), qos=1) for i in range(n)]:
            info.wait_for_publish(timeout=30)
    deployed.restart()
    again = mosquitto_sub(deployed, "lineinspect/v1/#", client_id="collector-1", clean=False,
                          **creds)
    got = again.wait_count(n, timeout=30)
    assert [m.payload for m in got] == [str(i) for i in range(n)]
