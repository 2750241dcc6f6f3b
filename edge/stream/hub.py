"""The hand-over point between a camera pipeline and the live stream: newest frame wins.

The pipeline calls :meth:`FrameHub.publish` once per processed frame with the raw frame and what
to draw on it; that is a reference swap under a lock held for a few instructions, so the pipeline
never waits for the stream. The stream's encoder takes the newest frame at its own rate; every
frame that was replaced before anyone took it is counted as skipped.

Contract for the publisher: a published frame array must not be written to afterwards (sources
hand out a fresh array per frame, so that holds without a copy).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from lineinspect.crops import Pasted

_NO_BOXES = np.zeros((0, 4), np.float32)
_NO_SCORES = np.zeros(0, np.float32)
_NO_IDS = np.zeros(0, np.int64)


@dataclass(frozen=True, slots=True)
class Overlay:
    """What to draw on one frame, in that frame's pixel coordinates.

    Arrays are referenced, not copied: pass the detector's and tracker's own result arrays.
    ``track_id`` may be shorter than ``xyxy`` or hold -1 for boxes without a track.
    """

    xyxy: np.ndarray = field(default_factory=lambda: _NO_BOXES)  # (N, 4) float
    class_id: np.ndarray = field(default_factory=lambda: _NO_IDS)  # (N,) int
    score: np.ndarray = field(default_factory=lambda: _NO_SCORES)  # (N,) float
    track_id: np.ndarray = field(default_factory=lambda: _NO_IDS)  # (N,) int, -1: none
    class_names: Sequence[str] = ()
    frame_seq: int = 0
    ts_ns: int = 0  # capture wall clock (epoch ns)
    mono_ns: int = 0  # capture monotonic clock (ns), for glass-to-glass latency
    # Refined masks of tracks in this frame, (track id, mask in frame px); drawn under the boxes.
    masks: tuple[tuple[int, Pasted], ...] = ()

    def __len__(self) -> int:
        return int(self.xyxy.shape[0])


EMPTY_OVERLAY = Overlay()


@dataclass(frozen=True, slots=True)
class HubItem:
    frame: np.ndarray  # BGR uint8 (H, W, 3)
    overlay: Overlay
    index: int  # 1, 2, ... per camera: position in the sequence of published frames


@dataclass(frozen=True, slots=True)
class HubCounts:
    offered: int  # frames published
    taken: int  # frames a consumer took
    skipped: int  # frames replaced before any consumer took them


class UnknownCamera(KeyError):
    """The hub has no camera with that id."""

    def __init__(self, camera_id: str, known: Iterable[str]) -> None:
        super().__init__(camera_id)
        self.camera_id = camera_id
        self.known = sorted(known)

    def __str__(self) -> str:
        return f"no camera {self.camera_id!r} (known: {', '.join(self.known) or 'none'})"


class _Slot:
    __slots__ = ("cond", "item", "skipped", "taken", "taken_index")

    def __init__(self) -> None:
        self.cond = threading.Condition(threading.Lock())
        self.item: HubItem | None = None
        self.taken_index = 0  # index of the newest item a consumer took
        self.taken = 0
        self.skipped = 0


class FrameHub:
    """One newest-frame-wins slot per camera; cameras are fixed at construction."""

    def __init__(self, camera_ids: Iterable[str]) -> None:
        self._slots = {cid: _Slot() for cid in camera_ids}
        if not self._slots:
            raise ValueError("a FrameHub needs at least one camera id")

    @property
    def camera_ids(self) -> list[str]:
        return list(self._slots)

    def _slot(self, camera_id: str) -> _Slot:
        try:
            return self._slots[camera_id]
        except KeyError:
            raise UnknownCamera(camera_id, self._slots) from None

    def has_camera(self, camera_id: str) -> bool:
        return camera_id in self._slots

    def publish(self, camera_id: str, frame: np.ndarray, overlay: Overlay = EMPTY_OVERLAY) -> None:
        """Offer the newest frame of ``camera_id``; O(1), never waits for a consumer."""
        slot = self._slot(camera_id)
        with slot.cond:
            prev = slot.item
            index = 1 if prev is None else prev.index + 1
            if prev is not None and prev.index > slot.taken_index:
                slot.skipped += 1
            slot.item = HubItem(frame, overlay, index)
            slot.cond.notify_all()

    def latest(self, camera_id: str) -> HubItem | None:
        """The newest item without taking it (snapshots; not counted)."""
        return self._slot(camera_id).item

    def take(self, camera_id: str, after: int, timeout: float | None = None) -> HubItem | None:
        """The newest item with ``index > after``, waiting up to ``timeout`` s for one (None: no
        wait). Returns None if there is none by then."""
        slot = self._slot(camera_id)
        with slot.cond:
            item = slot.item
            if (item is None or item.index <= after) and timeout:
                slot.cond.wait_for(lambda: slot.item is not None and slot.item.index > after,
                                   timeout)
                item = slot.item
            if item is None or item.index <= after:
                return None
            if item.index > slot.taken_index:
                slot.taken_index = item.index
                slot.taken += 1
            return item

    def counts(self, camera_id: str) -> HubCounts:
        slot = self._slot(camera_id)
        with slot.cond:
            offered = 0 if slot.item is None else slot.item.index
            return HubCounts(offered, slot.taken, slot.skipped)

    def wake(self, camera_id: str) -> None:
        """Wake consumers blocked in :meth:`take` (used when stopping)."""
        slot = self._slot(camera_id)
        with slot.cond:
            slot.cond.notify_all()
