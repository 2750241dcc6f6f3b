"""A cheap camera stand-in for stream tests that do not need the detector: numbered frames with
one known box, published to the hub at a fixed rate from a thread (like a pipeline would)."""

from __future__ import annotations

import statistics
import threading
import time

import cv2
import numpy as np

from edge.stream.hub import FrameHub, Overlay

BOX = np.array([[120, 80, 360, 300]], np.float32)  # in 640x480 camera pixels


def numbered_frames(n: int, width: int = 640, height: int = 480) -> list[np.ndarray]:
    frames = []
    for i in range(n):
        img = np.full((height, width, 3), 90, np.uint8)
        x = 40 + (i * 37) % (width - 120)
        cv2.rectangle(img, (x, height - 100), (x + 60, height - 40), (200, 200, 200), -1)
        cv2.putText(img, str(i), (20, 40), cv2.FONT_HERSHEY_SIMPLEX, 1.2, (255, 255, 255), 2)
        frames.append(img)
    return frames


class FramePublisher:
    """Publishes ``frames`` round-robin to ``camera_id`` at ``fps`` with a 'crack' box."""

    def __init__(self, hub: FrameHub, camera_id: str, fps: float, frames: list[np.ndarray]):
        self.hub, self.camera_id, self.fps, self.frames = hub, camera_id, fps, frames
        self.published = 0
        self.publish_s: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="frame-publisher", daemon=True)

    def __enter__(self) -> FramePublisher:
        self._thread.start()
        return self

    @property
    def median_publish_s(self) -> float:
        """Median time of hub.publish (single calls can stall on a loaded box's scheduler)."""
        return statistics.median(self.publish_s or [0.0])

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        period = 1.0 / self.fps
        next_t = time.monotonic()
        names = ("scratch", "crack", "dent")
        while not self._stop.is_set():
            i = self.published
            overlay = Overlay(BOX, np.array([1]), np.array([0.91], np.float32), np.array([4]),
                              names, i, time.time_ns(), time.monotonic_ns())
            t0 = time.perf_counter()
            self.hub.publish(self.camera_id, self.frames[i % len(self.frames)], overlay)
            self.publish_s.append(time.perf_counter() - t0)
            self.published += 1
            next_t += period
            self._stop.wait(max(0.0, next_t - time.monotonic()))
