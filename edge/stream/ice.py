"""ICE for the live stream: which servers, and which local addresses, a peer connection uses.

Two aiortc/aioice defaults are wrong for a line-side box:

- With no ``iceServers`` configured aiortc adds Google's public STUN server; we pass an explicit
  (possibly empty) list so a LAN-only site sends nothing off the network.
- aioice gathers host candidates on every interface address except 127.0.0.1 and ::1, with no
  option to choose. ``ice_host_addresses`` restricts gathering to the listed addresses (loopback
  allowed: tests and a viewer on the same box), e.g. to keep Docker bridge addresses out.
  aioice has no public hook for that (aiortc/aioice#2), so :func:`gather_on` does the host part
  of ``Connection.gather_candidates`` itself on the listed addresses before aiortc gathers; a
  test on loopback covers it, so an aioice change that breaks it fails loudly.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from ipaddress import IPv4Address, IPv6Address
from typing import Any

from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection

from edge.stream.settings import IceServer


def rtc_configuration(servers: Sequence[IceServer]) -> RTCConfiguration:
    """aiortc configuration with exactly ``servers`` (an empty list: host candidates only)."""
    return RTCConfiguration(iceServers=[
        RTCIceServer(urls=list(s.urls), username=s.username,
                     credential=None if s.credential is None else s.credential.get_secret_value())
        for s in servers
    ])


def browser_ice_servers(servers: Sequence[IceServer]) -> list[dict[str, Any]]:
    """The same servers in the shape of the browser's ``RTCPeerConnection`` configuration."""
    out: list[dict[str, Any]] = []
    for s in servers:
        entry: dict[str, Any] = {"urls": list(s.urls)}
        if s.username is not None:
            entry["username"] = s.username
        if s.credential is not None:
            entry["credential"] = s.credential.get_secret_value()
        out.append(entry)
    return out


async def _gather_connection(connection: Any, addresses: list[str]) -> None:
    # Mirrors aioice.Connection.gather_candidates (0.9-0.13) with our address list instead of
    # get_host_addresses(); STUN/TURN candidates are still gathered by get_component_candidates.
    if connection._local_candidates_start:
        return
    connection._local_candidates_start = True
    found = await asyncio.gather(*(
        connection.get_component_candidates(component=component, addresses=addresses)
        for component in sorted(connection._components)
    ))
    for candidates in found:
        connection._local_candidates += candidates
    connection._local_candidates_end = True


async def gather_on(pc: RTCPeerConnection,
                    addresses: Iterable[IPv4Address | IPv6Address] | None) -> None:
    """Gather the host candidates of ``pc`` on ``addresses`` only; call after
    ``setRemoteDescription`` (or after adding transceivers) and before ``setLocalDescription``.
    ``None`` leaves aiortc's own gathering alone."""
    if addresses is None:
        return
    wanted = [str(a) for a in addresses]
    seen: set[int] = set()
    for transceiver in pc.getTransceivers():
        gatherer = transceiver.sender.transport.transport.iceGatherer
        if id(gatherer) in seen or gatherer.state != "new":
            continue
        seen.add(id(gatherer))
        await _gather_connection(gatherer._connection, wanted)
