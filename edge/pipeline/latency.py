"""A fixed-size window of recent latencies for p50/p99 without per-frame allocation."""

from __future__ import annotations

import threading

import numpy as np


class LatencyWindow:
    """Ring buffer of the last ``size`` samples (ms); ``percentiles`` copies under a lock."""

    def __init__(self, size: int = 4096) -> None:
        self._buf = np.zeros(size, np.float64)
        self._n = 0
        self._lock = threading.Lock()

    def add(self, ms: float) -> None:
        # One writer at a time (the camera's turn in the inference loop); the lock guards readers'
        # snapshots.
        with self._lock:
            self._buf[self._n % self._buf.size] = ms
            self._n += 1

    @property
    def count(self) -> int:
        return self._n

    def percentiles(self, qs: tuple[float, ...] = (50.0, 99.0)) -> tuple[float, ...]:
        with self._lock:
            data = self._buf[: min(self._n, self._buf.size)].copy()
        if data.size == 0:
            return tuple(float("nan") for _ in qs)
        return tuple(float(v) for v in np.percentile(data, qs))

    def samples(self) -> np.ndarray:
        with self._lock:
            return self._buf[: min(self._n, self._buf.size)].copy()
