"""What the collector needs from a store: write a batch of points, durably, or say why not."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from cloud.store.points import Point


class WriteError(Exception):
    """The batch was not (or not certainly) written."""


class StoreUnavailable(WriteError):
    """Transient: connection refused/reset, timeout, 5xx, 429, auth or database missing. The
    same batch should be retried after a back-off; nothing about the points is wrong."""


class PointsRejected(WriteError):
    """Permanent for these points: the store parsed the request and refused (some of) the data,
    e.g. a field type conflict. Retrying the same points will fail the same way."""


class BatchTooLarge(WriteError):
    """The request body was too large for the store; write the batch in smaller parts."""


class PointWriter(Protocol):
    def write(self, points: Sequence[Point]) -> None:
        """Return only once every point is durably stored; raise a :class:`WriteError`
        otherwise. Writing a point again is harmless (same identity overwrites)."""

    def close(self) -> None: ...
