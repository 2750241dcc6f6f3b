"""Payload models of the v1 MQTT contract.

Strict on purpose: unknown fields, wrong JSON types ("0.9" for a number), NaN/Infinity,
inconsistent boxes/masks/timestamps are all rejected, so a subscriber can trust every field of
a message that parsed. Any change to a field (even adding an optional one) is a new schema
version, because v1 consumers reject fields they do not know.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    model_serializer,
    model_validator,
)

from lineinspect.contract.errors import ContractErrorCode
from lineinspect.contract.ids import UUID7_PATTERN
from lineinspect.contract.timefmt import MAX_EPOCH_MS, TS_PATTERN, parse_ts
from lineinspect.contract.topics import ID_PATTERN

SCHEMA_VERSION = 1
MAX_FRAME_DIM = 8192
MAX_MASK_RUNS = 32768
# A store can place event i of a frame at ts_ms + i microseconds and stay inside the millisecond.
MAX_EVENTS_PER_FRAME = 1000
BOX_NORM_TOLERANCE = 1e-3
MAX_COUNT = 2**53 - 1  # largest integer every JSON consumer (JavaScript included) reads exactly

Id = Annotated[str, Field(pattern=ID_PATTERN, min_length=1, max_length=64)]
Label = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$")]
StageName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
Uuid7 = Annotated[str, Field(pattern=UUID7_PATTERN, description="UUIDv7, lower-case")]
EpochMs = Annotated[int, Field(ge=0, le=MAX_EPOCH_MS, description="Unix time, milliseconds")]
TsText = Annotated[
    str, Field(pattern=TS_PATTERN, description="UTC ISO-8601, ms, e.g. 2025-11-22T06:53:11.123Z")
]
Count = Annotated[int, Field(ge=0, le=MAX_COUNT)]
Pixel = Annotated[float, Field(ge=0.0, le=MAX_FRAME_DIM)]
Unit = Annotated[float, Field(ge=0.0, le=1.0)]
Severity = Literal["low", "medium", "high"]
Version = Annotated[Literal[1], Field(description="schema version of this payload")]


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


def _check_ts(ts: str, ts_ms: int) -> None:
    if parse_ts(ts) != ts_ms:
        raise ValueError(f"ts {ts} and ts_ms {ts_ms} name different instants")


class BoxPx(_Payload):
    """Axis-aligned box in pixels of the full frame; x2/y2 exclusive."""

    x1: Pixel
    y1: Pixel
    x2: Pixel
    y2: Pixel

    @model_validator(mode="after")
    def _ordered(self) -> BoxPx:
        if self.x2 < self.x1 or self.y2 < self.y1:
            raise ValueError("box must have x1 <= x2 and y1 <= y2")
        return self

    def normalised(self, frame: FrameSize) -> BoxNorm:
        """The box divided by the frame size, clamped to 0..1 against float rounding."""
        w, h = frame.width, frame.height
        return BoxNorm(
            x1=min(self.x1 / w, 1.0),
            y1=min(self.y1 / h, 1.0),
            x2=min(self.x2 / w, 1.0),
            y2=min(self.y2 / h, 1.0),
        )


class BoxNorm(_Payload):
    """The same box divided by frame width/height (0..1)."""

    x1: Unit
    y1: Unit
    x2: Unit
    y2: Unit

    @model_validator(mode="after")
    def _ordered(self) -> BoxNorm:
        if self.x2 < self.x1 or self.y2 < self.y1:
            raise ValueError("box_norm must have x1 <= x2 and y1 <= y2")
        return self


class FrameSize(_Payload):
    width: Annotated[int, Field(ge=1, le=MAX_FRAME_DIM)]
    height: Annotated[int, Field(ge=1, le=MAX_FRAME_DIM)]


class MaskRle(_Payload):
    """COCO uncompressed RLE of the full frame: run lengths in column-major order, zeros first."""

    size: Annotated[
        list[Annotated[int, Field(ge=1, le=MAX_FRAME_DIM)]],
        Field(min_length=2, max_length=2, description="[height, width]"),
    ]
    counts: Annotated[list[Count], Field(max_length=MAX_MASK_RUNS)]

    @model_validator(mode="after")
    def _covers_frame(self) -> MaskRle:
        total = sum(self.counts)
        if total != self.size[0] * self.size[1]:
            raise ValueError(
                f"mask counts sum to {int(total)}, expected height*width = "
                f"{self.size[0] * self.size[1]}"
            )
        return self

    def area(self) -> int:
        return sum(self.counts[1::2])


class ModelRef(_Payload):
    name: Label
    version: Label
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$", description="of the model file")]


# Optional sizes of a refined update; left out of the JSON when absent (see DefectEvent).
REFINED_SIZE_FIELDS = ("length_px", "width_px", "length_mm", "width_mm")


class DefectEvent(_Payload):
    """One lifecycle step of one physical defect: ``new`` once, ``update`` on material change,
    ``end`` once when it leaves the view. Topic ``.../{camera}/events``, QoS 1, not retained."""

    v: Version
    event_id: Uuid7
    defect_id: Annotated[str, Field(pattern=UUID7_PATTERN, description="event_id of the `new`")]
    kind: Literal["new", "update", "end"]
    ts: TsText
    ts_ms: EpochMs
    site: Id
    line: Id
    station: Id
    camera: Id
    track_id: Count
    frame_seq: Count
    index_in_frame: Annotated[
        int,
        Field(
            ge=0,
            le=MAX_EVENTS_PER_FRAME - 1,
            description="0-based, unique among the events one camera emits for one frame",
        ),
    ]
    class_name: Label
    class_id: Annotated[int, Field(ge=0, le=65535)]
    confidence: Unit
    severity: Severity
    zone: Label | None = None
    box: BoxPx
    box_norm: BoxNorm
    frame: FrameSize
    mask: MaskRle | None = None
    area_px: Annotated[float, Field(ge=0.0, le=float(MAX_FRAME_DIM * MAX_FRAME_DIM))]
    area_mm2: Annotated[float, Field(ge=0.0, le=1e12)] | None = None
    refined: bool = False
    model: ModelRef
    length_px: Annotated[
        float, Field(ge=0.0, le=2.0 * MAX_FRAME_DIM,
                     description="refined: long side of the mask's minimum-area rectangle")
    ] | None = None
    width_px: Annotated[
        float, Field(ge=0.0, le=2.0 * MAX_FRAME_DIM,
                     description="refined: short side of that rectangle")
    ] | None = None
    length_mm: Annotated[
        float, Field(ge=0.0, le=1e6, description="refined, calibrated camera: length_px on "
                     "the belt plane")
    ] | None = None
    width_mm: Annotated[
        float, Field(ge=0.0, le=1e6, description="refined, calibrated camera: width_px on "
                     "the belt plane")
    ] | None = None

    @model_serializer(mode="wrap")
    def _omit_absent_sizes(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # The sizes came after the first v1 receivers, which reject unknown keys: an event
        # that has no sizes is sent without the keys, byte for byte what those receivers parse.
        data: dict[str, Any] = handler(self)
        for key in REFINED_SIZE_FIELDS:
            if key in data and data[key] is None:
                del data[key]
        return data

    @model_validator(mode="after")
    def _consistent(self) -> DefectEvent:
        _check_ts(self.ts, self.ts_ms)
        if (self.kind == "new") != (self.defect_id == self.event_id):
            raise ValueError("defect_id must equal event_id exactly when kind is 'new'")
        w, h = self.frame.width, self.frame.height
        b, n = self.box, self.box_norm
        if b.x2 > w or b.y2 > h:
            raise ValueError(f"box {b.x1},{b.y1},{b.x2},{b.y2} exceeds frame {w}x{h}")
        for got, want in ((n.x1, b.x1 / w), (n.y1, b.y1 / h), (n.x2, b.x2 / w), (n.y2, b.y2 / h)):
            if abs(got - want) > BOX_NORM_TOLERANCE:
                raise ValueError("box_norm does not equal box divided by frame size")
        if self.mask is not None:
            if self.mask.size != [h, w]:
                raise ValueError(
                    f"mask size {self.mask.size} must equal [frame.height, "
                    f"frame.width] = [{h}, {w}]"
                )
            if self.area_px != self.mask.area():
                raise ValueError(
                    f"area_px {self.area_px} must equal the mask area {self.mask.area()}"
                )
        elif self.area_px > w * h:
            raise ValueError("area_px exceeds the frame area")
        return self


class Alarm(_Payload):
    """PLC alarm state of one camera. Topic ``.../{camera}/alarm``, QoS 1, retained."""

    v: Version
    active: bool
    code: Annotated[int, Field(ge=0, le=65535, description="0 when inactive")]
    class_name: Label | None = None
    severity: Severity | None = None
    zone: Label | None = None
    event_id: Uuid7 | None = None
    count: Annotated[int, Field(ge=0, le=MAX_COUNT, description="defects since it went active")]
    cleared_by: Literal["ack", "timeout", "startup"] | None = None
    ts: TsText
    ts_ms: EpochMs

    @model_validator(mode="after")
    def _consistent(self) -> Alarm:
        _check_ts(self.ts, self.ts_ms)
        if self.active:
            if self.code == 0 or self.count == 0:
                raise ValueError("an active alarm needs code >= 1 and count >= 1")
            if self.class_name is None or self.severity is None or self.event_id is None:
                raise ValueError("an active alarm needs class_name, severity and event_id")
            if self.cleared_by is not None:
                raise ValueError("an active alarm has no cleared_by")
        else:
            if self.code != 0 or self.count != 0:
                raise ValueError("an inactive alarm has code 0 and count 0")
            if self.cleared_by is None:
                raise ValueError("an inactive alarm names cleared_by (ack, timeout or startup)")
        return self


class AlarmPlain(_Payload):
    """Plain-mode alarm: the payload is the single character ``1`` (active) or ``0``."""

    active: bool

    def to_bytes(self) -> bytes:
        return b"1" if self.active else b"0"


class AlarmAck(_Payload):
    """Acknowledge the latched alarm. Topic ``.../{camera}/alarm/ack``, QoS 1, never retained.
    The plain payloads ``1`` and ``ack`` are accepted as ``{"v": 1}``."""

    v: Version
    event_id: Annotated[
        Uuid7 | None, Field(description="if set, ack only while this event's alarm is latched")
    ] = None
    by: Label | None = None
    ts_ms: EpochMs | None = None


class Status(_Payload):
    """Camera pipeline state. Topic ``.../{camera}/status``, QoS 1, retained."""

    v: Version
    state: Literal["up", "down", "reconnecting"]
    ts: TsText
    ts_ms: EpochMs
    model: ModelRef | None = None
    message: Annotated[str, Field(max_length=256)] = ""

    @model_validator(mode="after")
    def _consistent(self) -> Status:
        _check_ts(self.ts, self.ts_ms)
        return self


class LatencyMs(_Payload):
    p50: Annotated[float, Field(ge=0.0, le=3.6e6)]
    p99: Annotated[float, Field(ge=0.0, le=3.6e6)]

    @model_validator(mode="after")
    def _ordered(self) -> LatencyMs:
        if self.p99 < self.p50:
            raise ValueError("p99 must be >= p50")
        return self


class Stats(_Payload):
    """Counters over the interval ending at ``ts``. Topic ``.../{camera}/stats``, QoS 0."""

    v: Version
    ts: TsText
    ts_ms: EpochMs
    interval_s: Annotated[float, Field(gt=0.0, le=86400.0)]
    frames_inspected: Count
    parts_seen: Count
    defects_by_class: Annotated[dict[Label, Count], Field(max_length=256)]
    fps: Annotated[float, Field(ge=0.0, le=10000.0)]
    latency_ms: Annotated[dict[StageName, LatencyMs], Field(max_length=32)]
    drops: Annotated[dict[StageName, Count], Field(max_length=32)]
    outbox_backlog: Count

    @model_validator(mode="after")
    def _consistent(self) -> Stats:
        _check_ts(self.ts, self.ts_ms)
        return self


class Availability(_Payload):
    """Station agent liveness: the plain text ``online`` or ``offline`` (also the last will).
    Topic ``lineinspect/v1/{site}/{line}/{station}/availability``, QoS 1, retained."""

    state: Literal["online", "offline"]

    def to_bytes(self) -> bytes:
        return self.state.encode()


DEADLETTER_MAX_ORIGINAL = 65536

# Every way a message fails the contract, plus the one the store adds.
DeadLetterReason = Literal[ContractErrorCode, "store_rejected"]


class DeadLetter(_Payload):
    """A message the collector could not accept. Topic ``lineinspect/v1/_deadletter``, QoS 1."""

    v: Version
    reason_code: DeadLetterReason
    reason: Annotated[str, Field(max_length=2048)]
    topic: Annotated[str, Field(max_length=1024, description="original topic, maybe truncated")]
    payload_b64: Annotated[
        str,
        Field(
            max_length=4 * ((DEADLETTER_MAX_ORIGINAL + 2) // 3),
            pattern=r"^[A-Za-z0-9+/]*={0,2}$",
            description=f"base64 of the first {DEADLETTER_MAX_ORIGINAL} bytes of the payload",
        ),
    ]
    payload_bytes: Count
    truncated: bool
    received_ts: TsText
    received_ts_ms: EpochMs
    collector: Label | None = None

    @model_validator(mode="after")
    def _consistent(self) -> DeadLetter:
        _check_ts(self.received_ts, self.received_ts_ms)
        return self


JSON_PAYLOADS: tuple[type[_Payload], ...] = (
    DefectEvent,
    Alarm,
    AlarmAck,
    Status,
    Stats,
    DeadLetter,
)
