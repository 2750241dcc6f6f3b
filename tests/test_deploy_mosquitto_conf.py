"""The shipped broker config (deploy/mosquitto/mosquitto.conf) works with Debian's Mosquitto.

A broker is started from the file itself, with only the port, paths and log destination moved
into a temp dir, so every other line (auth, persistence, queue and packet limits) is what a
site gets.
"""

from __future__ import annotations

import os
import pwd
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from lineinspect.contract import MAX_PAYLOAD_BYTES
from lineinspect.testing import MosquittoServer, MosquittoSub, mqtt_connack_code
from tests._paho import ConnackRefused, paho_client, publish, subscribe

DEPLOY_CONF = Path(__file__).resolve().parents[1] / "deploy" / "mosquitto" / "mosquitto.conf"
USERS = {"edge-agent": "edge-pw", "collector": "collector-pw"}


class DeployedMosquitto(MosquittoServer):
    """MosquittoServer that runs the shipped config instead of the test one."""

    def _write_config(self) -> None:
        self._write_password_file()
        moved = {
            "listener": f"listener {self.port} {self.host}",
            "password_file": f"password_file {self.password_path}",
            "persistence_location": f"persistence_location {self.data_dir}/",
            "log_dest": "log_dest stderr",
        }
        lines = [f"user {pwd.getpwuid(os.getuid()).pw_name}"]
        replaced: list[str] = []
        for line in DEPLOY_CONF.read_text().splitlines():
            key = line.split(" ", 1)[0]
            if key in moved:
                replaced.append(key)
                line = moved[key]
            lines.append(line)
        assert sorted(replaced) == sorted(moved), f"expected each of {sorted(moved)} once"
        self.config_path.write_text("\n".join(lines) + "\n")


@pytest.fixture
def deployed(tmp_path: Path) -> Iterator[MosquittoServer]:
    server = DeployedMosquitto(tmp_path, users=USERS)
    server.start()
    try:
        yield server
    finally:
        server.close()


def _setting(key: str) -> str:
    for line in DEPLOY_CONF.read_text().splitlines():
        if line.split(" ", 1)[0] == key:
            return line.split(" ", 1)[1].strip()
    raise AssertionError(f"{key} not set in {DEPLOY_CONF}")


def test_production_settings_are_present() -> None:
    assert _setting("allow_anonymous") == "false"
    assert _setting("persistence") == "true"
    assert _setting("autosave_on_changes") == "false"
    assert int(_setting("autosave_interval")) <= 300
    assert int(_setting("max_queued_messages")) >= 100_000


def test_anonymous_refused_and_users_accepted(deployed: MosquittoServer) -> None:
    assert mqtt_connack_code(deployed.host, deployed.port, "anon") == 5  # not authorised
    with pytest.raises(ConnackRefused), paho_client(deployed, username="collector", password="x"):
        pass
    with paho_client(deployed, username="collector", password="collector-pw") as (client, _):
        publish(client, "t", "ok")


def test_largest_contract_payload_passes(deployed: MosquittoServer) -> None:
    payload = b"x" * MAX_PAYLOAD_BYTES
    with paho_client(deployed, username="edge-agent", password="edge-pw") as (client, received):
        subscribe(client, "big/t")
        publish(client, "big/t", payload)
        assert received.get(timeout=10).payload == payload


def test_offline_queue_beyond_default_limit_survives_restart(
    deployed: MosquittoServer, mosquitto_sub: Callable[..., MosquittoSub]
) -> None:
    creds = {"username": "collector", "password": "collector-pw"}
    sub = mosquitto_sub(deployed, "q/#", client_id="collector-1", clean=False, **creds)
    sub.stop()
    n = 1500  # > Mosquitto's default max_queued_messages of 1000
    with paho_client(deployed, username="edge-agent", password="edge-pw") as (client, _):
        for info in [client.publish("q/e", str(i), qos=1) for i in range(n)]:
            info.wait_for_publish(timeout=30)
    deployed.restart()
    again = mosquitto_sub(deployed, "q/#", client_id="collector-1", clean=False, **creds)
    got = again.wait_count(n, timeout=30)
    assert [m.payload for m in got] == [str(i) for i in range(n)]
