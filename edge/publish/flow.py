"""Flow control between the outbox and the MQTT client: pacing, the in-flight window, and which
outbox rows go next.

Three lanes, always each in ``seq`` order:

1. **state** (alarms, status): first, unpaced. A PLC alarm never waits behind a backlog.
2. **backlog** events (queued while the broker was away, or left from a previous run). A small
   backlog (one second's worth at ``drain_rate_per_s``: a blip, or the events of the first
   moments before the first connect) goes out at once, ahead of live events, so order is kept.
   A larger one is paced by a token bucket at ``drain_rate_per_s``, so a reconnect does not
   flood the broker and the subscribers behind it, and live events overtake it.
3. **live** events (appended while connected): unpaced, so new events keep flowing.

Everything handed to the client counts against one in-flight window (``max_inflight``, further
capped by the broker's MQTT 5 Receive Maximum): paho re-sends those itself after a reconnect,
so the outbox never hands the same row twice in one process. A process restart starts with
empty cursors and re-sends every row still in the file (duplicates possible, losses not).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from edge.publish.outbox import EVENTS, STATE, Outbox, Row


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved up. Pure: time is passed in."""

    def __init__(self, rate: float, burst: float) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self._tokens = burst
        self._last: float | None = None

    def _refill(self, now: float) -> None:
        if self._last is not None and now > self._last:
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        if self._last is None or now > self._last:
            self._last = now

    def take(self, now: float, want: int) -> int:
        """Up to ``want`` whole tokens, as many as are available now."""
        self._refill(now)
        n = min(want, math.floor(self._tokens))
        self._tokens -= max(n, 0)
        return max(n, 0)

    def refund(self, n: int) -> None:
        self._tokens = min(self.burst, self._tokens + n)

    def wait_s(self, now: float) -> float:
        """Seconds until one whole token is available (0 if one is)."""
        self._refill(now)
        if self._tokens >= 1:
            return 0.0
        return (1 - self._tokens) / self.rate


@dataclass
class Inflight:
    seq: int
    camera: str | None
    t0: float | None  # perf_counter when the pipeline handed the item over (this process only)
    stage: str  # latency stage to record on PUBACK


class FlowControl:
    def __init__(self, drain_rate_per_s: float, max_inflight: int) -> None:
        self.bucket = TokenBucket(drain_rate_per_s, burst=max(1.0, drain_rate_per_s / 10))
        self.max_inflight = max_inflight
        self.window = max_inflight
        self.inflight: dict[int, Inflight] = {}  # mid -> row
        self._state_cursor = 0
        self._live_cursor = 0
        self._backlog_cursor = 0
        self._backlog_end = 0
        self._retry: dict[int, float] = {}  # seq -> monotonic time to try again
        self.paced = False

    # -- connection events ---------------------------------------------------------------------
    def connected(self, outbox: Outbox, receive_maximum: int | None) -> None:
        """Everything not yet handed over becomes backlog; rows appended from now on are live."""
        self.window = min(self.max_inflight, receive_maximum or self.max_inflight)
        self._backlog_end = max(self._live_cursor, self._backlog_end, outbox.max_seq(EVENTS))
        self._live_cursor = self._backlog_end
        small = max(self.bucket.burst, self.bucket.rate)  # one second's worth
        waiting = outbox.count_range(EVENTS, self._backlog_cursor, self._backlog_end,
                                     limit=int(small) + self.window + 1)
        self.paced = waiting - len(self.inflight) > small

    @property
    def backlog_pending(self) -> bool:
        return self._backlog_cursor < self._backlog_end

    def protected(self) -> set[int]:
        """Seqs the client holds; the byte cap must not drop them."""
        return {f.seq for f in self.inflight.values()} | set(self._retry)

    # -- choosing rows ---------------------------------------------------------------------------
    def next_rows(self, outbox: Outbox, now: float) -> list[Row]:
        """Rows to hand to the client now, in the order to send them."""
        budget = self.window - len(self.inflight)
        if budget <= 0:
            return []
        out = outbox.fetch(STATE, self._state_cursor, None, budget)
        if out:
            self._state_cursor = out[-1].seq
        budget -= len(out)
        if budget > 0 and self.backlog_pending and not self.paced:
            backlog = self._backlog(outbox, budget)
            out += backlog
            budget -= len(backlog)
        if budget > 0 and not (self.backlog_pending and not self.paced):
            live = outbox.fetch(EVENTS, self._live_cursor, None, budget)
            if live:
                self._live_cursor = live[-1].seq
                out += live
            budget -= len(live)
        if budget > 0 and self.backlog_pending and self.paced:
            allowed = self.bucket.take(now, budget)
            if allowed:
                rows = self._backlog(outbox, allowed)
                self.bucket.refund(allowed - len(rows))
                out += rows
        return out

    def _backlog(self, outbox: Outbox, limit: int) -> list[Row]:
        found = outbox.fetch(EVENTS, self._backlog_cursor, self._backlog_end, limit)
        if len(found) < limit:
            self._backlog_cursor = self._backlog_end  # nothing older left
        elif found:
            self._backlog_cursor = found[-1].seq
        # Rows sent live before a disconnect can sit in this range, still with the client (it
        # re-sends them itself): skip those.
        held = self.protected()
        return [r for r in found if r.seq not in held]

    def due_retries(self, outbox: Outbox, now: float) -> list[Row]:
        """Rows the broker refused with a transient reason code, once their wait is over."""
        due = [seq for seq, at in self._retry.items() if at <= now]
        rows: list[Row] = []
        for seq in due[: max(0, self.window - len(self.inflight))]:
            del self._retry[seq]
            row = outbox.get(seq)
            if row is not None:  # else dropped by the byte cap meanwhile
                rows.append(row)
        return rows

    def retry_later(self, seq: int, at: float) -> None:
        self._retry[seq] = at

    def wait_s(self, now: float) -> float | None:
        """When to come back for paced rows (``None``: nothing paced is waiting)."""
        waits: list[float] = [max(0.0, at - now) for at in self._retry.values()]
        if self.backlog_pending and self.paced and len(self.inflight) < self.window:
            waits.append(self.bucket.wait_s(now))
        return min(waits) if waits else None
