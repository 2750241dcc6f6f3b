"""Batching and flow-control sizes, as pure functions (retry delays: ``lineinspect.backoff``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BatchPolicy:
    """A batch is written when it holds ``max_points`` points, when its first message has
    waited ``max_wait_s``, or when no message arrived for ``linger_s`` (the stream paused, or
    the broker stopped sending until it gets acknowledgements)."""

    max_points: int
    max_wait_s: float
    linger_s: float

    def __post_init__(self) -> None:
        if self.max_points < 1 or self.max_wait_s <= 0 or self.linger_s < 0:
            raise ValueError(f"invalid batch policy {self}")

    def next_wait(self, points: int, age_s: float) -> float | None:
        """How long to wait for the next message; ``None``: write now."""
        if points >= self.max_points:
            return None
        left = self.max_wait_s - age_s
        if left <= 0:
            return None
        return min(left, self.linger_s) if self.linger_s > 0 else left


def receive_maximum(batch_points: int) -> int:
    """MQTT 5 Receive Maximum to ask for: room for three batches (two with the settler, one
    filling), within the protocol's 16-bit limit."""
    return max(100, min(65535, 3 * batch_points))
