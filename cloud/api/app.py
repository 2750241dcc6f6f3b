"""The query API: defect counts and rates, latest events, camera status, alarms. The same
endpoints run on InfluxDB (InfluxQL) and on the embedded SQLite store.

``create_app`` composes the route modules (``defects``, ``records``) over one ``QueryDeps``."""

from __future__ import annotations

import time
from collections.abc import Callable

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from cloud.api import defects, records
from cloud.api.deps import QueryDeps
from cloud.api.models import Health
from cloud.store.query import QueryStore
from cloud.store.writer import StoreUnavailable, WriteError


def create_app(
    store: QueryStore,
    token: str | None = None,
    clock: Callable[[], float] = time.time,
) -> FastAPI:
    app = FastAPI(
        title="lineinspect query API",
        version="1",
        description="Defect counts and rates (defects / parts or frames inspected), latest "
        "events, camera status and alarms, from InfluxDB or the embedded store.",
    )
    app.state.query_deps = QueryDeps(store, token, clock)
    app.add_exception_handler(StoreUnavailable, _unavailable)  # type: ignore[arg-type]
    app.add_exception_handler(WriteError, _store_error)  # type: ignore[arg-type]
    app.add_api_route("/healthz", healthz, methods=["GET"], response_model=Health)
    app.include_router(defects.router)
    app.include_router(records.router)
    return app


def healthz() -> Health:
    return Health(status="ok")


def _unavailable(request: Request, exc: StoreUnavailable) -> JSONResponse:
    return JSONResponse({"detail": f"store unavailable: {exc}"}, status_code=503)


def _store_error(request: Request, exc: WriteError) -> JSONResponse:
    return JSONResponse({"detail": f"store error: {exc}"}, status_code=502)
