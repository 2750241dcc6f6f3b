"""The embedded store keeps InfluxDB's point semantics: identity = measurement + tags + time,
a rewrite merges fields, different instants of one series both stay."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from cloud.collector.settle_process import ProcessSettler
from cloud.store.points import make_point
from cloud.store.query import Scope, TimeRange
from cloud.store.schema import defect_point
from cloud.store.sqlite_store import SqliteStore
from cloud.store.writer import PointsRejected
from lineinspect.testing import MosquittoServer
from tests._cloud_helpers import (
    Publisher,
    cloud_settings,
    event_stream,
    running_collector,
    stored_event,
    wait_until,
)

ALL = TimeRange(0, 2**62)


def _count(store: SqliteStore) -> int:
    return int(store._conn().execute("SELECT COUNT(*) FROM points").fetchone()[0])


def test_rewrite_of_one_identity_is_one_row_with_merged_fields(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.sqlite3")
    store.write([make_point("m", {"site": "a"}, {"x": 1, "y": "old"}, 10)])
    store.write([make_point("m", {"site": "a"}, {"y": "new", "z": True}, 10)])
    rows = store._conn().execute("SELECT fields FROM points").fetchall()
    assert len(rows) == 1
    assert rows[0][0] == '{"x":1,"y":"new","z":true}'


def test_same_frame_events_and_redeliveries(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.sqlite3")
    a, b = stored_event(index_in_frame=0), stored_event(index_in_frame=1)
    store.write([defect_point(a), defect_point(b)])
    store.write([defect_point(a)])  # a redelivery
    got = {r.fields["event_id"] for r in store.latest_events(Scope(), ALL, 10)}
    assert got == {a.event_id, b.event_id}
    assert _count(store) == 2


def test_data_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "s.sqlite3"
    store = SqliteStore(path)
    store.write([defect_point(stored_event())])
    store.close()
    assert _count(SqliteStore(path)) == 1
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_unknown_tags_are_rejected(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.sqlite3")
    with pytest.raises(PointsRejected, match="unknown tag"):
        store.write([make_point("m", {"shift": "night"}, {"x": 1}, 1)])
    assert _count(store) == 0


def test_readers_in_other_threads_see_committed_writes(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.sqlite3")
    store.write([defect_point(e) for e in event_stream(30)])
    seen: list[int] = []
    t = threading.Thread(target=lambda: seen.append(len(store.latest_events(Scope(), ALL, 100))))
    t.start()
    t.join()
    assert seen == [30]


def test_collector_into_the_embedded_store(
    mosquitto_session: MosquittoServer, tmp_path: Path
) -> None:
    """With no InfluxDB configured the collector writes the SQLite file (the demo path)."""
    path = tmp_path / "store.sqlite3"
    settings = cloud_settings(mosquitto_session, sqlite_path=path, client_id=f"sq-{tmp_path.name}",
                              share_group=f"sq{abs(hash(tmp_path)) % 10**8}")  # fmt: skip
    assert settings.influx is None
    events = event_stream(200)
    pub = Publisher(mosquitto_session)
    try:
        with running_collector(settings) as collector:
            assert isinstance(collector.settler, ProcessSettler)  # the default
            pub.publish_events(events)
            wait_until(lambda: collector.counters.get("messages_done") >= 200, 60)
    finally:
        pub.close()
    store = SqliteStore(path)
    ids = {r.fields["event_id"] for r in store.latest_events(Scope(), ALL, 1000)}
    assert ids == {e.event_id for e in events}


def test_a_refined_update_keeps_its_sizes(tmp_path: Path) -> None:
    from lineinspect.contract.examples import example_refined_update

    store = SqliteStore(tmp_path / "s.sqlite3")
    ev = example_refined_update()
    store.write([defect_point(ev)])
    (got,) = store.latest_events(Scope(), ALL, 10)
    f = got.fields
    assert f["refined"] is True and f["severity"] == ev.severity
    assert (f["area_mm2"], f["length_px"], f["width_px"], f["length_mm"], f["width_mm"]) == (
        ev.area_mm2, ev.length_px, ev.width_px, ev.length_mm, ev.width_mm)
