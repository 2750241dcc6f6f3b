"""A real Mosquitto broker (Debian's /usr/sbin/mosquitto) on a free loopback port."""

from __future__ import annotations

import os
import pwd
import signal
import socket
import struct
import subprocess
from collections.abc import Mapping
from pathlib import Path

from lineinspect.testing.ports import free_port
from lineinspect.testing.process import ServerProcess

MOSQUITTO = "/usr/sbin/mosquitto"
MOSQUITTO_PASSWD = "/usr/bin/mosquitto_passwd"


def _mqtt_connect_packet(client_id: str) -> bytes:
    """An MQTT 3.1.1 CONNECT with a clean session and no credentials."""
    cid = client_id.encode()
    variable = b"\x00\x04MQTT" + bytes([4, 0x02]) + struct.pack("!H", 10)
    payload = struct.pack("!H", len(cid)) + cid
    body = variable + payload
    assert len(body) < 128  # one-byte remaining length keeps this encoder trivial
    return bytes([0x10, len(body)]) + body


def mqtt_connack_code(host: str, port: int, client_id: str, timeout: float = 1.0) -> int | None:
    """Return the CONNACK return code the broker sends, or None if it does not answer.

    A code other than 0 (e.g. 5, not authorised) still proves the broker is up and speaking MQTT.
    """
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(_mqtt_connect_packet(client_id))
            reply = b""
            while len(reply) < 4:
                chunk = sock.recv(4 - len(reply))
                if not chunk:
                    return None
                reply += chunk
            if reply[0] != 0x20:
                return None
            sock.sendall(b"\xe0\x00")  # DISCONNECT, so the broker logs a clean goodbye
            return reply[3]
    except OSError:
        return None


class MosquittoServer(ServerProcess):
    """Mosquitto with persistence on, a raised queue limit and its own data directory.

    ``users`` (name -> password) turns on a password file and disables anonymous access, like the
    production config in ``deploy/mosquitto/``. ``autosave_interval`` is in seconds; it bounds what
    a SIGKILL loses (a SIGTERM always saves). ``extra_config`` lines are appended verbatim.
    """

    name = "mosquitto"

    def __init__(
        self,
        workdir: Path,
        *,
        port: int | None = None,
        users: Mapping[str, str] | None = None,
        max_queued_messages: int = 100_000,
        autosave_interval: int = 1,
        extra_config: str = "",
        startup_timeout: float = 15.0,
    ) -> None:
        super().__init__(workdir, startup_timeout)
        self.host = "127.0.0.1"
        self.port = port if port is not None else free_port(self.host)
        self.users = dict(users or {})
        self.max_queued_messages = max_queued_messages
        self.autosave_interval = autosave_interval
        self.extra_config = extra_config
        self.data_dir = self.workdir / "data"
        self.data_dir.mkdir(exist_ok=True)
        self.config_path = self.workdir / "mosquitto.conf"
        self.password_path = self.workdir / "passwords"
        self._probe_count = 0

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    @property
    def persistence_file(self) -> Path:
        return self.data_dir / "mosquitto.db"

    def _write_config(self) -> None:
        # As root, mosquitto drops to user "mosquitto", which cannot write our temp dirs; naming
        # the current user keeps it as is (the option has no effect for a non-root user).
        me = pwd.getpwuid(os.getuid()).pw_name
        lines = [
            f"user {me}",
            f"listener {self.port} {self.host}",
            "persistence true",
            f"persistence_location {self.data_dir}/",
            "autosave_on_changes false",
            f"autosave_interval {self.autosave_interval}",
            # The 2.0 default of 1000 silently drops QoS 1 messages for a slow or offline
            # subscriber; tests that hold a subscriber back must not hit it by accident.
            f"max_queued_messages {self.max_queued_messages}",
            "max_inflight_messages 20",
            "set_tcp_nodelay true",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            "connection_messages true",
            "log_timestamp_format %Y-%m-%dT%H:%M:%S",
        ]
        if self.users:
            self._write_password_file()
            lines += ["allow_anonymous false", f"password_file {self.password_path}"]
        else:
            lines.append("allow_anonymous true")
        if self.extra_config:
            lines.append(self.extra_config)
        self.config_path.write_text("\n".join(lines) + "\n")

    def _write_password_file(self) -> None:
        self.password_path.write_text("")
        for user, password in self.users.items():
            subprocess.run(
                [MOSQUITTO_PASSWD, "-b", str(self.password_path), user, password],
                check=True,
                capture_output=True,
            )

    def _command(self) -> list[str]:
        return [MOSQUITTO, "-c", str(self.config_path)]

    def _answers(self) -> bool:
        self._probe_count += 1
        probe_id = f"lineinspect-probe-{os.getpid()}-{self._probe_count}"
        return mqtt_connack_code(self.host, self.port, probe_id) is not None

    def save_now(self) -> None:
        """Ask the broker to write its persistence file now (SIGUSR1)."""
        if self._proc is not None and self.running:
            self._proc.send_signal(signal.SIGUSR1)
