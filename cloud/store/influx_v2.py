"""Writer for the InfluxDB v2 write API (2.x, 3.x, Cloud) through ``influxdb-client``."""

from __future__ import annotations

from collections.abc import Sequence

import urllib3
from influxdb_client import InfluxDBClient, WritePrecision
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.rest import ApiException

from cloud.store.points import Point
from cloud.store.writer import BatchTooLarge, PointsRejected, StoreUnavailable

_TRANSIENT_4XX = frozenset({401, 403, 404, 408, 429})


class InfluxV2Writer:
    """Synchronous writes (the call returns after the server accepted the batch) with the
    client's own retries off: the collector retries whole batches in order itself."""

    def __init__(self, url: str, token: str, org: str, bucket: str, timeout_s: float) -> None:
        self.bucket = bucket
        self.org = org
        self._client = InfluxDBClient(
            url=url, token=token, org=org, timeout=int(timeout_s * 1000), retries=False
        )
        self._api = self._client.write_api(write_options=SYNCHRONOUS)

    def write(self, points: Sequence[Point]) -> None:
        if not points:
            return
        body = "\n".join(p.line for p in points)
        where = f"InfluxDB v2 write (org {self.org}, bucket {self.bucket})"
        try:
            self._api.write(
                bucket=self.bucket, org=self.org, record=body, write_precision=WritePrecision.US,  # type: ignore[arg-type]
            )
        except ApiException as exc:
            status = int(exc.status or 0)
            text = (exc.body or exc.reason or "")
            text = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
            message = f"{where}: HTTP {status}: {text[:500]}"
            if status == 413:
                raise BatchTooLarge(message) from None
            if status >= 500 or status in _TRANSIENT_4XX or status == 0:
                raise StoreUnavailable(message) from None
            raise PointsRejected(message) from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise StoreUnavailable(f"{where}: {exc}") from exc

    def close(self) -> None:
        self._api.close()
        self._client.close()
