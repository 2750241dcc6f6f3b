"""Event-level scoring of a tracker against per-frame ground truth.

What a subscriber relies on is "one ``new`` per physical defect", so that is what is scored:

* each ``new`` event is matched, in the frame its box was measured in (``box_seq``), to the
  ground-truth defect of the same class with the highest IoU >= ``min_iou``; if none overlaps
  enough (thin scratches, jittery boxes), to a same-class defect whose box contains the event's box
  centre; otherwise it is a false ``new``;
* a defect is *required* when it is visible in at least ``min_visible_frames`` frames — a defect
  clipped by the frame edge for two frames cannot be asked to pass a three-frame confirmation;
  ``new`` events on defects that are not required count neither for nor against;
* with ``class_aware=False`` the class is ignored in matching (the tracker's own score, when the
  detector names the class wrongly but finds the defect);
* recall = required defects with at least one ``new`` / required defects;
  duplicates per defect = sum over required defects of (``new`` count - 1, if positive) / required.

:func:`lifecycle_errors` checks the event stream's grammar independently of any ground truth.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from edge.track.iou import iou_matrix


class TruthLike(Protocol):
    @property
    def defect_id(self) -> int: ...

    @property
    def class_id(self) -> int: ...

    @property
    def box(self) -> Sequence[float]: ...


class EventLike(Protocol):
    @property
    def track_id(self) -> int: ...

    @property
    def kind(self) -> str: ...

    @property
    def class_id(self) -> int: ...

    @property
    def box(self) -> Sequence[float]: ...

    @property
    def box_seq(self) -> int: ...

    @property
    def frame_seq(self) -> int: ...


@dataclass
class EventScore:
    required: int  # ground-truth defects the tracker must report
    found: int  # required defects with >= 1 matched `new`
    duplicates: int  # extra `new` events on required defects
    false_new: int  # `new` events matching no defect at all
    new_events: int
    missed_ids: list[int] = field(default_factory=list)
    duplicate_ids: list[int] = field(default_factory=list)

    @property
    def recall(self) -> float:
        return self.found / self.required if self.required else 1.0

    @property
    def duplicates_per_defect(self) -> float:
        return self.duplicates / self.required if self.required else 0.0

    def summary(self) -> dict[str, float | int]:
        return {"required": self.required, "found": self.found, "recall": round(self.recall, 4),
                "duplicates": self.duplicates,
                "duplicates_per_defect": round(self.duplicates_per_defect, 4),
                "false_new": self.false_new, "new_events": self.new_events}


def match_event(box: Sequence[float], class_id: int | None, truths: Sequence[TruthLike],
                min_iou: float) -> int | None:
    """``defect_id`` of the ground truth this box belongs to, or ``None``. ``class_id`` None
    matches a defect of any class."""
    same = [t for t in truths if class_id is None or t.class_id == class_id]
    if not same:
        return None
    iou = iou_matrix(np.asarray([box], dtype=np.float64),
                     np.asarray([t.box for t in same], dtype=np.float64))[0]
    best = int(np.argmax(iou))
    if iou[best] >= min_iou:
        return same[best].defect_id
    cx, cy = (box[0] + box[2]) * 0.5, (box[1] + box[3]) * 0.5
    inside = [t for t in same if t.box[0] <= cx <= t.box[2] and t.box[1] <= cy <= t.box[3]]
    if inside:
        return inside[int(np.argmax([iou[same.index(t)] for t in inside]))].defect_id
    return None


def score_events(truth_by_frame: Mapping[int, Sequence[TruthLike]], events: Iterable[EventLike],
                 min_visible_frames: int = 5, min_iou: float = 0.3,
                 class_aware: bool = True, only: Collection[int] | None = None) -> EventScore:
    """``class_aware=False`` scores the tracker alone: a `new` whose box matches a defect
    counts for it whatever class the detector gave it (classification is the detector's mAP).
    ``only`` restricts the required defects (e.g. to :func:`detectable_defects`)."""
    visible: Counter[int] = Counter()
    for truths in truth_by_frame.values():
        visible.update({t.defect_id for t in truths})
    required = {d for d, n in visible.items() if n >= min_visible_frames}
    if only is not None:
        required &= set(only)
    news_per_defect: Counter[int] = Counter()
    false_new = 0
    n_new = 0
    for ev in events:
        if ev.kind != "new":
            continue
        n_new += 1
        d = match_event(ev.box, ev.class_id if class_aware else None,
                        truth_by_frame.get(ev.box_seq, ()), min_iou)
        if d is None:
            false_new += 1
        else:
            news_per_defect[d] += 1
    found = [d for d in required if news_per_defect[d] > 0]
    dups = [d for d in required if news_per_defect[d] > 1]
    return EventScore(
        required=len(required), found=len(found),
        duplicates=sum(news_per_defect[d] - 1 for d in dups), false_new=false_new,
        new_events=n_new, missed_ids=sorted(required - set(found)), duplicate_ids=sorted(dups))


def detectable_defects(truth_by_frame: Mapping[int, Sequence[TruthLike]],
                       detections: Mapping[int, Iterable[tuple[Sequence[float], float]]],
                       min_frames: int, min_iou: float = 0.3) -> set[int]:
    """Defects the detector found (a box of any class matching them) in at least ``min_frames``
    frames: the most any tracker confirming after ``min_frames`` sightings can report.

    ``detections`` maps a frame to its (box, score) pairs already cut at the tracker's
    threshold. Recall over this set is the tracker's own; recall over all defects is the
    pipeline's, bounded by this set's share.
    """
    seen: Counter[int] = Counter()
    for seq, truths in truth_by_frame.items():
        hit = {match_event(box, None, truths, min_iou) for box, _ in detections.get(seq, ())}
        hit.discard(None)
        seen.update(d for d in hit if d is not None)
    return {d for d, n in seen.items() if n >= min_frames}


def lifecycle_errors(events: Iterable[EventLike], closed: bool = False) -> list[str]:
    """Grammar per track: ``new`` once, then ``update``*, then ``end`` at most once (exactly once
    if the stream was ``closed`` by a flush); events come in frame order. ``new`` ids need not
    increase: a track born earlier may be confirmed later than a younger one."""
    state: dict[int, str] = {}
    last_seq: int | None = None
    errors: list[str] = []
    for ev in events:
        where = f"track {ev.track_id} frame {ev.frame_seq}"
        if last_seq is not None and ev.frame_seq < last_seq:
            errors.append(f"{where}: frame order goes back from {last_seq}")
        last_seq = ev.frame_seq
        prev = state.get(ev.track_id)
        if ev.kind == "new":
            if prev is not None:
                errors.append(f"{where}: second `new` (state {prev})")
            state[ev.track_id] = "new"
        elif prev is None:
            errors.append(f"{where}: `{ev.kind}` before `new`")
        elif prev == "end":
            errors.append(f"{where}: `{ev.kind}` after `end`")
        else:
            state[ev.track_id] = "end" if ev.kind == "end" else prev
    if closed:
        errors.extend(f"track {t}: no `end`" for t, st in state.items() if st != "end")
    return errors
