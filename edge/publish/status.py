"""Camera status (retained): published when the state, message or model changes, not per frame."""

from __future__ import annotations

import threading
from typing import Literal

from lineinspect.contract import ModelRef, Status, format_ts

CameraState = Literal["up", "down", "reconnecting"]
MAX_MESSAGE = 256


def make_status(
    state: CameraState, now_ms: int, message: str = "", model: ModelRef | None = None
) -> Status:
    """A valid ``Status``; an over-long message is cut rather than rejected (it is free text
    from exceptions and URLs, and the state itself must still get through)."""
    if len(message) > MAX_MESSAGE:
        message = message[: MAX_MESSAGE - 1] + "…"
    return Status(v=1, state=state, ts=format_ts(now_ms), ts_ms=now_ms, model=model,
                  message=message)


class StatusTracker:
    """Remembers the last status per camera and says whether a new one is worth publishing."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: dict[str, tuple[CameraState, str, ModelRef | None]] = {}

    def changed(
        self, camera: str, state: CameraState, message: str, model: ModelRef | None
    ) -> bool:
        key = (state, message, model)
        with self._lock:
            if self._last.get(camera) == key:
                return False
            self._last[camera] = key
            return True

    def last(self, camera: str) -> CameraState | None:
        with self._lock:
            got = self._last.get(camera)
        return got[0] if got is not None else None
