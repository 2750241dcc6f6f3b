"""Build the dead letter for a message the collector cannot accept, within the v1 bounds."""

from __future__ import annotations

import base64

from lineinspect.contract.timefmt import format_ts
from lineinspect.contract.v1 import DEADLETTER_MAX_ORIGINAL, DeadLetter, DeadLetterReason

_MAX_REASON = 2048
_MAX_TOPIC = 1024
_MAX_COLLECTOR = 64


def make_dead_letter(
    topic: str,
    payload: bytes,
    reason_code: DeadLetterReason,
    reason: str,
    received_ms: int,
    collector: str | None = None,
) -> DeadLetter:
    """A valid :class:`DeadLetter` for any input: long fields are cut, not rejected, because a
    dead letter that fails validation would lose the evidence it exists to keep."""
    kept = bytes(payload[:DEADLETTER_MAX_ORIGINAL])
    safe_collector = None
    if collector:
        cleaned = "".join(ch for ch in collector if ch.isprintable())[:_MAX_COLLECTOR]
        safe_collector = cleaned or None
    return DeadLetter(
        v=1,
        reason_code=reason_code,
        reason=reason[:_MAX_REASON],
        topic=topic[:_MAX_TOPIC],
        payload_b64=base64.b64encode(kept).decode("ascii"),
        payload_bytes=len(payload),
        truncated=len(payload) > len(kept),
        received_ts=format_ts(received_ms),
        received_ts_ms=received_ms,
        collector=safe_collector,
    )
