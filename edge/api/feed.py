"""Live state for viewers: recent defect events, the alarm, per-camera fps and latency.

The pipeline threads write (``push_event``, ``set_alarm``, ``set_live``): a lock held for an
append, never waiting on a client. Clients (SSE streams on the HTTP server's event loop) read
through a :class:`Subscription`: a cursor into one shared, bounded ring of events, woken through
their loop. A client that reads slower than events arrive loses the oldest ones it has not read
(the ring moves on); those drops are counted per client and in total.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field

from lineinspect.contract import Alarm, DefectEvent


@dataclass(frozen=True, slots=True)
class LiveStats:
    """What the viewer shows for one camera, refreshed by the pipeline about once a second."""

    fps: float
    latency_ms: float | None = None  # capture to result, the pipeline's own measure
    frames: int = 0
    drops: int = 0
    stages_ms: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class FeedRead:
    events: list[tuple[int, DefectEvent]]  # (sequence number, event), oldest first
    dropped: int  # events this client missed since the last read
    alarm: Alarm | None  # set when it changed since the last read
    live: dict[str, LiveStats] | None  # set when any camera's stats changed


class Subscription:
    """One client's cursor; use from the event loop it was made on."""

    def __init__(self, feed: EventFeed, loop: asyncio.AbstractEventLoop, after: int) -> None:
        self._feed = feed
        self.loop = loop
        self._event = asyncio.Event()
        self._scheduled = False  # a wake-up is queued on the loop; guarded by the feed's lock
        self.cursor = after
        self.alarm_seen = 0  # nothing to report until the pipeline sets an alarm state
        self.live_seen = 0
        self.dropped = 0

    def _wake(self) -> None:  # on the loop
        self._scheduled = False
        self._event.set()

    async def wait(self, timeout: float) -> bool:
        """True when something new arrived, False after ``timeout`` s of silence."""
        try:
            await asyncio.wait_for(self._event.wait(), timeout)
        except asyncio.TimeoutError:
            return False
        return True

    def read(self) -> FeedRead:
        self._event.clear()
        return self._feed._read(self)


class EventFeed:
    def __init__(self, capacity: int = 200, max_clients: int = 64) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self.max_clients = max_clients
        self._lock = threading.Lock()
        self._ring: deque[tuple[int, DefectEvent]] = deque(maxlen=capacity)
        self._seq = 0
        self._alarm: Alarm | None = None
        self._alarm_seq = 0
        self._live: dict[str, LiveStats] = {}
        self._live_seq = 0
        self._subs: list[Subscription] = []
        self.events_pushed = 0
        self.client_drops = 0

    # -- writers (any thread) -----------------------------------------------------------------
    def push_event(self, event: DefectEvent) -> None:
        with self._lock:
            self._seq += 1
            self._ring.append((self._seq, event))
            self.events_pushed += 1
            self._wake_all()

    def set_alarm(self, alarm: Alarm) -> None:
        with self._lock:
            self._alarm = alarm
            self._alarm_seq += 1
            self._wake_all()

    def set_live(self, camera_id: str, stats: LiveStats) -> None:
        with self._lock:
            self._live[camera_id] = stats
            self._live_seq += 1
            self._wake_all()

    def _wake_all(self) -> None:
        # Caller holds the lock. One queued wake-up per client at most, however many writes.
        for sub in self._subs:
            if not sub._scheduled:
                # Flag first: the loop may run _wake (which clears it) before
                # call_soon_threadsafe returns; flagging after would leave it set for good.
                sub._scheduled = True
                try:
                    sub.loop.call_soon_threadsafe(sub._wake)
                except RuntimeError:  # that client's loop is closed; it will unsubscribe
                    sub._scheduled = False

    # -- readers ------------------------------------------------------------------------------
    @property
    def clients(self) -> int:
        return len(self._subs)

    @property
    def last_seq(self) -> int:
        return self._seq

    def recent(self, limit: int | None = None) -> list[DefectEvent]:
        with self._lock:
            items = [e for _, e in self._ring]
        return items if limit is None else items[-limit:]

    @property
    def alarm(self) -> Alarm | None:
        return self._alarm

    def live(self) -> dict[str, LiveStats]:
        with self._lock:
            return dict(self._live)

    def subscribe(self, loop: asyncio.AbstractEventLoop, after: int | None = None
                  ) -> Subscription | None:
        """A cursor for a new client, replaying the ring from ``after`` (None: the whole ring).
        None when ``max_clients`` are connected already."""
        with self._lock:
            if len(self._subs) >= self.max_clients:
                return None
            oldest = self._ring[0][0] - 1 if self._ring else self._seq
            start = oldest if after is None else max(min(after, self._seq), oldest)
            sub = Subscription(self, loop, start)
            self._subs.append(sub)
            if (self._ring and start < self._seq) or self._alarm is not None or self._live:
                sub._event.set()
            return sub

    def unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            if sub in self._subs:
                self._subs.remove(sub)

    def _read(self, sub: Subscription) -> FeedRead:
        with self._lock:
            events = [(s, e) for s, e in self._ring if s > sub.cursor]
            # The ring always holds the newest event, so a gap before the first one we still
            # have is exactly what this client missed.
            missed = events[0][0] - sub.cursor - 1 if events else 0
            sub.cursor = self._seq
            sub.dropped += missed
            self.client_drops += missed
            alarm = None
            if self._alarm_seq != sub.alarm_seen:
                sub.alarm_seen, alarm = self._alarm_seq, self._alarm
            live = None
            if self._live_seq != sub.live_seen:
                sub.live_seen, live = self._live_seq, dict(self._live)
            return FeedRead(events, missed, alarm, live)
