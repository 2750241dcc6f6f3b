"""The one timestamp text format of the contract: UTC, millisecond precision, ``Z`` suffix."""

from __future__ import annotations

import functools
import re
from datetime import datetime, timedelta, timezone

TS_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$"
_TS_RE = re.compile(TS_PATTERN)
MAX_EPOCH_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z, the last ISO-8601 4-digit year
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def format_ts(epoch_ms: int) -> str:
    """``1763794391123`` -> ``"2025-11-22T06:53:11.123Z"``."""
    if not 0 <= epoch_ms <= MAX_EPOCH_MS:
        raise ValueError(f"epoch milliseconds out of range: {epoch_ms}")
    dt = _EPOCH + timedelta(milliseconds=epoch_ms)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{epoch_ms % 1000:03d}Z"


@functools.lru_cache(maxsize=1024)
def parse_ts(text: str) -> int:
    """Inverse of :func:`format_ts`; raises ``ValueError`` for anything else.

    Every event is checked with it, and the events of one frame share their ``ts``, hence the
    cache; ``fromisoformat`` rather than ``strptime``, which was a third of a payload's
    validation time."""
    if not _TS_RE.fullmatch(text):
        raise ValueError(f"timestamp {text!r} is not UTC ISO-8601 like 2025-11-22T06:53:11.123Z")
    # The pattern fixed the shape; fromisoformat still rejects impossible dates (Feb 30).
    dt = datetime.fromisoformat(text[:-1]).replace(tzinfo=timezone.utc)
    delta = dt - _EPOCH
    return delta.days * 86_400_000 + delta.seconds * 1000 + delta.microseconds // 1000
