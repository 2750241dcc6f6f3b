"""The edge HTTP app: predictions on uploads, health, metrics, status, live events, WHEP, and
the viewer page. ``create_app(deps)`` builds it from parts the agent owns (see ``AppDeps``)."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Annotated

from fastapi import FastAPI, Form, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from edge.api.deps import AppDeps
from edge.api.events import events_router
from edge.api.guards import (
    TOKEN_COOKIE,
    BodyLimit,
    MultipartOnly,
    TokenGuard,
    token_matches,
)
from edge.api.metrics import ApiCounters, EdgeApiCollector
from edge.api.predict import MODELS, REFINED_MODELS, predict_router
from edge.api.results import model_info
from edge.api.schemas import (
    CameraStatus,
    Health,
    Readiness,
    Status,
    StreamStatus,
)
from edge.api.whep import MAX_OFFER_BYTES, whep_router
from edge.stream.ice import browser_ice_servers
from lineinspect.cors import add_cors

STATIC = Path(__file__).with_name("static")
UPLOAD_PATHS = frozenset({"/predict", "/predict_and_visualize"})
LOGIN_FORM = """<!doctype html><html><head><meta charset="utf-8"><title>lineinspect login</title>
<link rel="stylesheet" href="/static/style.css"></head><body class="login">
<form method="post" action="/login"><h1>lineinspect</h1><p>{message}</p>
<label>Access token <input type="password" name="token" autofocus required></label>
<button type="submit">Open viewer</button></form></body></html>"""


def create_app(deps: AppDeps) -> FastAPI:
    app = FastAPI(title="lineinspect edge", version="1",
                  description="Defect detection on uploads, live annotated video (WHEP), "
                              "live events (SSE), health and metrics of one edge station.")
    counters = ApiCounters()
    deps.registry.register(EdgeApiCollector(deps.hub, deps.feed, deps.stream, counters))
    token = deps.api.token.get_secret_value() if deps.api.token is not None else None

    def body_limit(path: str) -> int:
        return deps.api.max_upload_bytes if path in UPLOAD_PATHS else MAX_OFFER_BYTES

    # Last added runs first: the token is checked before any body is read.
    app.add_middleware(MultipartOnly, paths=UPLOAD_PATHS, on_refuse=lambda: counters.reject(415))
    app.add_middleware(BodyLimit, limit_for=body_limit, on_refuse=lambda: counters.reject(413))
    app.add_middleware(TokenGuard, token=token)
    # Outermost: other origins' players get WHEP only (offer, PATCH, DELETE on the resource).
    add_cors(app, deps.api.cors_origins, ("POST", "PATCH", "DELETE"), prefixes=("/whep",))

    app.include_router(predict_router(deps, counters))
    app.include_router(whep_router(deps))
    app.include_router(events_router(deps))

    @app.get("/health", response_model=Health, tags=["ops"])
    def health() -> Health:
        """Liveness: the process answers. Never needs the token."""
        return Health(status="ok")

    @app.get("/ready", response_model=Readiness, tags=["ops"],
             responses={503: {"model": Readiness, "description": "not ready, with reasons"}})
    def ready() -> JSONResponse:
        """Readiness: the model is loaded and every camera is up."""
        snap = deps.status()
        reasons = snap.not_ready_reasons()
        body = Readiness(ready=not reasons, reasons=reasons, cameras=dict(snap.cameras),
                         model_loaded=snap.model_loaded)
        return JSONResponse(body.model_dump(), status_code=200 if not reasons else 503)

    @app.get("/metrics", tags=["ops"], response_class=Response,
             responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}})
    def metrics() -> Response:
        """Prometheus metrics of the whole agent."""
        return Response(generate_latest(deps.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/api/status", response_model=Status, tags=["viewer"])
    def status() -> Status:
        """Everything the viewer page shows besides the video and the event list."""
        return build_status(deps)

    @app.get("/login", response_class=HTMLResponse, include_in_schema=False)
    def login_form() -> HTMLResponse:
        return HTMLResponse(LOGIN_FORM.format(message="This station needs its access token."))

    @app.post("/login", include_in_schema=False)
    def login(token_field: Annotated[str, Form(alias="token", max_length=4096)]) -> Response:
        if token is None or token_matches(token_field, token):
            response = RedirectResponse("/", status_code=303)
            if token is not None:
                response.set_cookie(TOKEN_COOKIE, token_field, httponly=True, samesite="strict")
            return response
        return HTMLResponse(LOGIN_FORM.format(message=html.escape("Wrong token, try again.")),
                            status_code=401)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index() -> HTMLResponse:
        return HTMLResponse((STATIC / "index.html").read_text(encoding="utf-8"),
                            headers={"Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def _models(deps: AppDeps) -> list[str]:
    """The ``/predict?model=`` views that can answer now (aliases are not listed)."""
    if deps.detector is None:
        return []
    return [*MODELS, *(REFINED_MODELS if deps.refiner is not None else ())]


def build_status(deps: AppDeps) -> Status:
    snap = deps.status()
    stream = deps.stream
    viewers = stream.viewers_by_camera() if stream is not None else {}
    cameras = []
    for cid in deps.camera_ids:
        counts = deps.hub.counts(cid)
        cameras.append(CameraStatus(
            id=cid, state=snap.cameras.get(cid, "unknown"), viewers=viewers.get(cid, 0),
            frames_offered=counts.offered, frames_streamed=counts.taken,
            frames_skipped=counts.skipped))
    s = deps.stream_settings
    detector = deps.detector
    model = model_info(detector) if detector is not None else None
    alarm = deps.feed.alarm
    return Status(
        ready=not snap.not_ready_reasons(), model=model,
        models=_models(deps), cameras=cameras,
        stream=StreamStatus(enabled=stream is not None, fps=s.fps, width=s.width,
                            height=s.height, codecs=list(s.codecs),
                            viewers=sum(viewers.values()), max_viewers=s.max_viewers,
                            ice_servers=browser_ice_servers(s.ice_servers)),
        alarm=alarm.model_dump(mode="json") if alarm is not None else None,
        live={cid: {"fps": v.fps, "latency_ms": v.latency_ms, "frames": v.frames,
                    "drops": v.drops, "stages_ms": dict(v.stages_ms)}
              for cid, v in deps.feed.live().items()},
        recent_events=len(deps.feed.recent()), event_clients=deps.feed.clients,
        max_upload_bytes=deps.api.max_upload_bytes, max_images=deps.api.max_images,
        detail=dict(snap.detail))
