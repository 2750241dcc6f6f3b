"""A real InfluxDB 1.x server (Debian's /usr/bin/influxd 1.6) on free loopback ports.

Includes a small stdlib HTTP client for the v1 API (``/ping``, ``/write`` line protocol,
``/query`` InfluxQL) so tests can check what landed in the database independently of the
product's own writer.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from lineinspect.testing.ports import free_port
from lineinspect.testing.process import ServerProcess

INFLUXD = "/usr/bin/influxd"


class InfluxError(RuntimeError):
    """The server answered with an error (status and body are in the message)."""


class InfluxUnavailable(InfluxError):
    """No answer at all: connection refused, reset or timed out."""


class InfluxServer(ServerProcess):
    """influxd with temp meta/data/wal dirs, HTTP and RPC on free ports, no reporting.

    ``admin`` (user, password) enables HTTP auth and creates that admin on first start.
    """

    name = "influxd"

    def __init__(
        self,
        workdir: Path,
        *,
        http_port: int | None = None,
        rpc_port: int | None = None,
        admin: tuple[str, str] | None = None,
        startup_timeout: float = 30.0,
    ) -> None:
        super().__init__(workdir, startup_timeout)
        self.host = "127.0.0.1"
        self.http_port = http_port if http_port is not None else free_port(self.host)
        self.rpc_port = rpc_port if rpc_port is not None else free_port(self.host)
        self.admin = admin
        self.config_path = self.workdir / "influxdb.conf"
        self._admin_created = False

    @property
    def port(self) -> int:
        return self.http_port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.http_port}"

    def _write_config(self) -> None:
        d = self.workdir
        # influxd silently ignores unknown keys, so each setting here was checked against
        # `influxd config` output of the Debian 1.6.7 build. Upstream spells the phone-home
        # switch reporting-disabled, Debian's build reporting-enabled: set both.
        self.config_path.write_text(
            f"""\
reporting-disabled = true
reporting-enabled = false
# The RPC (backup/restore) service defaults to :8088; move it off the shared port.
bind-address = "{self.host}:{self.rpc_port}"

[meta]
  dir = "{d / "meta"}"

[data]
  dir = "{d / "data"}"
  wal-dir = "{d / "wal"}"
  index-version = "inmem"
  query-log-enabled = false

[monitor]
  store-enabled = false

[subscriber]
  enabled = false

[http]
  enabled = true
  bind-address = "{self.host}:{self.http_port}"
  auth-enabled = {"true" if self.admin else "false"}
  log-enabled = true
  pprof-enabled = false

[logging]
  suppress-logo = true
  level = "info"
"""
        )

    def _command(self) -> list[str]:
        return [INFLUXD, "-config", str(self.config_path)]

    def _answers(self) -> bool:
        try:
            status, _ = self._request("GET", "/ping", timeout=1.0)
        except InfluxError:
            return False
        return status == 204

    def start(self) -> None:
        super().start()
        if self.admin and not self._admin_created:
            user, password = self.admin
            # With auth on and no users yet, influxd accepts exactly this statement unauthenticated.
            self.query(f"CREATE USER \"{user}\" WITH PASSWORD '{password}' WITH ALL PRIVILEGES")
            self._admin_created = True

    # -- v1 HTTP API ---------------------------------------------------------------------------
    def _request(
        self,
        method: str,
        path: str,
        params: dict[str, str] | None = None,
        body: bytes | None = None,
        timeout: float = 10.0,
    ) -> tuple[int, bytes]:
        url = self.url + path
        if params:
            url += "?" + urllib.parse.urlencode(params)
        req = urllib.request.Request(url, data=body, method=method)
        if self.admin and self._admin_created:
            token = base64.b64encode(f"{self.admin[0]}:{self.admin[1]}".encode()).decode()
            req.add_header("Authorization", f"Basic {token}")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return int(resp.status), resp.read()
        except urllib.error.HTTPError as err:
            return int(err.code), err.read()
        except (urllib.error.URLError, OSError) as err:
            raise InfluxUnavailable(f"{method} {url}: {err}") from err

    def query(self, q: str, db: str | None = None, timeout: float = 10.0) -> dict[str, Any]:
        """Run InfluxQL via POST /query (accepts reads and writes); raise on any error."""
        params = {"q": q}
        if db:
            params["db"] = db
        body = urllib.parse.urlencode(params).encode()
        status, raw = self._request("POST", "/query", body=body, timeout=timeout)
        try:
            doc: dict[str, Any] = json.loads(raw or b"{}")
        except json.JSONDecodeError as err:
            raise InfluxError(f"/query {q!r}: HTTP {status}, not JSON: {raw[:200]!r}") from err
        errors = [doc.get("error")] + [r.get("error") for r in doc.get("results", [])]
        errors = [e for e in errors if e]
        if status != 200 or errors:
            raise InfluxError(f"/query {q!r}: HTTP {status}: {errors or raw[:200]!r}")
        return doc

    def select(self, q: str, db: str) -> list[dict[str, Any]]:
        """Rows of a SELECT as dicts (column -> value, plus the series' tags), all series."""
        rows: list[dict[str, Any]] = []
        for result in self.query(q, db=db).get("results", []):
            for series in result.get("series", []):
                tags = series.get("tags", {})
                for values in series.get("values", []):
                    rows.append({**tags, **dict(zip(series["columns"], values, strict=True))})
        return rows

    def create_database(self, name: str) -> None:
        self.query(f'CREATE DATABASE "{name}"')

    def databases(self) -> list[str]:
        doc = self.query("SHOW DATABASES")
        series = doc["results"][0].get("series", [])
        return [v[0] for s in series for v in s.get("values", [])]

    def write(
        self, lines: str | Iterable[str], db: str, precision: str = "ns", timeout: float = 10.0
    ) -> None:
        """POST line protocol to /write; raise InfluxError unless the server answers 204."""
        text = lines if isinstance(lines, str) else "\n".join(lines)
        status, raw = self._request(
            "POST",
            "/write",
            params={"db": db, "precision": precision},
            body=text.encode(),
            timeout=timeout,
        )
        if status != 204:
            raise InfluxError(f"/write db={db}: HTTP {status}: {raw[:300]!r}")
