"""An in-process MQTT broker (amqtt) for the demo and for a laptop with no broker.

amqtt speaks MQTT 3.1.1 only, keeps no sessions or retained messages across its own restarts,
and binds ``0.0.0.0:1883`` unless told otherwise; here it is bound to loopback and started on its
own asyncio loop in a daemon thread. Clients of it must use protocol 3.1.1 and clean sessions.
Production and the tests use a real broker (Mosquitto) instead.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import threading
from concurrent.futures import Future
from typing import Any

log = logging.getLogger(__name__)

_PORT_TRIES = 5


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class EmbeddedBroker:
    """``start()`` blocks until the broker accepts connections; ``close()`` stops it."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, allow_remote: bool = False) -> None:
        if not allow_remote and not _is_loopback(host):
            raise ValueError(
                f"the embedded broker binds loopback only (got {host!r}); it has no "
                "authentication, so pass allow_remote=True only on a trusted network"
            )
        if not 0 <= port <= 65535:
            raise ValueError(f"port must be 0..65535, got {port}")
        self.host = host
        self._requested_port = port
        self.port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._broker: Any = None

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def _config(self, port: int) -> dict[str, Any]:
        return {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{port}"}},
            # Only anonymous auth: the default set also loads $SYS and packet-logging plugins.
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {
                "allow_anonymous": True
            }},
        }

    def start(self, timeout: float = 10.0) -> EmbeddedBroker:
        if self._thread is not None:
            raise RuntimeError("embedded broker already started")
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name="embedded-broker",
                                        daemon=True)
        self._thread.start()
        last: BaseException | None = None
        for _ in range(_PORT_TRIES if self._requested_port == 0 else 1):
            port = self._requested_port or _free_port(self.host)
            fut: Future[Any] = asyncio.run_coroutine_threadsafe(self._start(port), loop)
            try:
                self._broker = fut.result(timeout)
                self.port = port
                log.info("embedded MQTT broker (amqtt, MQTT 3.1.1) on %s", self.url)
                return self
            except Exception as exc:  # port taken between probe and bind: try another
                last = exc
        self._stop_loop()
        raise RuntimeError(f"embedded MQTT broker failed to start on {self.host}: {last}")

    async def _start(self, port: int) -> Any:
        from amqtt.broker import Broker  # imported late: only the demo path needs amqtt

        broker = Broker(self._config(port))
        await broker.start()
        return broker

    def close(self, timeout: float = 10.0) -> None:
        loop, broker = self._loop, self._broker
        if loop is None:
            return
        if broker is not None:
            fut = asyncio.run_coroutine_threadsafe(broker.shutdown(), loop)
            try:
                fut.result(timeout)
            except Exception as exc:
                log.warning("embedded broker shutdown: %s", exc)
            self._broker = None
        self._stop_loop()

    def _stop_loop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is not None:
            loop.call_soon_threadsafe(loop.stop)
        if thread is not None:
            thread.join(timeout=10)
        if loop is not None and not loop.is_running():
            loop.close()
        self._loop = None
        self._thread = None

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
