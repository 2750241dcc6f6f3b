"""The edge's one clock interface: wall time for time stamps, monotonic time for timers.

Injected (never read from ``time`` directly) where a test must control time: frame stamps in
the sources, alarm timers and stats periods in the publisher.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def wall_ns(self) -> int: ...

    def mono_ns(self) -> int: ...


class SystemClock:
    def wall_ns(self) -> int:
        return time.time_ns()

    def mono_ns(self) -> int:
        return time.monotonic_ns()


SYSTEM_CLOCK = SystemClock()
