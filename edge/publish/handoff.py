"""The hand-off between the pipeline's threads and the publisher's worker thread.

Two lanes under one condition variable, so the worker sleeps on one thing:

* **data** (defect events): bounded; when full, the new item is refused and counted
  (drop-newest: the items already queued were accepted first and may already be promised to
  someone). The caller never waits.
* **control** (acks, connection changes, status, PUBACKs): unbounded but tiny and rare in
  practice; these must never be dropped, because losing a PUBACK would leave a message in the
  outbox forever and losing an alarm ack would leave the line stopped.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Generic, TypeVar

D = TypeVar("D")
C = TypeVar("C")


@dataclass
class Drained(Generic[D, C]):
    """Everything one ``take`` emptied out of the queue, and whether it is closed."""

    data: list[D] = field(default_factory=list)
    control: list[C] = field(default_factory=list)
    closed: bool = False


class Handoff(Generic[D, C]):
    def __init__(self, max_data: int) -> None:
        if max_data < 1:
            raise ValueError("max_data must be >= 1")
        self._max = max_data
        self._data: deque[D] = deque()
        self._control: deque[C] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self.dropped = 0
        self.accepted = 0
        self.taken = 0  # data items handed to the worker

    def put_data(self, item: D) -> bool:
        """Queue ``item``; ``False`` (and counted in ``dropped``) if the queue is full or closed."""
        with self._cond:
            if self._closed or len(self._data) >= self._max:
                self.dropped += 1
                return False
            self._data.append(item)
            self.accepted += 1
            self._cond.notify()
            return True

    def put_control(self, item: C) -> None:
        with self._cond:
            self._control.append(item)
            self._cond.notify()

    def take(self, timeout: float | None) -> Drained[D, C]:
        """Everything queued, waiting up to ``timeout`` s for something (``None``: forever)."""
        with self._cond:
            if not self._data and not self._control:
                self._cond.wait(timeout)
            out: Drained[D, C] = Drained(list(self._data), list(self._control), self._closed)
            self._data.clear()
            self._control.clear()
            self.taken += len(out.data)
            return out

    def close(self) -> None:
        """Refuse further data and wake the worker; control items are still accepted."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def wake(self) -> None:
        with self._cond:
            self._cond.notify_all()

    @property
    def pending(self) -> int:
        with self._cond:
            return len(self._data)
