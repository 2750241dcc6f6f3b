"""Build the configured store: InfluxDB (v1 or v2 API) or the embedded SQLite file."""

from __future__ import annotations

from dataclasses import dataclass

from cloud.settings import CloudSettings, InfluxSettings
from cloud.store.influx_http import InfluxAuth, InfluxHttp
from cloud.store.influx_v1 import InfluxV1Writer
from cloud.store.influx_v2 import InfluxV2Writer
from cloud.store.influxql import InfluxQueryStore
from cloud.store.query import QueryStore
from cloud.store.sqlite_store import SqliteStore
from cloud.store.writer import PointWriter


@dataclass(frozen=True)
class BatchLimits:
    points: int
    wait_ms: int


def _auth(influx: InfluxSettings) -> InfluxAuth:
    if influx.api == "v2":
        assert influx.token is not None
        return InfluxAuth(token=influx.token.get_secret_value())
    return InfluxAuth(
        username=influx.username,
        password=influx.password.get_secret_value() if influx.password else None,
    )


def build_writer(settings: CloudSettings) -> PointWriter:
    influx = settings.influx
    if influx is None:
        return SqliteStore(settings.store.path)
    if influx.api == "v2":
        assert influx.token is not None and influx.org and influx.bucket
        return InfluxV2Writer(
            influx.url,
            influx.token.get_secret_value(),
            influx.org,
            influx.bucket,
            influx.timeout_s,
        )
    assert influx.database is not None
    writer = InfluxV1Writer(
        InfluxHttp(influx.url, _auth(influx), influx.timeout_s),
        influx.database,
        influx.retention_policy,
        create_database=influx.create_database,
    )
    return writer


def build_query_store(settings: CloudSettings) -> QueryStore:
    influx = settings.influx
    if influx is None:
        return SqliteStore(settings.store.path)
    database = influx.database if influx.api == "v1" else (influx.query_database or influx.bucket)
    assert database is not None
    return InfluxQueryStore(InfluxHttp(influx.url, _auth(influx), influx.timeout_s), database)


def batch_limits(settings: CloudSettings) -> BatchLimits:
    if settings.influx is not None:
        return BatchLimits(settings.influx.batch_size, settings.influx.flush_interval_ms)
    return BatchLimits(settings.store.batch_size, settings.store.flush_interval_ms)
