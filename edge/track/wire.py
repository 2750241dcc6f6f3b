"""Tracker events → v1 wire events (``lineinspect.contract.DefectEvent``).

:func:`to_wire` is pure: every id is passed in. :class:`WireConverter` is the stateful part a
camera pipeline uses: it draws a UUIDv7 per event and remembers, per track, the ``event_id`` of
its ``new`` — the ``defect_id`` every later ``update``/``end`` of that defect carries.
"""

from __future__ import annotations

from dataclasses import dataclass

from edge.track.events import TrackEvent
from edge.track.settings import SeveritySettings
from lineinspect.contract import (
    BoxPx,
    DefectEvent,
    FrameSize,
    MaskRle,
    ModelRef,
    Severity,
    Uuid7Generator,
    format_ts,
)

_LEVELS: tuple[Severity, ...] = ("low", "medium", "high")


@dataclass(frozen=True, slots=True)
class WireContext:
    """Everything about the camera an event needs besides the tracker's own record."""

    site: str
    line: str
    station: str
    camera: str
    model: ModelRef
    severity: SeveritySettings
    mm_per_px: float | None = None


@dataclass(frozen=True, slots=True)
class RefinedSizes:
    """A refinement's measurements (``edge.refine.measure``), overriding what ``to_wire``
    derives from the box: the mask's pixel area (used as ``area_px`` when the mask itself is
    left out of the message), millimetres from the camera's calibration, and the size rules'
    severity."""

    area_px: float
    severity: Severity
    area_mm2: float | None = None
    length_px: float | None = None
    width_px: float | None = None
    length_mm: float | None = None
    width_mm: float | None = None


def severity_of(class_name: str, area_px: float, area_mm2: float | None,
                settings: SeveritySettings) -> Severity:
    """The class's base level, one step up (capped at ``high``) for a large defect."""
    base = settings.by_class.get(class_name, settings.default)
    if settings.escalate_area_mm2 is not None and area_mm2 is not None:
        large = area_mm2 >= settings.escalate_area_mm2
    elif settings.escalate_area_px is not None:
        large = area_px >= settings.escalate_area_px
    else:
        large = False
    level = _LEVELS.index(base) + (1 if large else 0)
    return _LEVELS[min(level, len(_LEVELS) - 1)]


def to_wire(ev: TrackEvent, ctx: WireContext, event_id: str, defect_id: str,
            sizes: RefinedSizes | None = None) -> DefectEvent:
    """Build the wire event; ``defect_id`` must equal ``event_id`` for ``new`` (contract rule).
    With ``sizes`` (a refiner's update) the event is ``refined`` and carries its measurements."""
    w, h = ev.frame_width, ev.frame_height
    frame = FrameSize(width=w, height=h)
    x1, y1, x2, y2 = ev.box
    # The detector's boxes are clipped already; clamp again so float rounding at the frame edge
    # can never make a valid defect an invalid message.
    box = BoxPx(x1=min(max(x1, 0.0), w), y1=min(max(y1, 0.0), h),
                x2=min(max(x2, 0.0), w), y2=min(max(y2, 0.0), h))
    mask = None
    if ev.mask_rle is not None:
        mask = MaskRle(size=list(ev.mask_rle["size"]), counts=list(ev.mask_rle["counts"]))
        area_px = float(mask.area())
    else:
        area_px = (box.x2 - box.x1) * (box.y2 - box.y1)
    area_mm2 = area_px * ctx.mm_per_px**2 if ctx.mm_per_px is not None else None
    severity = severity_of(ev.class_name, area_px, area_mm2, ctx.severity)
    refined = mask is not None
    lengths: dict[str, float | None] = {}
    if sizes is not None:
        if mask is None:  # with a mask the contract wants area_px == its area, as computed
            area_px = min(float(sizes.area_px), float(w * h))
        area_mm2, severity, refined = sizes.area_mm2, sizes.severity, True
        lengths = {"length_px": sizes.length_px, "width_px": sizes.width_px,
                   "length_mm": sizes.length_mm, "width_mm": sizes.width_mm}
    ts_ms = round(ev.ts * 1000.0)
    return DefectEvent(
        v=1, event_id=event_id, defect_id=defect_id, kind=ev.kind,
        ts=format_ts(ts_ms), ts_ms=ts_ms,
        site=ctx.site, line=ctx.line, station=ctx.station, camera=ctx.camera,
        track_id=ev.track_id, frame_seq=ev.frame_seq, index_in_frame=ev.index_in_frame,
        class_name=ev.class_name, class_id=ev.class_id,
        confidence=min(max(float(ev.confidence), 0.0), 1.0),
        severity=severity, zone=ev.zone, box=box, box_norm=box.normalised(frame),
        frame=frame, mask=mask, area_px=area_px, area_mm2=area_mm2, refined=refined,
        model=ctx.model, **lengths,
    )


class WireConverter:
    """Per-camera: assigns ids and keeps ``track_id → defect_id`` until the track's ``end``."""

    def __init__(self, ctx: WireContext, ids: Uuid7Generator | None = None) -> None:
        self.ctx = ctx
        self._ids = ids if ids is not None else Uuid7Generator()
        self._defects: dict[int, str] = {}

    @property
    def open_defects(self) -> int:
        return len(self._defects)

    def convert(self, ev: TrackEvent) -> DefectEvent:
        event_id = self._ids.next_str()
        if ev.kind == "new":
            if ev.track_id in self._defects:
                raise ValueError(f"second `new` for track {ev.track_id} on camera "
                                 f"{self.ctx.camera}")
            defect_id = event_id
        else:
            found = self._defects.get(ev.track_id)
            if found is None:
                raise ValueError(f"`{ev.kind}` for track {ev.track_id} on camera "
                                 f"{self.ctx.camera}, which has no `new`")
            defect_id = found
        wire = to_wire(ev, self.ctx, event_id, defect_id)
        # Remember only once the event validated, so a rejected `new` does not leave a defect
        # id that no subscriber ever saw.
        if ev.kind == "new":
            self._defects[ev.track_id] = event_id
        elif ev.kind == "end":
            del self._defects[ev.track_id]
        return wire
