"""What every frame source hands out, and the small interface they share.

Time stamps: ``ts_ns`` is wall-clock UTC in integer nanoseconds since the Unix epoch
(``time.time_ns()``), for event and wire time stamps; ``mono_ns`` is ``time.monotonic_ns()`` at the
same instant, for latency maths (wall clocks jump under NTP, monotonic clocks do not). Both are
taken when the frame is handed out by the source: for a live camera that is when it was decoded
on arrival, not the camera's own exposure time, which RTSP does not give us reliably.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, Protocol

import numpy as np

from edge.clock import SYSTEM_CLOCK, Clock


class SourceState(str, Enum):
    """Camera state; the values are the wire contract's ``Status.state`` literals."""

    UP = "up"
    RECONNECTING = "reconnecting"
    DOWN = "down"


class SourceError(Exception):
    """A source failed; the message names the source and what went wrong."""


class SourceOpenError(SourceError):
    """The source could not be opened (missing file, unreachable camera, no device)."""


class SourceReadError(SourceError):
    """An opened source stopped giving frames (read timeout, stall, lost connection)."""


class EndOfStream(Exception):
    """The capture has ended and every frame it produced has been taken.

    ``reason`` says why (end of file, stopped, a failure); ``error`` is set when it was a failure.
    """

    def __init__(self, reason: str, error: BaseException | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.error = error


@dataclass(slots=True, eq=False)
class Frame:
    image: np.ndarray  # BGR uint8, (height, width, 3), at the source's own size
    seq: int  # per camera, starts at 0, +1 per frame handed out, never reset by reconnects/loops
    ts_ns: int  # wall clock, UTC epoch nanoseconds
    mono_ns: int  # monotonic clock, nanoseconds, same instant as ts_ns
    truth: Sequence[Any] | None = None  # ground truth, only from the synthetic source

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    @property
    def ts_ms(self) -> int:
        return self.ts_ns // 1_000_000


class Stamper:
    """Numbers and time-stamps frames. One per camera, so ``seq`` survives reconnects and loops."""

    __slots__ = ("_clock", "_seq")

    def __init__(self, clock: Clock = SYSTEM_CLOCK) -> None:
        self._clock = clock
        self._seq = -1

    def stamp(self, image: np.ndarray, truth: Sequence[Any] | None = None) -> Frame:
        self._seq += 1
        return Frame(image, self._seq, self._clock.wall_ns(), self._clock.mono_ns(), truth)


class FrameSource(Protocol):
    """One camera or recording. All methods are called from one thread (the capture thread).

    ``open`` raises :class:`SourceOpenError`; ``read`` returns the next frame, ``None`` at the end
    of a finite stream, or raises :class:`SourceReadError`; ``close`` is idempotent and never
    raises. A closed source can be opened again (that is how reconnecting works).
    """

    @property
    def description(self) -> str:
        """Human-readable name for logs and status messages (credentials removed)."""
        ...

    @property
    def pace_fps(self) -> float | None:
        """Rate the capture thread should deliver at (files, synthetic); ``None`` for cameras."""
        ...

    @property
    def max_block_s(self) -> float:
        """Longest a single ``open`` or ``read`` call may block; bounds shutdown time."""
        ...

    def open(self) -> None: ...

    def read(self) -> Frame | None: ...

    def close(self) -> None: ...
