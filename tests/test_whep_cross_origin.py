"""A plant HMI on another origin plays the live view with the reference WHEP client.

npm ``whip-whep`` (by a WHEP draft author; tests/whep_client/) in Debian's headless Chromium,
from a page served on a second loopback origin listed in ``api.cors_origins``, with the edge's
bearer token: the stream must play. The same page from an origin not listed must be refused
by the browser (CORS), and must open no viewer session on the edge. All of it runs inside a
loopback-only network namespace (tests/_whep_cross_origin_session.py).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests._netns import netns_available, run_module_in_netns
from tests._whep_client import whep_js


@pytest.fixture(scope="module")
def observed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    why = netns_available()
    assert why is None, f"loopback-only network namespaces are needed: {why}"
    module = whep_js()  # npm ci needs the registry: before entering the namespace
    out = tmp_path_factory.mktemp("whep-cross-origin")
    log = out / "session.log"
    proc = run_module_in_netns("tests._whep_cross_origin_session", [str(out), str(module)],
                               timeout=400, log=log)  # fmt: skip
    result_file = out / "result.json"
    assert result_file.is_file(), f"no result (exit {proc.returncode}):\n{log.read_text()[-4000:]}"
    result: dict[str, Any] = json.loads(result_file.read_text())
    assert "error" not in result, result.get("error", "") + log.read_text()[-3000:]
    return result


@pytest.mark.slow
def test_listed_origin_plays_the_stream(observed: dict[str, Any]) -> None:
    allowed = observed["allowed"]
    assert allowed["result"]["state"] == "viewing", allowed
    assert "/whep/cam1/" in allowed["result"]["resource"]  # Location was readable
    assert allowed["frames_decoded"] >= 10, allowed


@pytest.mark.slow
def test_unlisted_origin_is_refused(observed: dict[str, Any]) -> None:
    stranger = observed["stranger"]
    assert stranger["origin"] != observed["allowed"]["origin"]
    assert stranger["result"]["state"] == "error", stranger
    assert "Failed to fetch" in stranger["result"]["error"], stranger
    assert stranger["frames_decoded"] == 0
    assert observed["viewers_after_stranger"] == observed["viewers_before_stranger"]
