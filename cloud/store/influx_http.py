"""A small HTTP client for InfluxDB's v1 API (``/write``, ``/query``, ``/ping``) that 1.x serves
natively and 2.x/3.x serve as their v1 compatibility endpoints. No retries here: the collector
owns retry and back-off so it can keep batches in order."""

from __future__ import annotations

import base64
import json
import urllib.parse
from dataclasses import dataclass
from typing import Any

import urllib3

from cloud.store.writer import BatchTooLarge, PointsRejected, StoreUnavailable

_TRANSIENT_4XX = frozenset({401, 403, 404, 408, 429})


@dataclass(frozen=True)
class InfluxAuth:
    """v1 basic auth (``username``/``password``) or a 2.x/3.x ``token``; at most one."""

    username: str | None = None
    password: str | None = None
    token: str | None = None

    def headers(self) -> dict[str, str]:
        if self.token is not None:
            return {"Authorization": f"Token {self.token}"}
        if self.username is not None:
            raw = f"{self.username}:{self.password or ''}".encode()
            return {"Authorization": "Basic " + base64.b64encode(raw).decode("ascii")}
        return {}


@dataclass(frozen=True)
class Series:
    name: str
    tags: dict[str, str]
    columns: list[str]
    values: list[list[Any]]

    def rows(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, v, strict=True)) for v in self.values]


def _error_text(body: bytes) -> str:
    try:
        doc = json.loads(body)
    except ValueError:
        return body[:300].decode("utf-8", "replace")
    if isinstance(doc, dict) and "error" in doc:
        return str(doc["error"])[:500]
    return body[:300].decode("utf-8", "replace")


class InfluxHttp:
    def __init__(self, url: str, auth: InfluxAuth, timeout_s: float, pool_size: int = 4) -> None:
        self.url = url.rstrip("/")
        self._headers = auth.headers()
        self._pool = urllib3.PoolManager(
            num_pools=2,
            maxsize=pool_size,
            retries=False,
            timeout=urllib3.Timeout(connect=min(timeout_s, 5.0), read=timeout_s),
        )

    def _request(
        self, method: str, path: str, fields: dict[str, str], body: bytes | None = None
    ) -> urllib3.BaseHTTPResponse:
        headers = dict(self._headers)
        if body is not None:
            headers["Content-Type"] = "text/plain; charset=utf-8"
            url = f"{self.url}{path}?{urllib.parse.urlencode(fields)}"
            req_fields = None
        else:
            url = f"{self.url}{path}"
            req_fields = fields
        try:
            return self._pool.request(
                method,
                url,
                body=body,
                fields=req_fields,
                headers=headers,
                encode_multipart=False,
            )
        except urllib3.exceptions.HTTPError as exc:
            raise StoreUnavailable(f"{method} {self.url}{path}: {exc}") from exc

    def write(self, body: bytes, params: dict[str, str]) -> None:
        resp = self._request("POST", "/write", params, body)
        status = resp.status
        if status in (200, 204):
            return
        text = _error_text(resp.data)
        where = f"InfluxDB /write ({params.get('db') or params.get('bucket')})"
        if status == 413:
            raise BatchTooLarge(f"{where}: HTTP 413 request too large: {text}")
        if status == 400:
            raise PointsRejected(f"{where}: HTTP 400: {text}")
        if status >= 500 or status in _TRANSIENT_4XX:
            raise StoreUnavailable(f"{where}: HTTP {status}: {text}")
        raise PointsRejected(f"{where}: HTTP {status}: {text}")

    def query(self, q: str, db: str | None, epoch: str = "u") -> list[list[Series]]:
        """Run InfluxQL; one list of series per statement. Raises ``StoreUnavailable`` for
        transport errors and ``PointsRejected`` (a ``WriteError``) for query errors."""
        params = {"q": q, "epoch": epoch}
        if db:
            params["db"] = db
        resp = self._request("POST", "/query", params)
        text = resp.data
        if resp.status >= 500 or resp.status in _TRANSIENT_4XX:
            raise StoreUnavailable(f"InfluxDB /query: HTTP {resp.status}: {_error_text(text)}")
        try:
            doc = json.loads(text)
        except ValueError:
            raise StoreUnavailable(f"InfluxDB /query: not JSON: {text[:200]!r}") from None
        if resp.status != 200 or doc.get("error"):
            raise PointsRejected(f"InfluxDB /query {q[:200]!r}: {_error_text(text)}")
        out: list[list[Series]] = []
        for result in doc.get("results", []):
            if result.get("error"):
                raise PointsRejected(f"InfluxDB /query {q[:200]!r}: {result['error']}")
            out.append(
                [
                    Series(
                        name=s.get("name", ""),
                        tags=s.get("tags") or {},
                        columns=s.get("columns", []),
                        values=s.get("values", []),
                    )
                    for s in result.get("series", [])
                ]
            )
        return out

    def ping(self) -> bool:
        try:
            return self._request("GET", "/ping", {}).status == 204
        except StoreUnavailable:
            return False

    def close(self) -> None:
        self._pool.clear()
