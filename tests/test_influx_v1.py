"""The v1 writer and the point design against a real influxd 1.6: overwrite on redelivery, no
collision inside a frame, and the error kinds the collector's retry logic depends on."""

from __future__ import annotations

import uuid

import pytest

from cloud.store.influx_http import InfluxAuth, InfluxHttp
from cloud.store.influx_v1 import InfluxV1Writer
from cloud.store.points import make_point
from cloud.store.schema import defect_point
from cloud.store.writer import PointsRejected, StoreUnavailable
from lineinspect.testing import InfluxServer, MosquittoServer, free_port
from tests._cloud_helpers import (
    Publisher,
    cloud_settings,
    influx_event_ids,
    running_collector,
    stored_event,
    wait_until,
)


def _writer(influx: InfluxServer, db: str, create: bool = True) -> InfluxV1Writer:
    return InfluxV1Writer(InfluxHttp(influx.url, InfluxAuth(), 5.0), db, create_database=create)


@pytest.fixture
def db() -> str:
    return f"t_{uuid.uuid4().hex[:10]}"


def test_same_point_written_twice_is_stored_once(influx_session: InfluxServer, db: str) -> None:
    event = stored_event(index_in_frame=3)
    writer = _writer(influx_session, db)
    writer.write([defect_point(event)])
    writer.write([defect_point(event), defect_point(event)])
    assert influx_event_ids(influx_session, db) == [event.event_id]


def test_same_frame_same_class_defects_are_both_stored(
    influx_session: InfluxServer, db: str
) -> None:
    a = stored_event(index_in_frame=0, class_name="scratch")
    b = stored_event(index_in_frame=1, class_name="scratch")
    _writer(influx_session, db).write([defect_point(a), defect_point(b)])
    rows = influx_session.select('SELECT "event_id", "index_in_frame" FROM "defect_events"', db)
    assert sorted(r["event_id"] for r in rows) == sorted([a.event_id, b.event_id])
    series = influx_session.query('SHOW SERIES FROM "defect_events"', db=db)
    assert len(series["results"][0]["series"][0]["values"]) == 1  # one series, two points


def test_field_type_conflict_is_a_rejection_not_an_outage(
    influx_session: InfluxServer, db: str
) -> None:
    writer = _writer(influx_session, db)
    writer.write([make_point("m", {}, {"f": 1.5}, 1)])
    with pytest.raises(PointsRejected, match="field type conflict"):
        writer.write([make_point("m", {}, {"f": "text"}, 2)])


def test_missing_database_is_an_outage_to_retry(influx_session: InfluxServer, db: str) -> None:
    writer = _writer(influx_session, db, create=False)
    with pytest.raises(StoreUnavailable, match="database not found"):
        writer.write([make_point("m", {}, {"f": 1.0}, 1)])


def test_server_down_is_an_outage_to_retry() -> None:
    http = InfluxHttp(f"http://127.0.0.1:{free_port()}", InfluxAuth(), 2.0)
    with pytest.raises(StoreUnavailable):
        InfluxV1Writer(http, "x").write([make_point("m", {}, {"f": 1.0}, 1)])


def test_basic_auth_against_an_auth_enabled_server(influx_factory: object, db: str) -> None:
    server: InfluxServer = influx_factory(admin=("admin", "s3cret"))  # type: ignore[operator]
    good = InfluxV1Writer(
        InfluxHttp(server.url, InfluxAuth("admin", "s3cret"), 5.0), db, create_database=True
    )
    good.write([defect_point(stored_event())])
    bad = InfluxV1Writer(InfluxHttp(server.url, InfluxAuth("admin", "wrong"), 5.0), db)
    with pytest.raises(StoreUnavailable, match="401"):
        bad.write([defect_point(stored_event())])


def test_collector_stores_a_redelivered_event_once_and_same_frame_defects_both(
    mosquitto_session: MosquittoServer, influx_session: InfluxServer, db: str
) -> None:
    """Through broker and collector: the same message three times (as a redelivery after a
    lost acknowledgement looks), plus three defects of one frame, two of the same class."""
    settings = cloud_settings(
        mosquitto_session, influx=influx_session, database=db,
        client_id=f"c-{db}", share_group=db,
    )  # fmt: skip
    classes = ("scratch", "scratch", "crack")
    same_frame = [stored_event(5_000, i, class_name=c) for i, c in enumerate(classes)]
    repeated = stored_event(6_000, 0)
    pub = Publisher(mosquitto_session)
    try:
        with running_collector(settings) as collector:
            pub.publish_events([repeated, *same_frame, repeated, repeated])
            wait_until(lambda: collector.counters.get("messages_done") >= 6, 60)
    finally:
        pub.close()
    ids = influx_event_ids(influx_session, db)
    assert sorted(ids) == sorted([repeated.event_id, *(e.event_id for e in same_frame)])
    assert collector.counters.get("points_written") == 6
