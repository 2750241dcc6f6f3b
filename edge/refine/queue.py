"""The refiner's work queue: bounded, newest first, drops the oldest.

A defect seen now is worth more than one seen a second ago (its part may have left the view and
its crop is stale), so the worker takes the *newest* job and, when the queue is full, the
*oldest* is dropped to make room. Every drop is counted and reported to ``on_drop`` (metrics),
with the dropped job so the count lands on its camera. ``push`` never waits: it is called on
the inference thread.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from lineinspect.crops import Window

if TYPE_CHECKING:
    from edge.refine.stage import CameraRefineContext


@dataclass(slots=True)
class RefineJob:
    """One crop to refine and what its ``update`` event needs. ``crop`` is the job's own array
    (cut from the frame on the hot path): the capture reuses frame buffers, so a job never
    holds a reference to the frame."""

    camera: CameraRefineContext
    crop: np.ndarray  # uint8 (S, S, 3) BGR
    window: Window
    frame_size: tuple[int, int]  # width, height
    box: tuple[float, float, float, float]  # the detection's box, frame px
    track_id: int
    defect_id: str
    class_name: str
    class_id: int
    zone: str | None
    confidence: float
    frame_seq: int
    ts: float  # capture time of the frame, epoch s
    index_in_frame: int  # after the tracker's own events of that frame: unique per frame
    enqueued_ns: int = 0  # monotonic, for the queue-wait figure


class NewestFirstQueue:
    """A bounded deque of jobs: push on the right, take from the right, drop from the left."""

    def __init__(self, maxsize: int,
                 on_drop: Callable[[RefineJob], None] | None = None) -> None:
        if maxsize < 1:
            raise ValueError(f"maxsize must be >= 1, got {maxsize}")
        self.maxsize = maxsize
        self._items: deque[RefineJob] = deque()
        self._cond = threading.Condition(threading.Lock())
        self._on_drop = on_drop
        self._closed = False
        self.pushed = 0
        self.dropped = 0
        self.high_water = 0

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)

    def push(self, job: RefineJob) -> bool:
        """Add ``job``; False if the queue is closed (the job is not kept). O(1), never waits."""
        dropped = None
        with self._cond:
            if self._closed:
                return False
            if len(self._items) >= self.maxsize:
                dropped = self._items.popleft()
                self.dropped += 1
            self._items.append(job)
            self.pushed += 1
            self.high_water = max(self.high_water, len(self._items))
            self._cond.notify()
        if dropped is not None and self._on_drop is not None:
            self._on_drop(dropped)  # outside the lock: metrics take their own
        return True

    def take(self, timeout: float | None = None) -> RefineJob | None:
        """The newest job, waiting up to ``timeout`` s; None on timeout or once closed and empty."""
        with self._cond:
            if not self._items and not self._closed:
                self._cond.wait_for(lambda: bool(self._items) or self._closed, timeout)
            return self._items.pop() if self._items else None

    def discard(self) -> int:
        """Drop every queued job, each counted and reported like a full queue's drop."""
        with self._cond:
            left = list(self._items)
            self._items.clear()
            self.dropped += len(left)
        if self._on_drop is not None:
            for job in left:
                self._on_drop(job)
        return len(left)

    def close(self) -> None:
        """Refuse new jobs; takers drain what is queued, then get None."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed
