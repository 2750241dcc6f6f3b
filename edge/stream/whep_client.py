"""A WHEP client on aiortc: receive an edge's live video from Python.

For the tests, the latency benchmark and headless monitoring. HTTP goes through urllib on a
worker thread, so it needs nothing beyond the edge extra.
"""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address
from urllib.parse import urljoin

from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription

from edge.stream.ice import gather_on, rtc_configuration
from edge.stream.settings import IceServer


class WhepError(Exception):
    """The server refused the offer; ``status`` and the server's reason are kept."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"WHEP offer refused with {status}: {reason}")
        self.status = status
        self.reason = reason


@dataclass(frozen=True, slots=True)
class _Reply:
    status: int
    body: str
    headers: dict[str, str]


def _http(method: str, url: str, body: bytes | None, headers: dict[str, str],
          timeout: float) -> _Reply:
    request = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return _Reply(response.status, response.read().decode("utf-8", "replace"),
                          {k.lower(): v for k, v in response.headers.items()})
    except urllib.error.HTTPError as exc:
        return _Reply(exc.code, exc.read().decode("utf-8", "replace"),
                      {k.lower(): v for k, v in exc.headers.items()})


class WhepClient:
    """``track = await client.connect()``; ``await client.close()`` ends the session."""

    def __init__(self, url: str, token: str | None = None,
                 ice_servers: Sequence[IceServer] = (),
                 host_addresses: Iterable[IPv4Address | IPv6Address] | None = None,
                 timeout: float = 15.0) -> None:
        self.url = url
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._ice_servers = list(ice_servers)
        self._hosts = None if host_addresses is None else list(host_addresses)
        self._timeout = timeout
        self.pc: RTCPeerConnection | None = None
        self.session_url: str | None = None
        self.codec: str | None = None

    async def connect(self) -> MediaStreamTrack:
        pc = RTCPeerConnection(rtc_configuration(self._ice_servers))
        self.pc = pc
        transceiver = pc.addTransceiver("video", direction="recvonly")
        await gather_on(pc, self._hosts)
        await pc.setLocalDescription(await pc.createOffer())
        reply = await asyncio.to_thread(
            _http, "POST", self.url, pc.localDescription.sdp.encode(),
            {**self._headers, "Content-Type": "application/sdp"}, self._timeout)
        if reply.status != 201:
            await pc.close()
            raise WhepError(reply.status, reply.body)
        location = reply.headers.get("location")
        self.session_url = urljoin(self.url, location) if location else None
        self.codec = reply.headers.get("x-codec")
        try:
            await pc.setRemoteDescription(RTCSessionDescription(reply.body, "answer"))
        except BaseException:
            await self.close()  # also ends the session the server opened
            raise
        return transceiver.receiver.track

    async def close(self) -> int | None:
        """End the session (DELETE); returns the server's status, None if there was none."""
        status = None
        if self.session_url is not None:
            reply = await asyncio.to_thread(_http, "DELETE", self.session_url, None,
                                            self._headers, self._timeout)
            status = reply.status
            self.session_url = None
        if self.pc is not None:
            await self.pc.close()
            self.pc = None
        return status
