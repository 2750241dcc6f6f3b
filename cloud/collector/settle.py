"""Settling a batch: judge every message, write the points of the good ones, and say which
ones became dead letters. Runs in the collector's process, or in its worker process
(``settle_process``); either way a batch's answer comes only once its points are stored.

Batches are *submitted* and answered later, in order, so the collector can hand over the next
batch while the previous one is still being written (see ``Pipeline``)."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Protocol

from cloud.collector.counters import Counters
from cloud.collector.intake import Classifier, Verdict
from cloud.store.points import Point
from cloud.store.writer import BatchTooLarge, PointsRejected, PointWriter, StoreUnavailable
from lineinspect.backoff import RetryPolicy, backoff_delay
from lineinspect.contract import DeadLetter, make_dead_letter

log = logging.getLogger(__name__)

Raw = tuple[str, bytes, int]
"""One received message as the settler sees it: topic, payload, receive time (Unix ms)."""


class Stopping(Exception):
    """The collector is stopping while the batch is not stored; nothing of it may be acked."""


class AbortFlag(Protocol):
    """A ``threading.Event`` or a ``multiprocessing`` one."""

    def is_set(self) -> bool: ...

    def set(self) -> None: ...

    def wait(self, timeout: float | None = None) -> bool: ...


class Pending(Protocol):
    """A submitted batch's answer: per message its dead letter or None, once the batch's points
    are stored. ``result`` raises :class:`Stopping` if the settler was aborted first."""

    def done(self) -> bool: ...

    def result(self) -> list[DeadLetter | None]: ...


class Settler(Protocol):
    def submit(self, batch: Sequence[Raw]) -> Pending:
        """Start settling ``batch``; batches are stored in the order they are submitted."""

    def start(self) -> None: ...

    def abort(self) -> None:
        """Give up on a batch that cannot be stored now (the collector is stopping)."""

    def close(self) -> None: ...


def _gather(chunks: list[Future[list[DeadLetter | None]]]) -> list[DeadLetter | None]:
    # Runs on the writer thread after the chunks' own tasks, so every one of them is done.
    out: list[DeadLetter | None] = []
    for chunk in chunks:
        out.extend(chunk.result())
    return out


class LocalSettler:
    def __init__(
        self,
        classifier: Classifier,
        writer: PointWriter,
        counters: Counters,
        retry_s: tuple[float, float],
        aborted: AbortFlag,
        chunk: int = 1000,
    ) -> None:
        self._classifier = classifier
        self._writer = writer
        self._counters = counters
        # Plain doubling, no jitter: what the collector has always done.
        self._retry = RetryPolicy(*retry_s, jitter=0.0)
        self._aborted = aborted
        self._chunk = chunk
        self._writer_thread = ThreadPoolExecutor(1, thread_name_prefix="store-write")

    def start(self) -> None:
        pass

    def abort(self) -> None:
        self._aborted.set()

    def close(self) -> None:
        self._writer_thread.shutdown(wait=True)
        self._writer.close()

    def settle(self, batch: Sequence[Raw]) -> list[DeadLetter | None]:
        return self.submit(batch).result()

    def submit(self, batch: Sequence[Raw]) -> Future[list[DeadLetter | None]]:
        # Judged here in chunks, each written by the one writer thread while the next chunk (or
        # the next batch) is judged: the store's time and ours overlap, the writes keep order.
        classify = self._classifier.classify
        chunks: list[Future[list[DeadLetter | None]]] = []
        for start in range(0, len(batch), self._chunk):
            chunk = batch[start : start + self._chunk]
            verdicts = [classify(topic, payload, ms) for topic, payload, ms in chunk]
            chunks.append(self._writer_thread.submit(self._store, verdicts, chunk))
        return self._writer_thread.submit(_gather, chunks)

    def _store(self, verdicts: list[Verdict], chunk: Sequence[Raw]) -> list[DeadLetter | None]:
        dead = [v.dead_letter for v in verdicts]
        points = [p for v in verdicts for p in v.points]
        if not points:
            return dead
        try:
            self._write(points)
        except PointsRejected as exc:
            log.warning("store rejected a batch (%s); writing its messages one by one", exc)
            for i, (verdict, raw) in enumerate(zip(verdicts, chunk, strict=True)):
                if verdict.points:
                    dead[i] = self._write_alone(verdict, raw)
        self._counters.add("points_written", len(points))
        self._counters.add("batches")
        return dead

    def _write(self, points: Sequence[Point]) -> None:
        """Write with retries until it succeeds; split on 'too large'; raise PointsRejected."""
        attempt = 1
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
                delay = backoff_delay(attempt, self._retry)
                if attempt % 10 == 1:
                    log.warning("store write failed (%s); retrying in %.1f s", exc, delay)
                self._counters.add("write_retries")
                attempt += 1
                if self._aborted.wait(delay):
                    raise Stopping from None

    def _write_alone(self, verdict: Verdict, raw: Raw) -> DeadLetter | None:
        """Write one message's points; if the store rejects them, its dead letter."""
        try:
            self._write(verdict.points)
            return None
        except PointsRejected as exc:
            topic, payload, _ = raw
            return make_dead_letter(
                topic=topic,
                payload=payload,
                reason_code="store_rejected",
                reason=str(exc),
                received_ms=int(time.time() * 1000),
                collector=self._classifier.collector_id,
            )
