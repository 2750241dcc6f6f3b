"""Mosquitto run from the shipped deploy/mosquitto/ files, with only ports and paths moved.

Every other line of mosquitto.conf (auth, ACL, TLS options, persistence, queue and packet
limits) and the whole ACL file are what a site gets, so the tests check the shipped behaviour.
"""

from __future__ import annotations

import os
import pwd
from pathlib import Path

from lineinspect.testing import MosquittoServer, free_port
from tests._pki import ScratchCA

DEPLOY = Path(__file__).resolve().parents[1] / "deploy" / "mosquitto"
DEPLOY_CONF = DEPLOY / "mosquitto.conf"
DEPLOY_ACL = DEPLOY / "acl"
PLAIN_PORT, TLS_PORT = 1883, 8883


class DeployedMosquitto(MosquittoServer):
    """The shipped config: plain listener on ``port``, TLS listener on ``tls_port``."""

    def __init__(self, workdir: Path, users: dict[str, str]) -> None:
        super().__init__(workdir, users=users)
        self.tls_port = free_port(self.host)
        self.ca = ScratchCA(workdir / "pki")
        self.server_cert = self.ca.issue(self.host, server=True)

    def _write_config(self) -> None:
        self._write_password_file()
        moved = {
            f"listener {PLAIN_PORT}": f"listener {self.port} {self.host}",
            f"listener {TLS_PORT}": f"listener {self.tls_port} {self.host}",
            "password_file": f"password_file {self.password_path}",
            "acl_file": f"acl_file {DEPLOY_ACL}",
            "cafile": f"cafile {self.ca.ca_file}",
            "certfile": f"certfile {self.server_cert.cert}",
            "keyfile": f"keyfile {self.server_cert.key}",
            "persistence_location": f"persistence_location {self.data_dir}/",
            "log_dest": "log_dest stderr",
        }
        lines = [f"user {pwd.getpwuid(os.getuid()).pw_name}"]
        replaced: list[str] = []
        for line in DEPLOY_CONF.read_text().splitlines():
            key = next((k for k in moved if line == k or line.startswith(k + " ")), None)
            if key is not None:
                replaced.append(key)
                line = moved[key]
            lines.append(line)
        assert sorted(replaced) == sorted(moved), f"expected each of {sorted(moved)} once"
        self.config_path.write_text("\n".join(lines) + "\n")


def deploy_setting(key: str) -> str:
    for line in DEPLOY_CONF.read_text().splitlines():
        if line.split(" ", 1)[0] == key:
            return line.split(" ", 1)[1].strip()
    raise AssertionError(f"{key} not set in {DEPLOY_CONF}")
