"""Turn one received MQTT message into points to store or a dead letter. Never raises: a bad
message is data to report, not a reason for the collector to stop."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from cloud.store.lineprotocol import LineProtocolError
from cloud.store.points import Point
from cloud.store.schema import points_for
from lineinspect.contract import (
    DEADLETTER_TOPIC,
    ContractError,
    DeadLetter,
    make_dead_letter,
    parse_message,
)

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Item:
    """One received message waiting for its batch. ``mid``/``qos``/``link_gen`` say how to
    acknowledge it, and to which connection; it is judged when its batch is settled."""

    mid: int
    qos: int
    link_gen: int
    topic: str
    payload: bytes
    received_ms: int


@dataclass(frozen=True)
class Verdict:
    points: list[Point]
    dead_letter: DeadLetter | None = None


class Classifier:
    def __init__(
        self,
        collector_id: str,
        max_payload_bytes: int,
        deadletter_topic: str = DEADLETTER_TOPIC,
    ) -> None:
        self.collector_id = collector_id
        self.max_payload_bytes = max_payload_bytes
        self._ignored_topics = frozenset({deadletter_topic, DEADLETTER_TOPIC})

    def classify(self, topic: str, payload: bytes, received_ms: int) -> Verdict:
        if topic in self._ignored_topics:
            # Our own output, seen through the wildcard subscription: re-judging it would loop.
            return Verdict([])
        try:
            message = parse_message(topic, payload, self.max_payload_bytes)
            return Verdict(points_for(message, received_ms * 1000))
        except ContractError as exc:
            return self._reject(topic, payload, exc.code, exc.reason, received_ms)
        except LineProtocolError as exc:
            return self._reject(topic, payload, "store_rejected", str(exc), received_ms)
        except Exception as exc:  # a bug must cost one message, not the collector
            log.exception("unexpected error judging a message on %r", topic)
            return self._reject(
                topic, payload, "invalid", f"internal error: {type(exc).__name__}", received_ms
            )

    def _reject(
        self,
        topic: str,
        payload: bytes,
        code: str,
        reason: str,
        received_ms: int,
    ) -> Verdict:
        dl = make_dead_letter(
            topic,
            payload,
            code,  # type: ignore[arg-type]
            reason,
            received_ms,
            self.collector_id,
        )
        return Verdict([], dl)
