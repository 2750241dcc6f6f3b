"""Passing FFmpeg demuxer options to OpenCV, which only reads them from the environment.

OpenCV's FFmpeg backend takes demuxer options (``rtsp_transport`` and friends) from the
``OPENCV_FFMPEG_CAPTURE_OPTIONS`` variable, read with ``getenv`` at the start of every open
(checked: setting it after ``import cv2`` takes effect on the next open). The variable is
process-wide, so opens that need different values must not overlap; opens that need the same
value may. :class:`EnvGate` does exactly that and restores the previous value afterwards.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

CAPTURE_OPTIONS_VAR = "OPENCV_FFMPEG_CAPTURE_OPTIONS"


def capture_options(options: Mapping[str, str]) -> str:
    """``{"rtsp_transport": "tcp", "stimeout": "5"}`` -> ``"rtsp_transport;tcp|stimeout;5"``."""
    parts = []
    for key, value in options.items():
        for what, text in (("key", key), ("value", value)):
            if not text or ";" in text or "|" in text:
                raise ValueError(
                    f"FFmpeg option {what} {text!r} must be non-empty without ';' or '|'")
        parts.append(f"{key};{value}")
    return "|".join(parts)


def redact_url(url: str) -> str:
    """Drop the password from a URL so it can go into logs and status messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    netloc = f"{parts.username}:***@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


class EnvGate:
    """Holds one environment variable at a value while any holder of that value is inside."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._cond = threading.Condition()
        self._value: str | None = None
        self._users = 0
        self._saved: str | None = None

    @contextmanager
    def holding(self, value: str) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: self._users == 0 or self._value == value)
            if self._users == 0:
                self._saved = os.environ.get(self._name)
                os.environ[self._name] = value
                self._value = value
            self._users += 1
        try:
            yield
        finally:
            with self._cond:
                self._users -= 1
                if self._users == 0:
                    if self._saved is None:
                        os.environ.pop(self._name, None)
                    else:
                        os.environ[self._name] = self._saved
                    self._value = None
                    self._cond.notify_all()


FFMPEG_CAPTURE_OPTIONS = EnvGate(CAPTURE_OPTIONS_VAR)
