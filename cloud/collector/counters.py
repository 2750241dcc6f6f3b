"""Named counters the collector keeps (received, written, dead letters by reason, drops...)."""

from __future__ import annotations

import threading
from collections import Counter


class Counters:
    """Thread-safe monotonic counters; ``snapshot()`` for logs, tests and the API."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: Counter[str] = Counter()

    def add(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._values[name] += n

    def get(self, name: str) -> int:
        with self._lock:
            return self._values[name]

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(sorted(self._values.items()))

    def deadletters(self) -> int:
        with self._lock:
            return sum(v for k, v in self._values.items() if k.startswith("deadletter_"))
