"""The query API on both backends (real influxd through InfluxQL, and the embedded SQLite
store) with the same stored data and the same expected answers."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cloud.api.app import create_app
from cloud.store.influx_http import InfluxAuth, InfluxHttp
from cloud.store.influx_v1 import InfluxV1Writer
from cloud.store.influxql import InfluxQueryStore
from cloud.store.points import Point
from cloud.store.schema import points_for
from cloud.store.sqlite_store import SqliteStore
from lineinspect.contract import (
    Alarm,
    Payload,
    TopicKind,
    build_topic,
    encode_payload,
    format_ts,
    parse_message,
)
from lineinspect.testing import InfluxServer
from tests._cloud_helpers import LINE, SITE, make_stats, make_status, stored_event

T0 = 1_763_791_200_000  # an hour boundary, ms
MIN = 60_000


def _points(kind: TopicKind, station: str, payload: Payload) -> list[Point]:
    topic = build_topic(kind, SITE, LINE, station, "cam1")
    return points_for(parse_message(topic, encode_payload(payload)), received_us=0)


def _alarm(ts_ms: int, active: bool, event_id: str) -> Alarm:
    if active:
        return Alarm(v=1, active=True, code=1, class_name="scratch", severity="medium",
                     event_id=event_id, count=1, ts=format_ts(ts_ms), ts_ms=ts_ms)
    return Alarm(v=1, active=False, code=0, count=0, cleared_by="ack", event_id=event_id,
                 ts=format_ts(ts_ms), ts_ms=ts_ms)  # fmt: skip


def dataset() -> tuple[list[Point], dict[str, Any]]:
    pts: list[Point] = []
    ev = TopicKind.EVENTS

    def event(ts: int, i: int, cls: str, kind: str = "new", station: str = "st2") -> str:
        e = stored_event(ts, i, class_name=cls, kind=kind, station=station)
        pts.extend(_points(ev, station, e))
        return e.event_id

    # minute 0 at st2: 3 new scratch (two in one frame), 1 new crack, 2 updates, 1 end
    first = event(T0 + 1_000, 0, "scratch")
    event(T0 + 1_000, 1, "scratch")
    event(T0 + 2_000, 0, "scratch")
    event(T0 + 3_000, 0, "crack")
    event(T0 + 4_000, 0, "scratch", "update")
    event(T0 + 5_000, 0, "scratch", "update")
    event(T0 + 6_000, 0, "scratch", "end")
    # minute 1 at st2: 2 new dents; minute 0 at st3: 1 new scratch
    event(T0 + MIN + 1_000, 0, "dent")
    newest = event(T0 + MIN + 2_000, 0, "dent")
    event(T0 + 7_000, 0, "scratch", station="st3")
    for station, ts, frames, parts in [
        ("st2", T0 + 10_000, 300, 10), ("st2", T0 + 20_000, 300, 10),
        ("st2", T0 + MIN + 10_000, 600, 30), ("st3", T0 + 10_000, 100, 5),
    ]:  # fmt: skip
        pts += _points(TopicKind.STATS, station, make_stats(ts, frames, parts))
    pts += _points(TopicKind.STATUS, "st2", make_status(T0, "up"))
    pts += _points(TopicKind.STATUS, "st2", make_status(T0 + MIN, "reconnecting"))
    pts += _points(TopicKind.STATUS, "st3", make_status(T0, "up"))
    pts += _points(TopicKind.ALARM, "st2", _alarm(T0 + 1_000, True, first))
    pts += _points(TopicKind.ALARM, "st2", _alarm(T0 + 30_000, False, first))
    return pts, {"first": first, "newest": newest}


@dataclass
class Api:
    client: TestClient
    ids: dict[str, Any]


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).isoformat()


RANGE = {"start": _iso(T0), "end": _iso(T0 + 2 * MIN)}


@pytest.fixture(scope="module", params=["influxdb", "sqlite"])
def api(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    influx_session: InfluxServer,
) -> Iterator[Api]:
    pts, ids = dataset()
    if request.param == "influxdb":
        db = f"api_{uuid.uuid4().hex[:8]}"
        http = InfluxHttp(influx_session.url, InfluxAuth(), 5.0)
        InfluxV1Writer(http, db, create_database=True).write(pts)
        store: Any = InfluxQueryStore(http, db)
    else:
        store = SqliteStore(tmp_path_factory.mktemp("api") / "store.sqlite3")
        store.write(pts)
    app = create_app(store, clock=lambda: (T0 + 2 * MIN) / 1000)
    with TestClient(app) as client:
        yield Api(client, ids)
    store.close()


def get(api: Api, path: str, **params: Any) -> Any:
    resp = api.client.get(path, params=params)
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_counts_per_station_and_class(api: Api) -> None:
    body = get(api, "/api/v1/defects/counts", interval_s=60, group_by=["station", "class"],
               **RANGE)  # fmt: skip
    got = {(b["time"][11:16], b["group"]["station"], b["group"]["class"], b["defects"])
           for b in body["buckets"]}  # fmt: skip
    assert got == {
        ("06:00", "st2", "scratch", 3),
        ("06:00", "st2", "crack", 1),
        ("06:00", "st3", "scratch", 1),
        ("06:01", "st2", "dent", 2),
    }


def test_rates_per_station_use_the_stats_denominators(api: Api) -> None:
    body = get(api, "/api/v1/defects/rates", interval_s=60, group_by=["station"], **RANGE)
    got = {(b["time"][11:16], b["group"]["station"]): b for b in body["buckets"]}
    assert set(got) == {("06:00", "st2"), ("06:01", "st2"), ("06:00", "st3")}
    st2 = got[("06:00", "st2")]
    assert (st2["defects"], st2["frames_inspected"], st2["parts_seen"]) == (4, 600, 20)
    assert st2["rate_per_part"] == pytest.approx(0.2)
    assert st2["rate_per_frame"] == pytest.approx(4 / 600)
    assert got[("06:01", "st2")]["rate_per_part"] == pytest.approx(2 / 30)
    assert got[("06:00", "st3")]["rate_per_part"] == pytest.approx(1 / 5)


def test_rates_per_class_within_a_station(api: Api) -> None:
    body = get(api, "/api/v1/defects/rates", interval_s=120, group_by=["class"], station="st2",
               **RANGE)  # fmt: skip
    got = {b["group"]["class"]: b for b in body["buckets"]}
    assert {k: v["defects"] for k, v in got.items()} == {"scratch": 3, "crack": 1, "dent": 2}
    assert got["scratch"]["parts_seen"] == 50  # everything st2 inspected in the bucket
    assert got["scratch"]["rate_per_part"] == pytest.approx(3 / 50)


def test_one_bucket_without_grouping(api: Api) -> None:
    body = get(api, "/api/v1/defects/rates", interval_s=3600, **RANGE)
    (bucket,) = body["buckets"]
    assert (bucket["defects"], bucket["frames_inspected"], bucket["parts_seen"]) == (7, 1300, 55)


def test_latest_events_newest_first(api: Api) -> None:
    body = get(api, "/api/v1/events/latest", limit=3, **RANGE)
    items = body["items"]
    assert len(items) == 3
    assert items[0]["fields"]["event_id"] == api.ids["newest"]
    assert items[0]["tags"]["class"] == "dent"
    assert items[0]["tags"]["station"] == "st2"
    times = [i["time"] for i in items]
    assert times == sorted(times, reverse=True)


def test_filters_narrow_and_quotes_cannot_break_out(api: Api) -> None:
    body = get(api, "/api/v1/events/latest", limit=50, station="st3", **RANGE)
    assert [i["tags"]["station"] for i in body["items"]] == ["st3"]
    body = get(api, "/api/v1/events/latest", limit=50, **{"class": "x' OR '1'='1"}, **RANGE)
    assert body["items"] == []


def test_camera_status_latest_status_stats_and_alarm(api: Api) -> None:
    body = get(api, "/api/v1/cameras/status")
    cams = {c["station"]: c for c in body["cameras"]}
    assert set(cams) == {"st2", "st3"}
    st2 = cams["st2"]
    assert st2["status"]["state"] == "reconnecting"
    assert st2["stats"]["frames_inspected"] == 600
    assert st2["stats"]["outbox_backlog"] == 5
    assert st2["alarm"]["active"] in (False, 0)
    assert st2["alarm"]["cleared_by"] == "ack"
    assert cams["st3"]["alarm"] is None
    assert [c["station"] for c in get(api, "/api/v1/cameras/status", station="st3")["cameras"]] \
        == ["st3"]


def test_alarm_history(api: Api) -> None:
    body = get(api, "/api/v1/alarms", **RANGE)
    assert [bool(i["fields"]["active"]) for i in body["items"]] == [False, True]
    assert body["items"][1]["fields"]["event_id"] == api.ids["first"]


BAD_REQUESTS = [
    ({"start": _iso(T0 + MIN), "end": _iso(T0)}, "end must be after start"),
    ({"interval_s": 1, "start": _iso(0), "end": _iso(T0)}, "buckets requested"),
    ({"station": "bad/id"}, "string_pattern_mismatch"),
    ({"group_by": "shift"}, "literal_error"),
    ({"interval_s": 0}, "greater_than_equal"),
]


@pytest.mark.parametrize(("params", "message"), BAD_REQUESTS)
def test_bad_requests_are_422_with_a_reason(
    api: Api, params: dict[str, Any], message: str
) -> None:
    resp = api.client.get("/api/v1/defects/counts", params=params)
    assert resp.status_code == 422
    assert message in resp.text


def test_openapi_lists_every_endpoint(api: Api) -> None:
    paths = set(get(api, "/openapi.json")["paths"])
    assert {"/api/v1/defects/counts", "/api/v1/defects/rates", "/api/v1/events/latest",
            "/api/v1/alarms", "/api/v1/cameras/status", "/healthz"} <= paths  # fmt: skip
    assert api.client.get("/docs").status_code == 200


def test_bearer_token_when_configured(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.sqlite3")
    with TestClient(create_app(store, token="t0ken")) as client:
        assert client.get("/api/v1/cameras/status").status_code == 401
        wrong = {"Authorization": "Bearer nope"}
        assert client.get("/api/v1/cameras/status", headers=wrong).status_code == 401
        good = {"Authorization": "Bearer t0ken"}
        assert client.get("/api/v1/cameras/status", headers=good).status_code == 200
        assert client.get("/healthz").status_code == 200


def test_store_down_is_503(tmp_path: Path) -> None:
    from lineinspect.testing import free_port

    http = InfluxHttp(f"http://127.0.0.1:{free_port()}", InfluxAuth(), 1.0)
    with TestClient(create_app(InfluxQueryStore(http, "x"))) as client:
        resp = client.get("/api/v1/cameras/status")
    assert resp.status_code == 503
    assert "store unavailable" in resp.text
