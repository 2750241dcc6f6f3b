"""Rules every lineinspect HTTP API shares: who may reach it, and from which web origins.

Like Mosquitto 2 for anonymous clients: an API bound beyond loopback must have a token, unless
the config says ``allow_anonymous: true`` in so many words. Browsers on other origins (a plant
HMI embedding the live view) are let in only from the origins listed in ``cors_origins``.
"""

from __future__ import annotations

from ipaddress import ip_address
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, SecretStr


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``; any other name or address serves a network."""
    if host.lower() == "localhost":
        return True
    try:
        return ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_exposure(host: str, token: SecretStr | None, allow_anonymous: bool) -> None:
    """ValueError when ``host`` serves beyond loopback with no token and no explicit opt-out."""
    if token is None and not allow_anonymous and not is_loopback(host):
        raise ValueError(
            f"host {host!r} serves the network without a token: set token_file (or token, or "
            "LINEINSPECT_API__TOKEN), bind to 127.0.0.1, or set allow_anonymous: true to serve "
            "everyone on that network"
        )


def _origin(value: str) -> str:
    if value == "*":
        return value
    parts = urlsplit(value)
    if (parts.scheme not in ("http", "https") or not parts.hostname
            or parts.path not in ("", "/") or parts.query or parts.fragment
            or parts.username or parts.password):  # fmt: skip
        raise ValueError(
            f"{value!r} is not a web origin: scheme://host[:port], e.g. https://hmi.plant.local"
        )
    return value.rstrip("/").lower()


CorsOrigin = Annotated[str, AfterValidator(_origin)]
"""A web origin (``https://hmi.plant.local:8443``) or ``*`` for any."""

# What cross-origin pages may read from our responses: WHEP's resource URL, its ETag (for
# If-Match on PATCH) and Link (ICE servers); the read-only API's pagination Link.
EXPOSED_HEADERS = ("Location", "ETag", "Link")
