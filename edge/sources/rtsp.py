"""RTSP cameras through OpenCV's FFmpeg backend.

Measured with OpenCV 5.0 / FFmpeg 62 against gst-rtsp-server (tests/rtsp/server.py):

* Without ``CAP_PROP_READ_TIMEOUT_MSEC`` a read on a hung server blocks ~30 s; with it, FFmpeg's
  interrupt callback ends the read after the timeout. A few reads after a hang still return
  frames (TCP-buffered, or after sitting out the whole timeout), so a read that took longer than
  the read timeout is treated as a stall here instead of as a good frame.
* The backend never reconnects by itself: after a failure the capture must be released and
  opened again, which the capture thread does with backoff.
* Opening probes the stream until FFmpeg has found the codec parameters, ~2 s on a 1 s key
  frame interval; ``ffmpeg_options={"analyzeduration": "500000"}`` cut that to ~0.4-0.7 s.
"""

from __future__ import annotations

import time

import cv2

from edge.sources.ffmpeg_env import FFMPEG_CAPTURE_OPTIONS, capture_options, redact_url
from edge.sources.frame import Frame, SourceOpenError, SourceReadError, Stamper
from edge.sources.settings import RtspSource


class RtspFrameSource:
    pace_fps: float | None = None

    def __init__(self, settings: RtspSource, stamper: Stamper | None = None) -> None:
        self._settings = settings
        self._stamper = stamper or Stamper()
        self._cap: cv2.VideoCapture | None = None
        self._options = capture_options(
            {"rtsp_transport": settings.transport, **settings.ffmpeg_options})
        self._params = [
            cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, round(settings.open_timeout_s * 1000),
            cv2.CAP_PROP_READ_TIMEOUT_MSEC, round(settings.read_timeout_s * 1000),
        ]
        self.description = f"RTSP {redact_url(settings.url)}"

    @property
    def max_block_s(self) -> float:
        # The timeouts are enforced by FFmpeg's interrupt callback, which is polled, so allow a
        # little slack over the configured values.
        return max(self._settings.open_timeout_s, self._settings.read_timeout_s) + 1.0

    def open(self) -> None:
        self.close()
        with FFMPEG_CAPTURE_OPTIONS.holding(self._options):
            cap = cv2.VideoCapture(self._settings.url, cv2.CAP_FFMPEG, self._params)
        if not cap.isOpened():
            cap.release()
            raise SourceOpenError(
                f"{self.description}: cannot open (unreachable, refused, not a stream, or no "
                f"answer within open_timeout_s={self._settings.open_timeout_s})")
        self._cap = cap

    def read(self) -> Frame | None:
        cap = self._cap
        if cap is None:
            raise SourceReadError(f"{self.description}: read before open")
        start = time.monotonic()
        ok, image = cap.read()
        took = time.monotonic() - start
        if not ok or image is None:
            raise SourceReadError(
                f"{self.description}: no frame after {took:.1f} s (connection lost or read "
                f"timeout {self._settings.read_timeout_s} s)")
        if took >= self._settings.read_timeout_s:
            raise SourceReadError(
                f"{self.description}: stalled, one frame took {took:.1f} s "
                f"(read_timeout_s={self._settings.read_timeout_s})")
        return self._stamper.stamp(image)

    def close(self) -> None:
        cap, self._cap = self._cap, None
        if cap is not None:
            cap.release()
