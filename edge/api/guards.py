"""ASGI guards in front of every route: the optional bearer token and request body limits.

Plain ASGI (not FastAPI dependencies) so they also cover static files and the OpenAPI pages, and
so an oversized body is refused from its ``Content-Length`` before anything reads it, or cut off
as soon as a chunked body passes the limit.
"""

from __future__ import annotations

import contextlib
import hmac
import json
from collections.abc import Callable
from http.cookies import SimpleCookie
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

TOKEN_COOKIE = "lineinspect_token"
PUBLIC_PATHS = frozenset({"/health", "/login"})


async def send_json(send: Send, status: int, detail: str,
                    headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()), *(headers or [])]})
    await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def presented_token(scope: Scope) -> str | None:
    """The token from ``Authorization: Bearer`` or, for the browser page, the login cookie."""
    auth = _header(scope, b"authorization")
    if auth is not None:
        scheme, _, value = auth.partition(" ")
        return value.strip() if scheme.lower() == "bearer" else None
    cookie = _header(scope, b"cookie")
    if cookie:
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(cookie)
        except Exception:  # a malformed cookie header is just no token
            return None
        morsel = jar.get(TOKEN_COOKIE)
        return morsel.value if morsel is not None else None
    return None


def token_matches(presented: str | None, expected: str) -> bool:
    return presented is not None and hmac.compare_digest(presented.encode(), expected.encode())


class TokenGuard:
    """401 unless the request carries the token; ``/health`` and ``/login`` stay open. A browser
    asking for a page is sent to the login form instead."""

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (self.token is None or scope["type"] not in ("http", "websocket")
                or scope["path"] in PUBLIC_PATHS
                or token_matches(presented_token(scope), self.token)):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 4401})
            return
        accept = _header(scope, b"accept") or ""
        if scope["method"] == "GET" and "text/html" in accept:
            await send({"type": "http.response.start", "status": 303,
                        "headers": [(b"location", b"/login"), (b"content-length", b"0")]})
            await send({"type": "http.response.body", "body": b""})
            return
        await send_json(send, 401, "missing or wrong bearer token (Authorization: Bearer ...)",
                        [(b"www-authenticate", b'Bearer realm="lineinspect"')])


class _TooLarge(Exception):
    pass


class BodyLimit:
    """413 for a request body larger than ``limit_for(path)`` bytes."""

    def __init__(self, app: ASGIApp, limit_for: Callable[[str], int],
                 on_refuse: Callable[[], None] = lambda: None) -> None:
        self.app = app
        self.limit_for = limit_for
        self.on_refuse = on_refuse

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE"):
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = _header(scope, b"content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > limit:
            self.on_refuse()
            await send_json(send, 413, _too_large(limit), [(b"connection", b"close")])
            return
        state: dict[str, Any] = {"seen": 0, "over": False, "started": False}

        async def counting_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                state["seen"] += len(message.get("body", b""))
                if state["seen"] > limit:
                    state["over"] = True
                    raise _TooLarge
            return message

        async def guarded_send(message: Message) -> None:
            if state["over"]:
                return  # whatever the app answers to a cut body, the answer is 413
            if message["type"] == "http.response.start":
                state["started"] = True
            await send(message)

        with contextlib.suppress(_TooLarge):
            await self.app(scope, counting_receive, guarded_send)
        if state["over"]:
            self.on_refuse()
            if not state["started"]:
                await send_json(send, 413, _too_large(limit), [(b"connection", b"close")])


def _too_large(limit: int) -> str:
    return (f"request body is larger than {limit} bytes"
            f" ({limit / 1048576:.1f} MiB; api.max_upload_bytes for uploads)")


class MultipartOnly:
    """415 for an upload route whose body is not ``multipart/form-data`` (FastAPI would parse
    it as an empty form and answer a less helpful 422)."""

    def __init__(self, app: ASGIApp, paths: frozenset[str],
                 on_refuse: Callable[[], None] = lambda: None) -> None:
        self.app = app
        self.paths = paths
        self.on_refuse = on_refuse

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] in self.paths:
            ctype = (_header(scope, b"content-type") or "").split(";", 1)[0].strip().lower()
            if ctype != "multipart/form-data":
                self.on_refuse()
                await send_json(send, 415, "upload images as multipart/form-data in the form "
                                           f"field 'files' (got {ctype or 'no content type'})")
                return
        await self.app(scope, receive, send)
