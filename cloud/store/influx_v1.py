"""Writer for InfluxDB's v1 ``/write`` API (1.x natively; 2.x/3.x v1 compatibility)."""

from __future__ import annotations

from collections.abc import Sequence

from cloud.store.influx_http import InfluxHttp
from cloud.store.points import PRECISION, Point
from cloud.store.writer import PointsRejected, StoreUnavailable


class InfluxV1Writer:
    """POST ``/write?db=&rp=&precision=u`` with the batch as line protocol. InfluxDB 1.x
    answers 204 only after the points are in its write-ahead log (fsynced by default), which
    is the durability the collector acknowledges MQTT messages on."""

    def __init__(
        self,
        http: InfluxHttp,
        database: str,
        retention_policy: str | None = None,
        create_database: bool = False,
    ) -> None:
        self._http = http
        self._must_create = create_database
        self._params = {"db": database, "precision": PRECISION}
        if retention_policy:
            self._params["rp"] = retention_policy
        self.database = database

    def create_database(self) -> None:
        """``CREATE DATABASE`` (a no-op when it exists); for 1.x only."""
        name = self.database.replace("\\", "\\\\").replace('"', '\\"')
        try:
            self._http.query(f'CREATE DATABASE "{name}"', db=None)
        except PointsRejected as exc:
            # A permission problem is the operator's to fix; never a reason to drop data.
            raise StoreUnavailable(f"cannot create database {self.database!r}: {exc}") from None

    def write(self, points: Sequence[Point]) -> None:
        if not points:
            return
        if self._must_create:
            self.create_database()
            self._must_create = False
        body = "\n".join(p.line for p in points).encode("utf-8")
        self._http.write(body, self._params)

    def close(self) -> None:
        self._http.close()
