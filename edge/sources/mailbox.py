"""A single-slot mailbox where the newest item wins.

The producer never waits: if the consumer has not taken the previous item it is replaced and
counted as dropped. So a slow consumer always gets the freshest frame, memory is bounded to one
item, and latency does not grow with a backlog.
"""

from __future__ import annotations

import threading
from typing import Generic, TypeVar

T = TypeVar("T")


class MailboxClosed(Exception):
    """The mailbox was closed and its last item has been taken."""


class LatestMailbox(Generic[T]):
    __slots__ = ("_closed", "_cond", "_item", "delivered", "dropped", "posted")

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._item: T | None = None
        self._closed = False
        self.posted = 0
        self.delivered = 0
        self.dropped = 0

    def put(self, item: T) -> bool:
        """Store ``item``; returns True if it replaced one that was never taken (a drop)."""
        with self._cond:
            replaced = self._item is not None
            if replaced:
                self.dropped += 1
            self._item = item
            self.posted += 1
            self._cond.notify()
        return replaced

    def put_when_taken(self, item: T, stop: threading.Event, poll_s: float = 0.05) -> bool:
        """Store ``item`` once the previous one has been taken (back-pressure, no drop).

        For recordings processed offline, where every frame matters more than freshness.
        Returns False, storing nothing, if ``stop`` is set or the mailbox closes first.
        """
        with self._cond:
            while self._item is not None and not self._closed:
                if stop.is_set():
                    return False
                self._cond.wait(poll_s)
            if self._closed or stop.is_set():
                return False
            self._item = item
            self.posted += 1
            self._cond.notify_all()
        return True

    def get(self, timeout: float | None = None) -> T | None:
        """The newest item, waiting up to ``timeout`` seconds (None: forever).

        Returns None on timeout; raises :class:`MailboxClosed` once closed and empty.
        """
        with self._cond:
            if self._item is None and not self._closed:
                self._cond.wait_for(self._ready, timeout)
            item = self._item
            if item is None:
                if self._closed:
                    raise MailboxClosed
                return None
            self._item = None
            self.delivered += 1
            self._cond.notify_all()  # a producer in put_when_taken may go on
            return item

    def close(self) -> None:
        """No more items will come; a waiting ``get`` wakes. An item still held can be taken."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def pending(self) -> int:
        with self._cond:
            return 0 if self._item is None else 1

    def _ready(self) -> bool:
        return self._item is not None or self._closed
