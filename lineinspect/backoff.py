"""Retry delays: capped exponential back-off with optional jitter, as a pure function.

One rule for every retry in the product: a camera reconnecting, the collector probing a broker
it cannot reach, a store write that failed. (paho's own reconnects follow the same doubling,
configured from the same settings by :func:`lineinspect.mqtt.build_client`.)
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    initial_s: float = 0.5
    max_s: float = 30.0
    jitter: float = 0.5  # the delay is drawn from [base * (1 - jitter), base]

    def __post_init__(self) -> None:
        if not (self.initial_s > 0 and self.max_s >= self.initial_s and 0 <= self.jitter < 1):
            raise ValueError(
                f"retry policy needs 0 < initial_s <= max_s and 0 <= jitter < 1, got {self}")


def backoff_delay(attempt: int, policy: RetryPolicy, u: float = 0.0) -> float:
    """Seconds to wait before retry ``attempt`` (1, 2, ...); ``u`` is uniform in [0, 1).

    Jitter spreads the retries of many clients that lost one switch at the same moment, so they
    do not hammer the recovering server in lock-step.
    """
    if attempt < 1:
        raise ValueError(f"attempt counts from 1, got {attempt}")
    base = min(policy.max_s, policy.initial_s * 2.0 ** min(attempt - 1, 64))
    return base * (1.0 - policy.jitter * u)
