"""HTTP least privilege and CORS, for the edge and the cloud API.

- An API bound beyond loopback without a token is refused at config time, for both roles,
  unless ``allow_anonymous: true``; the shipped examples load as they are.
- CORS: no origin is allowed by default; a listed origin gets the WHEP preflight (POST, PATCH,
  DELETE) on the edge and GET on the cloud API, with Location/ETag/Link exposed; an unlisted
  origin gets no Access-Control-* header, and the edge's other routes get none at all.
The real browser with the reference WHEP client: tests/test_whep_cross_origin.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from cloud.api.app import create_app as create_cloud_app
from cloud.settings import CloudApiSettings, load_cloud_settings
from cloud.store.sqlite_store import SqliteStore
from edge.api.settings import ApiSettings
from edge.settings import load_edge_settings
from lineinspect.config.http import is_loopback
from lineinspect.cors import add_cors
from tests._edge_app import build_app

REPO = Path(__file__).resolve().parents[1]
HMI = "http://hmi.plant.local:8081"
STRANGER = "http://evil.example"
MODELS = [ApiSettings, CloudApiSettings]


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("127.8.0.1", True), ("::1", True), ("[::1]", True),
    ("localhost", True), ("0.0.0.0", False), ("::", False), ("10.0.0.5", False),
    ("edge.plant.local", False),
])  # fmt: skip
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize(("settings", "ok"), [
    ({}, True),  # default: 127.0.0.1, no token
    ({"host": "0.0.0.0"}, False),
    ({"host": "10.0.0.5"}, False),
    ({"host": "0.0.0.0", "token": "s3cret"}, True),
    ({"host": "0.0.0.0", "allow_anonymous": True}, True),
    ({"host": "127.0.0.1", "allow_anonymous": False}, True),
])  # fmt: skip
def test_network_needs_a_token_or_an_explicit_opt_out(
    model: Any, settings: dict[str, Any], ok: bool
) -> None:
    if ok:
        model.model_validate(settings)
        return
    with pytest.raises(ValidationError, match="serves the network without a token"):
        model.model_validate(settings)


def test_token_file_counts_as_a_token(tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text("s3cret\n")
    for model in MODELS:
        assert model.model_validate({"host": "0.0.0.0", "token_file": secret}).token is not None


def test_shipped_examples_are_safe_as_they_are() -> None:
    edge = load_edge_settings(REPO / "deploy/config/edge.example.yaml", env={})
    cloud = load_cloud_settings(REPO / "deploy/config/cloud.example.yaml", env={})
    for api in (edge.api, cloud.api):
        assert is_loopback(api.host) and not api.allow_anonymous and not api.cors_origins


@pytest.mark.parametrize("origin", ["hmi.plant.local", "http://hmi/path", "ftp://hmi",
                                    "http://user:pw@hmi", "http://hmi?x=1", ""])  # fmt: skip
def test_cors_origins_must_be_origins(origin: str) -> None:
    with pytest.raises(ValidationError, match="not a web origin"):
        ApiSettings(cors_origins=[origin])


def test_cors_origin_spelling_is_normalised() -> None:
    assert ApiSettings(cors_origins=["HTTPS://HMI.plant.local/"]).cors_origins == [
        "https://hmi.plant.local"]


def _preflight(client: TestClient, path: str, origin: str, method: str) -> Any:
    return client.options(path, headers={
        "Origin": origin, "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "authorization, content-type"})  # fmt: skip


@pytest.fixture
def edge_client() -> Any:
    parts = build_app(None, api=ApiSettings(token="t0ken", cors_origins=[HMI]))
    with TestClient(parts.app) as client:
        yield client


@pytest.mark.parametrize(("path", "method"), [
    ("/whep/cam1", "POST"), ("/whep/cam1/abc", "PATCH"), ("/whep/cam1/abc", "DELETE"),
])  # fmt: skip
def test_edge_whep_preflight_for_a_listed_origin(edge_client: Any, path: str,
                                                 method: str) -> None:  # fmt: skip
    resp = _preflight(edge_client, path, HMI, method)
    assert resp.status_code == 200  # answered before the token check: a preflight has none
    assert resp.headers["access-control-allow-origin"] == HMI
    assert method in resp.headers["access-control-allow-methods"]
    assert "authorization" in resp.headers["access-control-allow-headers"].lower()


def test_edge_refuses_other_origins_and_other_routes(edge_client: Any) -> None:
    resp = _preflight(edge_client, "/whep/cam1", STRANGER, "POST")
    assert "access-control-allow-origin" not in resp.headers
    assert resp.status_code >= 400
    # Uploads and the viewer's own routes stay same-origin, also for a listed origin.
    resp = _preflight(edge_client, "/predict", HMI, "POST")
    assert "access-control-allow-origin" not in resp.headers


def test_edge_whep_answers_expose_location_etag_and_link(edge_client: Any) -> None:
    # No stream here (503), but a listed origin's actual request gets the CORS answer headers.
    resp = edge_client.post("/whep/cam1", content=b"v=0\r\n", headers={
        "Origin": HMI, "Content-Type": "application/sdp", "Authorization": "Bearer t0ken"})
    assert resp.headers["access-control-allow-origin"] == HMI
    exposed = {h.strip().lower() for h in resp.headers["access-control-expose-headers"].split(",")}
    assert {"location", "etag", "link"} <= exposed


def test_edge_without_origins_sends_no_cors_headers() -> None:
    parts = build_app(None, api=ApiSettings())
    with TestClient(parts.app) as client:
        resp = _preflight(client, "/whep/cam1", HMI, "POST")
    assert "access-control-allow-origin" not in resp.headers
    assert resp.status_code == 405


@pytest.fixture
def cloud_client(tmp_path: Path) -> Any:
    app = create_cloud_app(SqliteStore(tmp_path / "s.sqlite3"), token="t0ken")
    add_cors(app, CloudApiSettings(cors_origins=[HMI]).cors_origins, ("GET",))
    with TestClient(app) as client:
        yield client


def test_cloud_api_is_readable_from_a_listed_origin_only(cloud_client: Any) -> None:
    path = "/api/v1/events/latest"
    resp = _preflight(cloud_client, path, HMI, "GET")
    assert resp.status_code == 200 and resp.headers["access-control-allow-origin"] == HMI
    resp = cloud_client.get(path, headers={"Origin": HMI, "Authorization": "Bearer t0ken"})
    assert resp.status_code == 200 and resp.headers["access-control-allow-origin"] == HMI
    assert "link" in resp.headers["access-control-expose-headers"].lower()
    # Read-only: a page cannot be allowed to write, whatever its origin.
    assert _preflight(cloud_client, path, HMI, "POST").status_code >= 400
    resp = _preflight(cloud_client, path, STRANGER, "GET")
    assert "access-control-allow-origin" not in resp.headers
    resp = cloud_client.get(path, headers={"Origin": STRANGER, "Authorization": "Bearer t0ken"})
    assert "access-control-allow-origin" not in resp.headers
