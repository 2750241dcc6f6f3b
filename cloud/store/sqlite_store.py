"""The embedded store: one SQLite file with InfluxDB's point semantics, for a laptop with no
server. A point's identity is (measurement, tags, time) as in InfluxDB, and writing the same
identity again merges the new fields over the old ones (``json_patch``), as InfluxDB does."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cloud.store.points import Point
from cloud.store.query import (
    CameraState,
    CountRow,
    GroupKey,
    InspectedRow,
    Latest,
    Record,
    Scope,
    TimeRange,
    camera_states,
)
from cloud.store.schema import ALARMS, DEFECTS, STATS, STATUS, TAG_KEYS
from cloud.store.writer import PointsRejected, StoreUnavailable

_TAG_COLS = ", ".join(f'"{k}"' for k in TAG_KEYS)
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS points (
    measurement TEXT NOT NULL,
    {", ".join(f'"{k}" TEXT NOT NULL DEFAULT ' + "''" for k in TAG_KEYS)},
    time_us INTEGER NOT NULL,
    fields TEXT NOT NULL,
    PRIMARY KEY (measurement, {_TAG_COLS}, time_us)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS points_by_time ON points (measurement, time_us);
"""
_UPSERT = f"""
INSERT INTO points (measurement, {_TAG_COLS}, time_us, fields)
VALUES (?, {", ".join("?" for _ in TAG_KEYS)}, ?, ?)
ON CONFLICT DO UPDATE SET fields = json_patch(points.fields, excluded.fields)
"""
_CAMERA = ("site", "line", "station", "camera")


def _where(scope: Scope, with_class: bool = True) -> tuple[str, list[Any]]:
    sql, args = "", []
    for key, value in scope.tag_filters(with_class):
        sql += f' AND "{key}" = ?'
        args.append(value)
    return sql, args


def _record(row: sqlite3.Row, tag_keys: Sequence[str]) -> Record:
    tags = {k: row[k] for k in tag_keys if row[k]}
    return Record(time_us=int(row["time_us"]), tags=tags, fields=json.loads(row["fields"]))


class SqliteStore:
    """Writer and query store over one SQLite file (WAL mode, ``synchronous=FULL``: a write
    returns after the commit is on disk, which is what the collector acknowledges on)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._write_lock = threading.Lock()
        self._conn().executescript(_SCHEMA)

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            self._local.conn = conn
        return conn

    # -- writer --------------------------------------------------------------------------------
    def write(self, points: Sequence[Point]) -> None:
        rows = []
        for p in points:
            unknown = {k for k, _ in p.tags} - set(TAG_KEYS)
            if unknown:
                raise PointsRejected(f"embedded store: unknown tag(s) {sorted(unknown)}")
            rows.append(
                (p.measurement, *(p.tag(k) for k in TAG_KEYS), p.time_us, json.dumps(p.fields))
            )
        conn = self._conn()
        with self._write_lock:
            try:
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany(_UPSERT, rows)
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise StoreUnavailable(f"embedded store {self.path}: {exc}") from exc

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # -- queries -------------------------------------------------------------------------------
    def _grouped(
        self,
        select: str,
        measurement: str,
        scope: Scope,
        rng: TimeRange,
        interval_s: int,
        group_by: Sequence[str],
        extra_where: str = "",
        with_class: bool = True,
    ) -> list[sqlite3.Row]:
        step = interval_s * 1_000_000
        cols = "".join(f', "{k}"' for k in group_by)
        where, args = _where(scope, with_class)
        sql = (
            f"SELECT (time_us / ?) * ? AS bucket{cols}, {select} FROM points "
            f"WHERE measurement = ? AND time_us >= ? AND time_us < ?{extra_where}{where} "
            f"GROUP BY bucket{cols} ORDER BY bucket{cols}"
        )
        return self._conn().execute(
            sql, [step, step, measurement, rng.start_us, rng.end_us, *args]
        ).fetchall()

    def defect_counts(
        self, scope: Scope, rng: TimeRange, interval_s: int, group_by: tuple[GroupKey, ...]
    ) -> list[CountRow]:
        rows = self._grouped(
            "COUNT(*) AS n",
            DEFECTS,
            scope,
            rng,
            interval_s,
            group_by,
            " AND json_extract(fields, '$.kind') = 'new'",
        )
        return [
            CountRow(int(r["bucket"]), {k: r[k] for k in group_by}, int(r["n"])) for r in rows
        ]

    def inspected(
        self, scope: Scope, rng: TimeRange, interval_s: int, group_by: tuple[GroupKey, ...]
    ) -> list[InspectedRow]:
        keys = tuple(k for k in group_by if k != "class")
        rows = self._grouped(
            "SUM(json_extract(fields, '$.frames_inspected')) AS frames, "
            "SUM(json_extract(fields, '$.parts_seen')) AS parts",
            STATS,
            scope,
            rng,
            interval_s,
            keys,
            with_class=False,
        )
        return [
            InspectedRow(
                int(r["bucket"]),
                {k: r[k] for k in keys},
                int(r["frames"] or 0),
                int(r["parts"] or 0),
            )
            for r in rows
        ]

    def _recent(self, measurement: str, scope: Scope, rng: TimeRange, limit: int) -> list[Record]:
        where, args = _where(scope, with_class=measurement == DEFECTS)
        sql = (
            f"SELECT * FROM points WHERE measurement = ? AND time_us >= ? AND time_us < ?{where} "
            "ORDER BY time_us DESC LIMIT ?"
        )
        rows = self._conn().execute(
            sql, [measurement, rng.start_us, rng.end_us, *args, limit]
        ).fetchall()
        return [_record(r, TAG_KEYS) for r in rows]

    def latest_events(self, scope: Scope, rng: TimeRange, limit: int) -> list[Record]:
        return self._recent(DEFECTS, scope, rng, limit)

    def alarms(self, scope: Scope, rng: TimeRange, limit: int) -> list[Record]:
        return self._recent(ALARMS, scope, rng, limit)

    def _latest_per_camera(self, measurement: str, scope: Scope) -> Latest:
        where, args = _where(scope, with_class=False)
        # SQLite returns the other columns of the row holding MAX() (documented behaviour).
        sql = (
            "SELECT site, line, station, camera, MAX(time_us) AS time_us, fields FROM points "
            f"WHERE measurement = ?{where} GROUP BY site, line, station, camera"
        )
        rows = self._conn().execute(sql, [measurement, *args]).fetchall()
        return {tuple(r[k] for k in _CAMERA): _record(r, _CAMERA) for r in rows}

    def camera_states(self, scope: Scope) -> list[CameraState]:
        return camera_states(
            self._latest_per_camera(STATUS, scope),
            self._latest_per_camera(STATS, scope),
            self._latest_per_camera(ALARMS, scope),
        )
