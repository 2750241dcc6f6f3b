"""Which detections go to the refiner, and the severity of a measured defect.

Pure rules (:func:`wanted`, :func:`better_view`, :func:`severity_from_size`) and the small
per-camera state that applies them (:class:`Flagger`), owned by the camera's pipeline thread.

A track is refined only once it is announced (its ``new`` went out, so the refined ``update``
has a ``defect_id`` to carry), once per track, and again only for a clearly better view (score
up by ``better_view.score_margin`` or box area up by ``better_view.area_factor``), at most
``better_view.max_per_track`` times. A crop that the queue drops still counts as that track's
look: under a storm, re-trying every dropped track would only feed the storm.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from edge.detect.types import Detections
from edge.refine.measure import Measurement
from edge.refine.settings import BetterView, RefineSettings, SizeRule, SizeThresholds
from lineinspect.contract import DefectEvent
from lineinspect.contract.v1 import Severity

_LEVELS: tuple[Severity, ...] = ("low", "medium", "high")


@dataclass(slots=True)
class TrackInfo:
    """What the pipeline knows of an announced track, from its own wire events."""

    defect_id: str
    class_name: str
    class_id: int
    zone: str | None
    confidence: float  # best score reported so far
    refined: int = 0  # crops queued for it
    last_score: float = 0.0  # of the last crop queued
    last_area: float = 0.0


def wanted(class_name: str, zone: str | None, score: float, s: RefineSettings) -> bool:
    """Is a detection of this class, zone and score one the station refines at all?"""
    if class_name not in s.classes or score < s.min_score:
        return False
    return s.zones is None or (zone is not None and zone in s.zones)


def better_view(score: float, area: float, info: TrackInfo, bv: BetterView) -> bool:
    """First look always; later ones only if clearly better, and not past the per-track cap."""
    if info.refined == 0:
        return True
    if info.refined >= bv.max_per_track:
        return False
    return score >= info.last_score + bv.score_margin or area >= info.last_area * bv.area_factor


def _level(value: float | None, th: SizeThresholds) -> int | None:
    if value is None or (th.medium is None and th.high is None):
        return None
    if th.high is not None and value >= th.high:
        return 2
    if th.medium is not None and value >= th.medium:
        return 1
    return 0


def severity_from_size(class_name: str, m: Measurement, rules: dict[str, SizeRule],
                       fallback: Severity) -> Severity:
    """The class's size rule applied to ``m``: millimetre thresholds when ``m`` has millimetres
    and the rule sets any, else the pixel ones; ``fallback`` when no rule or threshold applies."""
    rule = rules.get(class_name)
    if rule is None:
        return fallback
    mm = [(m.area_mm2, rule.area_mm2), (m.length_mm, rule.length_mm)]
    use_mm = m.area_mm2 is not None and any(
        t.medium is not None or t.high is not None for _, t in mm)
    pairs = mm if use_mm else [(float(m.area_px), rule.area_px), (m.length_px, rule.length_px)]
    levels = [lv for v, t in pairs if (lv := _level(v, t)) is not None]
    return _LEVELS[max(levels)] if levels else fallback


class Flagger:
    """Per camera, on its pipeline thread: learns announced tracks from the wire events and
    picks the detections of a frame worth a refinement."""

    def __init__(self, settings: RefineSettings) -> None:
        self.settings = settings
        self._tracks: dict[int, TrackInfo] = {}

    @property
    def tracks(self) -> int:
        return len(self._tracks)

    def observe(self, events: Iterable[DefectEvent]) -> None:
        for ev in events:
            if ev.kind == "new":
                self._tracks[ev.track_id] = TrackInfo(ev.defect_id, ev.class_name, ev.class_id,
                                                      ev.zone, ev.confidence)
            elif ev.kind == "end":
                self._tracks.pop(ev.track_id, None)
            else:
                info = self._tracks.get(ev.track_id)
                if info is not None:
                    info.confidence = max(info.confidence, ev.confidence)

    def select(self, det: Detections, track_ids: np.ndarray) -> list[tuple[int, TrackInfo]]:
        """Indices into ``det`` to refine now, with their track; marks them as looked at."""
        if not self._tracks or track_ids.shape[0] == 0:
            return []
        s = self.settings
        out: list[tuple[int, TrackInfo]] = []
        for i in np.flatnonzero(track_ids >= 0).tolist():
            info = self._tracks.get(int(track_ids[i]))
            if info is None:  # not announced yet (or just ended)
                continue
            score = float(det.score[i])
            x1, y1, x2, y2 = (float(v) for v in det.xyxy[i])
            area = max(0.0, x2 - x1) * max(0.0, y2 - y1)
            if area <= 0.0 or not wanted(info.class_name, info.zone, score, s):
                continue
            if not better_view(score, area, info, s.better_view):
                continue
            info.refined += 1
            info.last_score, info.last_area = score, area
            out.append((i, info))
            if len(out) >= s.max_per_frame:
                break
        return out
