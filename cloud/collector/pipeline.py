"""The ordered write path: messages in arrival order -> batches -> store -> acknowledgements.

One writer thread takes messages in the order the broker delivered them, writes a batch, and
only then acknowledges the batch's messages, in order. A failed write is retried (same batch,
growing back-off) before anything later is touched, so nothing is skipped or reordered; while
it retries, unacknowledged messages stay the broker's responsibility. Rejected messages are
published to the dead-letter topic and acknowledged only once the broker has the dead letter.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from cloud.collector.counters import Counters
from cloud.collector.intake import Item
from cloud.collector.policy import BatchPolicy, backoff_delay
from cloud.store.points import Point
from cloud.store.writer import BatchTooLarge, PointsRejected, PointWriter, StoreUnavailable
from lineinspect.contract import DeadLetter, make_dead_letter

log = logging.getLogger(__name__)


class Stopping(Exception):
    """Raised inside the writer thread when it must give up on the current batch."""


class PendingPublish(Protocol):
    def is_published(self) -> bool: ...


class Link(Protocol):
    """The MQTT side as the pipeline sees it."""

    def ack(self, item: Item) -> None:
        """Acknowledge ``item`` if the connection it came on is still the current one."""

    def publish_dead_letter(self, dead_letter: DeadLetter) -> PendingPublish: ...


@dataclass(frozen=True)
class PipelineOptions:
    retry_min_s: float = 0.2
    retry_max_s: float = 5.0
    qos0_backlog_limit: int = 20_000
    collector_id: str | None = None


class Pipeline:
    def __init__(
        self,
        writer: PointWriter,
        link: Link,
        policy: BatchPolicy,
        counters: Counters,
        options: PipelineOptions | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        opts = options or PipelineOptions()
        self.collector_id = opts.collector_id
        self._writer = writer
        self._link = link
        self._policy = policy
        self._counters = counters
        self._retry = (opts.retry_min_s, opts.retry_max_s)
        self._qos0_limit = opts.qos0_backlog_limit
        self._clock = clock
        self._queue: queue.SimpleQueue[Item] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._idle = threading.Event()
        self._idle.set()

    # -- producer side (MQTT network thread) ----------------------------------------------------
    def submit(self, item: Item) -> None:
        """Never blocks. QoS 1 messages are bounded by MQTT flow control (Receive Maximum);
        QoS 0 ones are dropped, and counted, while the backlog is over its limit."""
        if item.qos == 0 and self._queue.qsize() >= self._qos0_limit:
            self._counters.add("qos0_dropped")
            return
        self._idle.clear()
        self._queue.put(item)

    # -- life cycle -----------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="collector-writer", daemon=True)
        self._thread.start()

    def stop(self, drain_timeout_s: float = 10.0) -> None:
        """Write and acknowledge what is queued (up to ``drain_timeout_s``), then stop. Whatever
        could not be written stays unacknowledged, so the broker redelivers it."""
        self._idle.wait(drain_timeout_s)
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=drain_timeout_s + 5.0)

    def set_policy(self, policy: BatchPolicy) -> None:
        """Takes effect from the next batch (the link changes it when it falls back to 3.1.1)."""
        self._policy = policy

    @property
    def policy(self) -> BatchPolicy:
        return self._policy

    def wait_idle(self, timeout: float) -> bool:
        return self._idle.wait(timeout)

    # -- writer thread --------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            batch = self._collect()
            if not batch:
                continue
            try:
                self._process(batch)
            except Stopping:
                return
            except Exception:  # keep the thread alive; the batch stays unacknowledged
                log.exception("collector writer failed on a batch of %d messages", len(batch))
                self._stop.set()
                return
            if self._queue.empty():
                self._idle.set()

    def _collect(self) -> list[Item]:
        try:
            first = self._queue.get(timeout=0.2)
        except queue.Empty:
            self._idle.set()
            return []
        batch, points = [first], len(first.points)
        started = self._clock()
        while True:
            wait = self._policy.next_wait(points, self._clock() - started)
            if wait is None:
                break
            try:
                item = self._queue.get(timeout=wait)
            except queue.Empty:
                break
            batch.append(item)
            points += len(item.points)
        return batch

    def _process(self, batch: list[Item]) -> None:
        pending = [(item, self._publish(item.dead_letter)) for item in batch if item.dead_letter]
        points = [p for item in batch for p in item.points]
        if points:
            try:
                self._write(points)
            except PointsRejected as exc:
                log.warning("store rejected a batch (%s); writing its messages one by one", exc)
                for item in batch:
                    if item.points and self._write_alone(item):
                        pending.append((item, self._publish(item.dead_letter)))
            self._counters.add("points_written", len(points))
            self._counters.add("batches")
        for item, waiter in pending:
            self._await_published(waiter)
            assert item.dead_letter is not None
            self._counters.add(f"deadletter_{item.dead_letter.reason_code}")
        for item in batch:
            self._link.ack(item)
        self._counters.add("messages_done", len(batch))

    def _publish(self, dead_letter: DeadLetter | None) -> PendingPublish:
        assert dead_letter is not None
        return self._link.publish_dead_letter(dead_letter)

    def _await_published(self, waiter: PendingPublish) -> None:
        # paho resends an unacknowledged QoS 1 publish after a reconnect, so waiting is enough.
        while not waiter.is_published():
            if self._stop.is_set():
                raise Stopping
            time.sleep(0.01)

    def _write(self, points: Sequence[Point]) -> None:
        """Write with retries until it succeeds; split on 'too large'; raise PointsRejected."""
        attempt = 0
        while True:
            try:
                self._writer.write(points)
                return
            except BatchTooLarge:
                if len(points) == 1:
                    raise PointsRejected("a single point is too large for the store") from None
                half = len(points) // 2
                self._write(points[:half])
                self._write(points[half:])
                return
            except StoreUnavailable as exc:
                delay = backoff_delay(attempt, *self._retry)
                if attempt == 0 or attempt % 10 == 0:
                    log.warning("store write failed (%s); retrying in %.1f s", exc, delay)
                self._counters.add("write_retries")
                attempt += 1
                if self._stop.wait(delay):
                    raise Stopping from None

    def _write_alone(self, item: Item) -> bool:
        """Write one message's points; on rejection turn the item into a dead letter and
        return True."""
        try:
            self._write(item.points)
            return False
        except PointsRejected as exc:
            item.dead_letter = make_dead_letter(
                topic=item.topic,
                payload=item.payload,
                reason_code="store_rejected",
                reason=str(exc),
                received_ms=int(time.time() * 1000),
                collector=self.collector_id,
            )
            item.points = []
            return True
