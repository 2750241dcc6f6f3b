"""Refined masks for the viewer: the newest mask of each track, drawn while the track is seen.

The refiner thread calls :meth:`TrackMasks.put` (track id, mask on the frame it was refined
in, box at that moment); the camera's frame hook asks :meth:`TrackMasks.visible` for the masks
of the tracks in the current frame. The part moves on the belt after its crop was cut, so a mask
is shifted by how far its track's box has moved since: drawn where the defect is now, not
where it was. Bounded (the oldest track's mask goes first); a short lock on both sides.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np

from lineinspect.crops import Pasted

MAX_TRACK_MASKS = 128

Box = tuple[float, float, float, float]


class TrackMasks:
    def __init__(self, capacity: int = MAX_TRACK_MASKS) -> None:
        self._lock = threading.Lock()
        self._masks: OrderedDict[int, tuple[Pasted, Box]] = OrderedDict()
        self.capacity = capacity

    def __len__(self) -> int:
        with self._lock:
            return len(self._masks)

    def put(self, track_id: int, pasted: Pasted, box: Box) -> None:
        if pasted.mask.size == 0:
            return
        with self._lock:
            self._masks[track_id] = (pasted, box)
            self._masks.move_to_end(track_id)
            while len(self._masks) > self.capacity:
                self._masks.popitem(last=False)

    def visible(self, track_ids: np.ndarray, xyxy: np.ndarray) -> tuple[tuple[int, Pasted], ...]:
        """The masks of the tracks among ``track_ids`` (boxes ``xyxy`` of this frame), each
        moved by its box's displacement since it was refined."""
        if not self._masks or track_ids.shape[0] == 0:
            return ()
        out: list[tuple[int, Pasted]] = []
        with self._lock:
            for i in np.flatnonzero(track_ids >= 0).tolist():
                tid = int(track_ids[i])
                got = self._masks.get(tid)
                if got is None:
                    continue
                pasted, (bx1, by1, bx2, by2) = got
                cx = (float(xyxy[i, 0]) + float(xyxy[i, 2]) - bx1 - bx2) / 2.0
                cy = (float(xyxy[i, 1]) + float(xyxy[i, 3]) - by1 - by2) / 2.0
                out.append((tid, Pasted(pasted.x0 + round(cx), pasted.y0 + round(cy),
                                        pasted.mask)))
        return tuple(out)
