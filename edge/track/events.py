"""The tracker's own event record: small, internal, converted to the wire model at the edge."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

EventKind = Literal["new", "update", "end"]
# Why an event was emitted: ``new``/``end`` need no more words than the kind; ``update`` and ``end``
# name their cause so a subscriber can tell a better score from a refinement, or a timeout from a
# defect that left the view.
EventReason = Literal["confirmed", "score", "refinement", "missed", "left_frame", "flush"]


@dataclass(slots=True)
class TrackEvent:
    """One lifecycle step of one physical defect seen by one camera."""

    track_id: int
    kind: EventKind
    reason: EventReason
    class_id: int
    class_name: str
    confidence: float  # best detector score over the track so far
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 in pixels, as measured at box_seq
    box_seq: int  # frame sequence number the box was measured in
    frame_width: int
    frame_height: int
    frame_seq: int  # frame whose processing emitted the event
    ts: float  # that frame's capture time (seconds since the epoch)
    index_in_frame: int  # position among the events emitted for the same frame
    first_seq: int  # first frame the defect was seen in
    first_ts: float
    frames_seen: int  # frames matched with a confident detection
    zone: str | None = None  # first include zone holding the box centre; None without zones
    mask_rle: dict[str, list[int]] | None = None  # COCO uncompressed RLE from the refiner
