"""`lineinspect demo` — the README's first command — runs the whole path on loopback with no
services: events printed, stored in the embedded store and answered by the query API."""

from __future__ import annotations

import json
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> dict[str, object]:
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read())


def test_demo_stores_and_serves_events(tmp_path: Path) -> None:
    edge_port, cloud_port = _free_port(), _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "lineinspect.cli", "demo", "--workdir", str(tmp_path),
         "--edge-port", str(edge_port), "--cloud-port", str(cloud_port), "--seconds", "40"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    latest: list[dict[str, object]] = []
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                body = _get(f"http://127.0.0.1:{cloud_port}/api/v1/events/latest")
                latest = body["items"]  # type: ignore[assignment]
                if latest:
                    break
            except OSError:
                pass
            time.sleep(1.0)
        health = _get(f"http://127.0.0.1:{edge_port}/health")
        assert health["status"] == "ok"
        out, _ = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out
    assert latest, f"no event reached the query API\n{out}"
    printed = [line for line in out.splitlines() if "  cam1  " in line]
    assert any(" new " in line for line in printed), out
    with sqlite3.connect(tmp_path / "store.sqlite3") as db:
        (stored,) = db.execute("select count(*) from points").fetchone()
    assert stored >= len(latest)
    assert "query API" in out and "live viewer" in out
