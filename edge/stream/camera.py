"""The encoder thread of one camera: newest hub frame → resize → draw → encode → relay.

It runs only while someone watches, at most at the stream rate, and takes the newest frame each
time, so the stream rate and size are independent of the detector's and a slow encoder never
slows the pipeline (the hub just counts skipped frames). One encoder per codec in use, shared by
all viewers of the camera.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import av
import cv2
import numpy as np

from edge.stream.annotate import draw_overlay
from edge.stream.encoder import TIME_BASE, VideoEncoder, stream_size
from edge.stream.hub import FrameHub, HubItem
from edge.stream.relay import CameraRelay
from edge.stream.settings import Codec, StreamSettings

log = logging.getLogger(__name__)

_IDLE_WAIT_S = 0.5


@dataclass(slots=True)
class StreamerStats:
    """Monotonic counters read by the metrics collector."""

    frames: int = 0  # frames drawn and encoded (once, whatever the number of viewers)
    encode_s: float = 0.0  # time spent resizing, drawing and encoding
    packets: int = 0
    bytes: int = 0
    keyframes: int = 0
    errors: int = 0


class CameraStreamer:
    """Owns the encoder thread of ``camera_id``; :meth:`start` / :meth:`stop`."""

    def __init__(self, camera_id: str, hub: FrameHub, relay: CameraRelay,
                 settings: StreamSettings, loop: asyncio.AbstractEventLoop,
                 mono_ns: Callable[[], int] = time.monotonic_ns) -> None:
        self.camera_id = camera_id
        self._hub = hub
        self._relay = relay
        self._settings = settings
        self._loop = loop
        self._mono_ns = mono_ns
        self._period_ns = int(1e9 / settings.fps)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._encoders: dict[Codec, VideoEncoder] = {}
        self._canvas: np.ndarray | None = None
        self._last_pts = -1
        self.stats = StreamerStats()

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError(f"streamer of {self.camera_id} already started")
        self._thread = threading.Thread(target=self._run, name=f"stream-{self.camera_id}",
                                        daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._relay.active.set()  # wake an idle wait
        self._hub.wake(self.camera_id)
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        last_index = 0
        due_ns = 0
        while not self._stop.is_set():
            if not self._relay.active.wait(_IDLE_WAIT_S):
                self._encoders.clear()  # nobody watches: free encoder state
                continue
            now = self._mono_ns()
            if now < due_ns and self._stop.wait((due_ns - now) / 1e9):
                break
            item = self._hub.take(self.camera_id, last_index, timeout=_IDLE_WAIT_S)
            if item is None:
                continue
            last_index = item.index
            start = self._mono_ns()
            # Pace from the frame we got, not a fixed grid, so a late frame is sent at once.
            due_ns = start + self._period_ns
            try:
                self._encode_and_send(item)
            except (av.FFmpegError, ValueError, cv2.error):
                self.stats.errors += 1
                log.exception("camera %s: encoding a frame failed; resetting the encoders",
                              self.camera_id)
                self._encoders.clear()
            self.stats.encode_s += (self._mono_ns() - start) / 1e9

    def _encode_and_send(self, item: HubItem) -> None:
        codecs = self._relay.codecs
        if not codecs:
            return
        frame = item.frame
        fh, fw = frame.shape[:2]
        w, h = stream_size(fw, fh, self._settings.width, self._settings.height)
        canvas = self._canvas
        if canvas is None or canvas.shape[0] != h or canvas.shape[1] != w:
            canvas = self._canvas = np.empty((h, w, 3), np.uint8)
            self._encoders.clear()
        if (w, h) == (fw, fh):
            np.copyto(canvas, frame)
        else:
            cv2.resize(frame, (w, h), dst=canvas, interpolation=cv2.INTER_AREA)
        draw_overlay(canvas, item.overlay, w / fw, h / fh)
        pts = self._pts(item)
        for codec in codecs:
            encoder = self._encoders.get(codec)
            if encoder is None:
                s = self._settings
                encoder = VideoEncoder(codec, w, h, s.fps, s.bitrate_kbps, s.keyframe_interval_s)
                self._encoders[codec] = encoder
                self._relay.take_keyframe_request(codec)  # a new encoder starts with one anyway
                keyframe = True
            else:
                keyframe = self._relay.take_keyframe_request(codec)
            packets = encoder.encode(canvas, pts, keyframe)
            if not packets:
                continue
            self.stats.packets += len(packets)
            self.stats.bytes += sum(p.size for p in packets)
            self.stats.keyframes += sum(1 for p in packets if p.is_keyframe)
            try:
                self._loop.call_soon_threadsafe(self._relay.deliver, codec, packets)
            except RuntimeError:  # the loop is closed: the service is stopping
                self._stop.set()
                return
        self.stats.frames += 1

    def _pts(self, item: HubItem) -> int:
        """RTP-clock time stamp from the capture time (playout keeps the camera's timing),
        strictly increasing even if a source reports equal or older times."""
        mono = item.overlay.mono_ns or self._mono_ns()
        pts = mono * TIME_BASE.denominator // 1_000_000_000
        if pts <= self._last_pts:
            pts = self._last_pts + 1
        self._last_pts = pts
        return pts
