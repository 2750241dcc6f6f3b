"""The ordered write path: messages in arrival order -> batches -> settler -> acknowledgements.

One writer thread takes messages in the order the broker delivered them and hands each batch to
the settler (which judges the messages and writes the good ones' points, retrying until they are
stored), and only then acknowledges the batch's messages, in order. While a write is retried,
nothing later is touched, so nothing is skipped or reordered, and unacknowledged messages stay
the broker's responsibility. Rejected messages are published to the dead-letter topic and
acknowledged only once the broker has the dead letter.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from cloud.collector.counters import Counters
from cloud.collector.intake import Item
from cloud.collector.policy import BatchPolicy
from cloud.collector.settle import Pending, Settler, Stopping
from lineinspect.contract import DeadLetter

log = logging.getLogger(__name__)

IN_FLIGHT = 2
"""Batches with the settler at once (see ``policy.receive_maximum``)."""


class PendingPublish(Protocol):
    def is_published(self) -> bool: ...


class Link(Protocol):
    """The MQTT side as the pipeline sees it."""

    def ack(self, item: Item) -> None:
        """Acknowledge ``item`` if the connection it came on is still the current one."""

    def publish_dead_letter(self, dead_letter: DeadLetter) -> PendingPublish: ...


@dataclass(frozen=True)
class PipelineOptions:
    qos0_backlog_limit: int = 20_000


class Pipeline:
    def __init__(
        self,
        settler: Settler,
        link: Link,
        policy: BatchPolicy,
        counters: Counters,
        options: PipelineOptions | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        opts = options or PipelineOptions()
        self._settler = settler
        self._link = link
        self._policy = policy
        self._counters = counters
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
        self._settler.abort()
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
        # Up to IN_FLIGHT batches are with the settler at once: the next one is handed over
        # before the previous one's acks are sent, so the settler never waits for us. Answers
        # (and so acks) come in submission order.
        in_flight: deque[tuple[list[Item], Pending]] = deque()
        try:
            while not self._stop.is_set():
                batch = self._collect(0.0 if in_flight else 0.2)
                if batch:
                    in_flight.append((batch, self._settler.submit([
                        (i.topic, i.payload, i.received_ms) for i in batch
                    ])))  # fmt: skip
                while in_flight and (
                    not batch or len(in_flight) >= IN_FLIGHT or in_flight[0][1].done()
                ):
                    items, pending = in_flight.popleft()
                    self._finish(items, pending.result())
                if not in_flight and self._queue.empty():
                    self._idle.set()
        except Stopping:
            return
        except Exception:  # the batches in flight stay unacknowledged; the broker keeps them
            log.exception("collector writer failed")
            self._stop.set()

    def _collect(self, wait_first_s: float) -> list[Item]:
        try:
            if wait_first_s > 0:
                first = self._queue.get(timeout=wait_first_s)
            else:
                first = self._queue.get_nowait()
        except queue.Empty:
            return []
        # Sized in messages: each stored message is one point (stats, events, alarms).
        batch = [first]
        started = self._clock()
        while True:
            wait = self._policy.next_wait(len(batch), self._clock() - started)
            if wait is None:
                break
            try:
                item = self._queue.get(timeout=wait)
            except queue.Empty:
                break
            batch.append(item)
        return batch

    def _finish(self, batch: list[Item], dead: list[DeadLetter | None]) -> None:
        pending = [(dl, self._link.publish_dead_letter(dl)) for dl in dead if dl is not None]
        for dl, waiter in pending:
            self._await_published(waiter)
            self._counters.add(f"deadletter_{dl.reason_code}")
        for item in batch:
            self._link.ack(item)
        self._counters.add("messages_done", len(batch))

    def _await_published(self, waiter: PendingPublish) -> None:
        # paho resends an unacknowledged QoS 1 publish after a reconnect, so waiting is enough.
        while not waiter.is_published():
            if self._stop.is_set():
                raise Stopping
            time.sleep(0.01)
