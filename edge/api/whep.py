"""WHEP (WebRTC-HTTP Egress Protocol, RFC 9725) endpoints for the live stream.

``POST /whep/{camera}`` with an SDP offer (``application/sdp``) answers ``201 Created`` with the
SDP answer and the session's ``Location``; ``DELETE`` on that location ends it. The answer holds
every candidate (aiortc gathers before answering), so trickle ICE is not needed: ``PATCH`` gets
405 as the standard allows.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response

from edge.api.deps import AppDeps
from edge.api.schemas import Problem
from edge.stream.errors import (
    BadOffer,
    NoCommonCodec,
    StreamStopped,
    UnknownSession,
    ViewerLimit,
)
from edge.stream.hub import UnknownCamera
from edge.stream.webrtc import StreamService

SDP = "application/sdp"
MAX_OFFER_BYTES = 64 * 1024

_OFFER_BODY = {"requestBody": {"required": True, "content": {SDP: {"schema": {
    "type": "string", "maxLength": MAX_OFFER_BYTES, "description": "SDP offer"}}}}}


def whep_router(deps: AppDeps) -> APIRouter:
    router = APIRouter(tags=["whep"])

    def service() -> StreamService:
        if deps.stream is None:
            raise HTTPException(503, "live video is off on this edge (stream.enabled: false)")
        if not deps.stream.loop.running:
            raise HTTPException(503, "the stream service is not running")
        return deps.stream

    @router.post("/whep/{camera}", status_code=201, response_class=Response,
                 openapi_extra=_OFFER_BODY,
                 responses={201: {"content": {SDP: {}}, "description": "SDP answer"},
                            400: {"model": Problem, "description": "unusable offer"},
                            404: {"model": Problem, "description": "no such camera"},
                            406: {"model": Problem, "description": "no codec in common"},
                            415: {"model": Problem, "description": "body is not application/sdp"},
                            503: {"model": Problem, "description": "viewer limit or stream off"}})
    async def whep_offer(camera: str, request: Request) -> Response:
        """Open a viewer session on ``camera`` (a WHEP player or the viewer page)."""
        stream = service()
        ctype = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if ctype != SDP:
            raise HTTPException(415, f"the offer must be sent as {SDP}, got {ctype or 'nothing'}")
        if not deps.hub.has_camera(camera):
            raise HTTPException(404, str(UnknownCamera(camera, deps.camera_ids)))
        raw = await request.body()
        try:
            offer = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise HTTPException(400, "the SDP offer is not UTF-8 text") from None
        try:
            info = await stream.loop.call(stream.open_session(camera, offer))
        except ViewerLimit as exc:
            raise HTTPException(503, str(exc), headers={"Retry-After": "10"}) from None
        except NoCommonCodec as exc:
            raise HTTPException(406, str(exc)) from None
        except BadOffer as exc:
            raise HTTPException(400, str(exc)) from None
        except StreamStopped as exc:
            raise HTTPException(503, str(exc)) from None
        location = f"/whep/{camera}/{info.id}"
        return Response(info.answer_sdp, status_code=201, media_type=SDP,
                        headers={"Location": location, "ETag": f'"{info.id}"',
                                 "X-Codec": info.codec})

    @router.delete("/whep/{camera}/{session}", status_code=200, response_class=Response,
                   responses={404: {"model": Problem, "description": "no such session"}})
    async def whep_delete(camera: str, session: str) -> Response:
        """End a viewer session."""
        stream = service()
        try:
            await stream.loop.call(stream.close_session(camera, session))
        except UnknownSession as exc:
            raise HTTPException(404, str(exc)) from None
        except StreamStopped as exc:
            raise HTTPException(503, str(exc)) from None
        return Response(status_code=200)

    return router
