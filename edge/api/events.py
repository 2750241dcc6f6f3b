"""``GET /api/events``: Server-Sent Events of defects, alarm state and live stats.

Event types: ``defect`` (a v1 ``DefectEvent``, ``id:`` is its feed sequence number so a browser
reconnecting with ``Last-Event-ID`` gets what it missed while still in the ring), ``alarm`` (a
v1 ``Alarm``), ``live`` (per-camera fps/latency) and ``dropped`` (how many events this client
missed because it read too slowly). A comment line every ``api.sse_heartbeat_s`` keeps proxies
from closing an idle stream.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Header, HTTPException
from fastapi.responses import StreamingResponse

from edge.api.deps import AppDeps
from edge.api.feed import FeedRead, Subscription
from edge.api.schemas import Problem


def _frame(event: str, data: str, event_id: int | None = None) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {data}\n\n"


def render(read: FeedRead) -> str:
    parts = []
    if read.dropped:
        parts.append(_frame("dropped", json.dumps({"events": read.dropped})))
    if read.alarm is not None:
        parts.append(_frame("alarm", read.alarm.model_dump_json()))
    if read.live is not None:
        live = {cid: asdict(s) for cid, s in read.live.items()}
        parts.append(_frame("live", json.dumps(live)))
    parts += [_frame("defect", e.model_dump_json(), seq) for seq, e in read.events]
    return "".join(parts)


def events_router(deps: AppDeps) -> APIRouter:
    router = APIRouter(tags=["viewer"])
    feed = deps.feed
    heartbeat = deps.api.sse_heartbeat_s

    async def stream(sub: Subscription) -> AsyncIterator[str]:
        # Starlette cancels this generator when the client goes away; finally frees the slot.
        try:
            yield f"retry: 2000\n{_frame('hello', json.dumps({'cameras': deps.camera_ids}))}"
            while True:
                if not await sub.wait(heartbeat):
                    yield ": keep-alive\n\n"
                    continue
                chunk = render(sub.read())
                if chunk:
                    yield chunk
        finally:
            feed.unsubscribe(sub)

    @router.get("/api/events", response_class=StreamingResponse,
                responses={200: {"content": {"text/event-stream": {}},
                                 "description": "an endless event stream"},
                           503: {"model": Problem, "description": "too many clients"}})
    async def events(last_event_id: Annotated[int | None, Header(ge=0)] = None
                     ) -> StreamingResponse:
        """Live defects, alarm and stats for the viewer page (Server-Sent Events)."""
        sub = feed.subscribe(asyncio.get_running_loop(), after=last_event_id)
        if sub is None:
            raise HTTPException(503, f"{feed.max_clients} event clients are connected already")
        return StreamingResponse(stream(sub), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache",
                                          "X-Accel-Buffering": "no"})

    return router
