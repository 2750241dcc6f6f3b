"""Time-ordered, idempotent message ids: UUIDv7 (RFC 9562).

Python 3.10 (JetPack 6) has no ``uuid.uuid7``, so we generate them here. Layout: 48-bit Unix
time in milliseconds, version 7, then 74 random bits. Within one millisecond (or when the clock
steps back) the generator keeps the previous timestamp and adds one to the random part, so ids
from one generator sort strictly in creation order even as strings (RFC 9562 section 6.2,
method 2 "monotonic random").
"""

from __future__ import annotations

import os
import re
import threading
import time
import uuid
from collections.abc import Callable

UUID7_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"
_UUID7_RE = re.compile(UUID7_PATTERN)

_RAND_BITS = 74
_RAND_MASK = (1 << _RAND_BITS) - 1
_TS_MAX = (1 << 48) - 1


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


def _random74() -> int:
    return int.from_bytes(os.urandom(10), "big") & _RAND_MASK


def compose_uuid7(unix_ms: int, rand74: int) -> uuid.UUID:
    """Assemble a UUIDv7 from its 48-bit millisecond timestamp and 74 random bits."""
    if not 0 <= unix_ms <= _TS_MAX:
        raise ValueError(f"UUIDv7 timestamp must fit in 48 bits, got {unix_ms}")
    if not 0 <= rand74 <= _RAND_MASK:
        raise ValueError("UUIDv7 random part must fit in 74 bits")
    rand_a = rand74 >> 62  # 12 bits
    rand_b = rand74 & ((1 << 62) - 1)
    value = (unix_ms << 80) | (0x7 << 76) | (rand_a << 64) | (0b10 << 62) | rand_b
    return uuid.UUID(int=value)


class Uuid7Generator:
    """Monotonic UUIDv7 source; thread-safe. Clock and randomness are injectable for tests."""

    def __init__(
        self,
        clock_ms: Callable[[], int] = _wall_ms,
        random74: Callable[[], int] = _random74,
    ) -> None:
        self._clock_ms = clock_ms
        self._random74 = random74
        self._lock = threading.Lock()
        self._last_ms = -1
        self._last_rand = 0

    def next(self) -> uuid.UUID:
        with self._lock:
            now = self._clock_ms()
            if now > self._last_ms:
                self._last_ms, self._last_rand = now, self._random74()
            else:
                # Same millisecond, or the wall clock stepped back (NTP): stay on the last
                # timestamp and count up, so order never inverts.
                self._last_rand += 1
                if self._last_rand > _RAND_MASK:
                    self._last_ms, self._last_rand = self._last_ms + 1, 0
            return compose_uuid7(self._last_ms, self._last_rand)

    def next_str(self) -> str:
        return str(self.next())


_default = Uuid7Generator()


def uuid7() -> uuid.UUID:
    """A new UUIDv7 from the process-wide monotonic generator."""
    return _default.next()


def uuid7_str() -> str:
    """A new UUIDv7 as its canonical lower-case 36-character string."""
    return _default.next_str()


def is_uuid7(text: str) -> bool:
    """True if ``text`` is a canonical lower-case UUIDv7 string (RFC 9562 variant)."""
    return bool(_UUID7_RE.fullmatch(text))


def uuid7_unix_ms(value: uuid.UUID | str) -> int:
    """The millisecond Unix timestamp embedded in a UUIDv7."""
    u = uuid.UUID(value) if isinstance(value, str) else value
    if u.version != 7:
        raise ValueError(f"not a UUIDv7 (version {u.version})")
    return u.int >> 80
