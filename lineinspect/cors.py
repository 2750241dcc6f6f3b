"""CORS for lineinspect's HTTP APIs: pages on the listed origins may call the listed paths.

A plant embeds the live view (WHEP) or a dashboard in its own HMI, served from another origin;
the browser then asks first (``OPTIONS`` preflight) and only lets the page read what the answer
allows. Origins come from the settings (``api.cors_origins``), none by default, so nothing
changes for a site that does not list any.
"""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from lineinspect.config.http import EXPOSED_HEADERS

# Authorization: the bearer token; Content-Type: application/sdp and trickle-ice-sdpfrag;
# If-Match: WHEP's ETag on PATCH.
ALLOWED_HEADERS = ("Authorization", "Content-Type", "If-Match")
PREFLIGHT_MAX_AGE_S = 600


class PathCors:
    """CORS for requests under ``prefixes`` (``""``: every path); others go straight on."""

    def __init__(self, app: ASGIApp, origins: Sequence[str], methods: Sequence[str],
                 prefixes: Sequence[str]) -> None:  # fmt: skip
        self.app = app
        self.cors = CORSMiddleware(app, allow_origins=list(origins),
                                   allow_methods=[*methods, "OPTIONS"],
                                   allow_headers=list(ALLOWED_HEADERS),
                                   expose_headers=list(EXPOSED_HEADERS),
                                   max_age=PREFLIGHT_MAX_AGE_S)  # fmt: skip
        self.prefixes = tuple(p.rstrip("/") for p in prefixes)

    def covers(self, path: str) -> bool:
        return any(p == "" or path == p or path.startswith(p + "/") for p in self.prefixes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.covers(scope.get("path", "")):
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def add_cors(app: FastAPI, origins: Sequence[str], methods: Sequence[str],
             prefixes: Sequence[str] = ("",)) -> None:  # fmt: skip
    """Allow ``origins`` to use ``methods`` on paths under ``prefixes``.

    Call it after every other middleware, so it runs first: a preflight carries no token and
    must be answered before the token check. Nothing is added when ``origins`` is empty.
    """
    if origins:
        app.add_middleware(PathCors, origins=origins, methods=methods, prefixes=prefixes)
