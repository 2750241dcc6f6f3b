"""The provisioned Grafana dashboard: every panel query is valid InfluxQL that returns data from
what the collector writes (run against a real influxd with Grafana's macros filled in), and the
provisioning files agree with the dashboard."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from cloud.store.influx_http import InfluxAuth, InfluxHttp
from cloud.store.influx_v1 import InfluxV1Writer
from lineinspect.contract import TopicKind, Uuid7Generator
from lineinspect.contract.examples import event_like
from lineinspect.testing import InfluxServer
from tests.test_cloud_api import MIN, T0, _points, dataset

GRAFANA = Path(__file__).resolve().parents[1] / "deploy" / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "lineinspect-quality.json"


def _dashboard() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return doc


def _targets() -> list[tuple[str, dict[str, Any]]]:
    return [(p["title"], t) for p in _dashboard()["panels"] for t in p["targets"]]


def _fill(query: str) -> str:
    """Grafana's macros and 'All' template values, as Grafana would substitute them."""
    query = query.replace("$timeFilter", f"time >= {T0 - 3_600_000}ms AND time < {T0 + 2 * MIN}ms")
    query = query.replace("$__interval", "1m")
    return re.sub(r"\$(site|line|station)\b", ".*", query)


@pytest.fixture(scope="module")
def db(influx_session: InfluxServer) -> str:
    name = f"grafana_{uuid.uuid4().hex[:8]}"
    points, _ = dataset()
    # A refined update (the refinement stage's sizes) for the defect-size panel.
    refined = event_like(Uuid7Generator(), kind="update", ts_ms=T0 + 4_500, index_in_frame=1,
                         refined=True, area_px=30.0, area_mm2=0.75, length_px=15.0,
                         width_px=2.0, length_mm=2.4, width_mm=0.32)
    points += _points(TopicKind.EVENTS, "st2", refined)
    http = InfluxHttp(influx_session.url, InfluxAuth(), 5.0)
    InfluxV1Writer(http, name, create_database=True).write(points)
    return name


@pytest.mark.parametrize(
    ("title", "target"),
    [t for t in _targets() if "query" in t[1]],
    ids=[f"{title}:{t['refId']}" for title, t in _targets() if "query" in t],
)
def test_panel_query_runs_and_returns_data(
    influx_session: InfluxServer, db: str, title: str, target: dict[str, Any]
) -> None:
    doc = influx_session.query(_fill(target["query"]), db=db)
    series = doc["results"][0].get("series", [])
    assert series, f"{title}: no data for {target['query']}"


def test_template_variable_queries_list_the_stations(influx_session: InfluxServer, db: str) -> None:
    variables = {v["name"]: v for v in _dashboard()["templating"]["list"]}
    assert set(variables) == {"site", "line", "station"}
    doc = influx_session.query(_fill(variables["station"]["query"]), db=db)
    values = {v[1] for s in doc["results"][0]["series"] for v in s["values"]}
    assert values == {"st2", "st3"}


def test_expressions_reference_existing_queries() -> None:
    for panel in _dashboard()["panels"]:
        refs = {t["refId"] for t in panel["targets"]}
        for t in panel["targets"]:
            if t.get("type") == "math":
                used = set(re.findall(r"\$([A-Z])", t["expression"]))
                assert used and used <= refs - {t["refId"]}, panel["title"]


def test_dashboard_covers_what_the_quality_manager_needs() -> None:
    titles = " | ".join(p["title"].lower() for p in _dashboard()["panels"])
    for needed in ("rate per class", "per station", "yield", "fps", "latency", "alarms",
                   "backlog", "defect sizes"):  # fmt: skip
        assert needed in titles


def test_provisioning_points_at_the_dashboard_and_datasource() -> None:
    ds = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "influxdb.yaml").read_text())
    (source,) = ds["datasources"]
    assert source["type"] == "influxdb"
    uids = {t["datasource"]["uid"] for _, t in _targets() if "query" in t}
    assert uids == {source["uid"]}
    provider = GRAFANA / "provisioning" / "dashboards" / "lineinspect.yaml"
    prov = yaml.safe_load(provider.read_text())
    assert prov["providers"][0]["type"] == "file"
