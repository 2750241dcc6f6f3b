"""``lineinspect cloud run``: collector and query API in one process, from a config file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from lineinspect.cli import main
from lineinspect.testing import MosquittoServer, free_port
from lineinspect.testing.process import _die_with_parent
from tests._cloud_helpers import (
    REPO,
    Publisher,
    cloud_config,
    event_stream,
    wait_until,
    write_config,
)


def _get(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=5) as resp:
        doc: dict[str, Any] = json.loads(resp.read())
        return doc


def test_cloud_run_collects_into_the_embedded_store_and_serves_it(
    mosquitto_session: MosquittoServer, tmp_path: Path
) -> None:
    port = free_port()
    doc = cloud_config(mosquitto_session, sqlite_path=tmp_path / "store.sqlite3",
                       client_id=f"cli-{port}", share_group=f"cli{port}", flush_interval_ms=100)
    doc["api"] = {"host": "127.0.0.1", "port": port}
    config = write_config(tmp_path / "cloud.yaml", doc)  # fmt: skip
    log_path = tmp_path / "cloud.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "lineinspect.cli", "cloud", "run", "--config", str(config)],
            cwd=REPO, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=dict(os.environ, PYTHONUNBUFFERED="1"), preexec_fn=_die_with_parent,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    events = event_stream(20)
    try:
        wait_until(lambda: "subscription active" in log_path.read_text(), 180,
                   f"collector did not subscribe:\n{log_path.read_text()[-2000:]}")  # fmt: skip
        wait_until(lambda: _ok(base + "/healthz"), 60, "API did not answer")
        pub = Publisher(mosquitto_session)
        pub.publish_events(events)
        pub.close()
        latest = base + "/api/v1/events/latest?limit=100&start=2000-01-01T00:00:00Z"
        wait_until(lambda: len(_get(latest)["items"]) == 20, 60, "events not queryable")
        got = {i["fields"]["event_id"] for i in _get(latest)["items"]}
        assert got == {e.event_id for e in events}
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(60)
    assert code == 0, log_path.read_text()[-2000:]
    assert "collector stopped" in log_path.read_text()


def _ok(url: str) -> bool:
    try:
        return _get(url).get("status") == "ok"
    except OSError:
        return False


def test_cloud_run_reports_config_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("collector:\n  share_group: 'a/b'\n  linger_ms: -1\ninflux:\n  api: v2\n")
    assert main(["cloud", "run", "--config", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "collector.share_group" in err
    assert "collector.linger_ms" in err
    assert "api v2 needs org, bucket, token" in err
