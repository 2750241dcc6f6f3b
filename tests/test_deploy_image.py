"""The CPU target of Dockerfile.x86, built for real and run as a site would run it.

The test's own dockerd (lineinspect/testing/docker.py) builds the image from a debootstrapped Debian
base; the edge container runs `lineinspect edge run` on the synthetic conveyor video and
publishes to the test Mosquitto, the cloud container runs `lineinspect cloud run` and writes
what the edge sent into the test influxd. Both use the host network and reach the servers on
127.0.0.1; their HTTP APIs are checked on the ports they listen on inside the containers, and
Docker's own HEALTHCHECK (the image's script) must report them healthy.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from lineinspect.testing import InfluxServer, MosquittoServer, MosquittoSub, free_port
from lineinspect.testing.docker import (
    DockerDaemon,
    build_args_for_ca,
    ensure_base_image,
)
from tests._cloud_helpers import wait_until

REPO = Path(__file__).resolve().parents[1]
IMAGE = "lineinspect-ci/app:cpu"
UID = "10001"


class Built:
    def __init__(self, daemon: DockerDaemon, seconds: float) -> None:
        self.daemon = daemon
        self.build_seconds = seconds
        inspect = json.loads(daemon.docker("image", "inspect", IMAGE).stdout)[0]
        self.size_bytes = int(inspect["Size"])
        self.config: dict[str, Any] = inspect["Config"]


@pytest.fixture(scope="module")
def built() -> Iterator[Built]:
    daemon = DockerDaemon()
    daemon.start()
    try:
        base = ensure_base_image(daemon)
        began = time.monotonic()
        daemon.docker(
            "build", "--network", "host", "-f", "Dockerfile.x86", "--target", "cpu",
            "--build-arg", f"BASE_IMAGE={base}", *build_args_for_ca(), "-t", IMAGE, str(REPO),
            timeout=1200,
        )  # fmt: skip
        result = Built(daemon, time.monotonic() - began)
        print(f"\nimage {IMAGE}: built in {result.build_seconds:.0f} s, "
              f"{result.size_bytes / 1e6:.0f} MB")  # fmt: skip
        # Keep the persistent data root from growing run after run: old layers of earlier
        # source versions go, the dependency layers (still referenced) stay.
        daemon.docker("image", "prune", "-f", check=False)
        daemon.docker("builder", "prune", "-f", "--filter", "until=168h", check=False)
        yield result
    finally:
        for name in daemon.docker("ps", "-aq", check=False).stdout.split():
            daemon.docker("rm", "-f", name, check=False)
        daemon.close()


class Container:
    def __init__(self, built: Built, name: str) -> None:
        self.daemon = built.daemon
        self.name = name

    def logs(self) -> str:
        proc = self.daemon.docker("logs", "--tail", "80", self.name, check=False)
        return proc.stdout + proc.stderr

    def health(self) -> str:
        fmt = "{{if .State.Health}}{{.State.Health.Status}}{{end}}"
        return self.daemon.docker("inspect", "-f", fmt, self.name).stdout.strip()

    def running(self) -> bool:
        fmt = "{{.State.Running}}"
        return self.daemon.docker("inspect", "-f", fmt, self.name).stdout.strip() == "true"

    def process_uids(self) -> list[str]:
        out = self.daemon.docker("top", self.name, "-eo", "pid,uid,args").stdout.splitlines()
        return [line.split()[1] for line in out[1:] if line.strip()]

    def exec_get(self, url: str) -> str:
        # Fetched from inside the container, with its own Python: the port it listens on there.
        code = f"import urllib.request as u; print(u.urlopen({url!r}, timeout=5).read().decode())"
        return self.daemon.docker("exec", self.name, "python3", "-c", code).stdout


@pytest.fixture
def run_container(built: Built, tmp_path: Path) -> Iterator[Callable[..., Container]]:
    made: list[Container] = []

    def run(role: str, config: dict[str, Any], health_url: str) -> Container:
        path = tmp_path / f"{role}.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        path.chmod(0o644)
        name = f"li-{role}-{uuid.uuid4().hex[:8]}"
        built.daemon.docker(
            "run", "-d", "--name", name, "--network", "host",
            "-v", f"{path}:/etc/lineinspect/{role}.yaml:ro",
            "-e", f"HEALTHCHECK_URL={health_url}",
            "--health-interval", "2s", "--health-start-period", "120s",
            IMAGE, role, "run", "--config", f"/etc/lineinspect/{role}.yaml",
        )  # fmt: skip
        container = Container(built, name)
        made.append(container)
        return container

    yield run
    for container in made:
        stop = container.daemon.docker("stop", "-t", "20", container.name, check=False)
        assert stop.returncode == 0, stop.stderr
        print(f"--- {container.name} log ---\n{container.logs()}")
        container.daemon.docker("rm", "-f", container.name, check=False)


def _edge_config(broker: MosquittoServer, port: int) -> dict[str, Any]:
    return {
        "site": "plant1", "line": "line3", "station": "st2",
        "cameras": [{"id": "cam1", "source": {"kind": "synthetic", "fps": 15}}],
        "mqtt": {"url": broker.url, "protocol": "5"},
        "api": {"host": "127.0.0.1", "port": port},
        "stats": {"interval_s": 2},
        # The image carries the refiner too: every defect the stage sees is refined.
        "refine": {"enabled": True, "min_score": 0.3},
    }  # fmt: skip


def _cloud_config(broker: MosquittoServer, influx: InfluxServer, db: str, port: int,
                  ) -> dict[str, Any]:  # fmt: skip
    return {
        "collector": {"mqtt": {"url": broker.url, "client_id": f"collector-{port}"},
                      "share_group": None},
        "influx": {"api": "v1", "url": influx.url, "database": db, "create_database": True,
                   "flush_interval_ms": 200},
        "store": {"path": "var/lineinspect.sqlite3", "flush_interval_ms": 100},
        "api": {"host": "127.0.0.1", "port": port},
    }  # fmt: skip


def _wait_healthy(container: Container, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while (status := container.health()) != "healthy":
        if not container.running() or time.monotonic() > deadline:
            raise AssertionError(f"{container.name}: health {status!r}\n{container.logs()}")
        time.sleep(1)


def test_image_metadata(built: Built) -> None:
    assert built.config["User"] == f"{UID}:{UID}"
    assert built.config["Healthcheck"]["Test"][0] == "CMD"
    assert built.config["Entrypoint"][-1] == "lineinspect"
    assert built.config["Cmd"][:2] == ["edge", "run"]


def test_edge_and_cloud_containers_carry_events_into_influx(
    built: Built,
    mosquitto: MosquittoServer,
    influx: InfluxServer,
    mosquitto_sub: Callable[..., MosquittoSub],
    run_container: Callable[..., Container],
) -> None:
    events = mosquitto_sub(mosquitto, "lineinspect/v1/+/+/+/+/events", qos=1)
    cloud_port, edge_port = free_port(), free_port()
    db = "site_" + uuid.uuid4().hex[:6]
    cloud = run_container("cloud", _cloud_config(mosquitto, influx, db, cloud_port),
                          f"http://127.0.0.1:{cloud_port}/healthz")  # fmt: skip
    _wait_healthy(cloud, 120)
    edge = run_container("edge", _edge_config(mosquitto, edge_port),
                         f"http://127.0.0.1:{edge_port}/health")  # fmt: skip
    _wait_healthy(edge, 120)

    got = events.wait_count(3, timeout=120)
    assert len(got) >= 3, f"no defect events on the broker\n{edge.logs()}"
    first = json.loads(got[0].payload)
    assert got[0].topic.startswith("lineinspect/v1/plant1/line3/st2/cam1/events")
    assert first["kind"] == "new"

    def refined(msgs: list[Any]) -> bool:
        return any(json.loads(m.payload).get("refined") for m in msgs)

    try:
        events.wait_for(refined, timeout=120)
    except TimeoutError as exc:
        raise AssertionError(f"no refined update from the image's refiner\n{edge.logs()}") from exc
    update = next(e for e in map(json.loads, (m.payload for m in events.messages))
                  if e.get("refined"))
    assert update["kind"] == "update" and update["mask"] is not None and update["length_px"] > 0

    assert json.loads(edge.exec_get(f"http://127.0.0.1:{edge_port}/health"))["status"] == "ok"
    assert json.loads(cloud.exec_get(f"http://127.0.0.1:{cloud_port}/healthz"))["status"] == "ok"
    for container in (edge, cloud):
        uids = container.process_uids()
        assert uids and set(uids) == {UID}, f"{container.name} processes run as {uids}"

    def stored() -> int:
        try:
            rows = influx.select('SELECT count("event_id") FROM "defect_events"', db=db)
        except Exception:  # database not created yet
            return 0
        return int(rows[0]["count"]) if rows else 0

    wait_until(lambda: stored() >= 3, 60, f"events not in influx\n{cloud.logs()}")

