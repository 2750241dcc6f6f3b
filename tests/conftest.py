"""Shared fixtures: real Mosquitto and InfluxDB servers, and mosquitto_sub clients.

Scope guide:
- ``mosquitto`` / ``influx``: a fresh server per test, on its own port and data dir. Use these
  when the test stops, kills, pauses or restarts the server, or needs empty state.
- ``mosquitto_session`` / ``influx_session``: one server for the whole run (cheaper). Never stop
  or pause these; isolate by topic prefix / database name instead.
- ``mosquitto_factory`` / ``influx_factory``: build a started server with custom options
  (users, autosave interval, admin) that is stopped at teardown.
- ``mosquitto_sub``: start ``mosquitto_sub`` against a broker; stopped at teardown.

Every server is stopped at teardown, also when the test fails, and a failing test's report
carries the tail of the log of each server it used.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from lineinspect.testing import InfluxServer, MosquittoServer, MosquittoSub, ServerProcess
from lineinspect.testing.process import current_serial, registered_servers

_WATERMARK = pytest.StashKey[int]()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    item.stash[_WATERMARK] = current_serial()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed:
        _attach_server_logs(item, report)
    return report


def _attach_server_logs(item: pytest.Item, report: pytest.TestReport) -> None:
    used = {
        id(v): v for v in getattr(item, "funcargs", {}).values() if isinstance(v, ServerProcess)
    }
    watermark = item.stash.get(_WATERMARK, 1 << 62)
    for server in registered_servers():
        if server.serial > watermark:
            used[id(server)] = server
    for server in sorted(used.values(), key=lambda s: s.serial):
        port = getattr(server, "port", "?")
        title = f"{server.name} log (port {port}, {server.log_path})"
        report.sections.append((title, server.log_tail(60)))


def _workdir(base: Path, name: str) -> Path:
    path = base / f"{name}-{uuid.uuid4().hex[:6]}"
    path.mkdir(parents=True)
    return path


# -- servers ---------------------------------------------------------------------------------
S = TypeVar("S", bound=ServerProcess)


def _running(server: S) -> Iterator[S]:
    """Start ``server`` for the fixture's life; closed at teardown, also on failure."""
    server.start()
    try:
        yield server
    finally:
        server.close()


def _factory(make_server: Callable[..., S]) -> Iterator[Callable[..., S]]:
    """A fixture's ``make(**options)`` that starts servers, every one closed at teardown."""
    made: list[S] = []

    def make(**options: Any) -> S:
        server = make_server(**options)
        made.append(server)
        server.start()
        return server

    try:
        yield make
    finally:
        for server in made:
            server.close()


# -- Mosquitto ---------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def mosquitto_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MosquittoServer]:
    yield from _running(MosquittoServer(tmp_path_factory.mktemp("mosquitto-session")))


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[MosquittoServer]:
    yield from _running(MosquittoServer(_workdir(tmp_path, "mosquitto")))


@pytest.fixture
def mosquitto_factory(tmp_path: Path) -> Iterator[Callable[..., MosquittoServer]]:
    yield from _factory(lambda **o: MosquittoServer(_workdir(tmp_path, "mosquitto"), **o))


@pytest.fixture
def mosquitto_sub() -> Iterator[Callable[..., MosquittoSub]]:
    """``mosquitto_sub(broker, "topic/#", client_id="x", clean=False, qos=1)`` -> started sub."""
    made: list[MosquittoSub] = []

    def make(broker: MosquittoServer, *topics: str, **options: Any) -> MosquittoSub:
        sub = MosquittoSub(broker.host, broker.port, topics, **options)
        made.append(sub)
        return sub.start()

    try:
        yield make
    finally:
        for sub in made:
            sub.stop()


# -- InfluxDB ----------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def influx_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfluxServer]:
    yield from _running(InfluxServer(tmp_path_factory.mktemp("influxd-session")))


@pytest.fixture
def influx(tmp_path: Path) -> Iterator[InfluxServer]:
    yield from _running(InfluxServer(_workdir(tmp_path, "influxd")))


@pytest.fixture
def influx_factory(tmp_path: Path) -> Iterator[Callable[..., InfluxServer]]:
    yield from _factory(lambda **o: InfluxServer(_workdir(tmp_path, "influxd"), **o))
