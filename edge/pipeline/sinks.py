"""Where defect events go after the tracker: isolated, non-blocking sinks.

A sink's ``emit`` is called on an inference worker thread (with several workers, for two
cameras at once), so it must return at once and be thread-safe: each sink that does I/O has its
own bounded queue and thread, and a full queue drops (counted) rather than stalling detection.
One failing sink never stops the others (cf. Roboflow Inference's sinks).
"""

from __future__ import annotations

import logging
import queue
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Protocol

from lineinspect.contract import DefectEvent

log = logging.getLogger(__name__)


class EventSink(Protocol):
    name: str

    def emit(self, event: DefectEvent) -> None:
        """Take ``event`` without blocking."""
        ...

    def close(self) -> None:
        """Deliver what is queued, then stop."""
        ...


class JsonlSink:
    """Events as JSON lines to a file or stdout (``-``), written by its own thread."""

    _STOP = object()

    def __init__(self, target: Path | str, maxsize: int = 10_000,
                 on_drop: Callable[[], None] | None = None) -> None:
        self.name = f"jsonl:{target}"
        self.dropped = 0
        self.written = 0
        self._on_drop = on_drop
        self._q: queue.Queue[object] = queue.Queue(maxsize)
        if str(target) == "-":
            self._fh: IO[str] = sys.stdout
            self._owns = False
        else:
            path = Path(target)
            path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = path.open("a", encoding="utf-8")
            self._owns = True
        self._thread = threading.Thread(target=self._run, name="sink-jsonl")
        self._thread.start()

    def emit(self, event: DefectEvent) -> None:
        try:
            self._q.put_nowait(event)
        except queue.Full:
            self.dropped += 1
            if self._on_drop is not None:
                self._on_drop()

    def _run(self) -> None:
        while True:
            item = self._q.get()
            batch = [item]
            while True:  # write everything queued, then flush once
                try:
                    batch.append(self._q.get_nowait())
                except queue.Empty:
                    break
            stop = False
            for it in batch:
                if it is self._STOP:
                    stop = True
                    continue
                assert isinstance(it, DefectEvent)
                self._fh.write(it.model_dump_json(exclude_none=True) + "\n")
                self.written += 1
            self._fh.flush()
            if stop:
                return

    def close(self) -> None:
        self._q.put(self._STOP)
        self._thread.join()
        if self._owns:
            self._fh.close()


class CallbackSink:
    """Hands each event to a function that is itself non-blocking (feeds, publishers)."""

    def __init__(self, name: str, fn: Callable[[DefectEvent], object]) -> None:
        self.name = name
        self._fn = fn

    def emit(self, event: DefectEvent) -> None:
        self._fn(event)

    def close(self) -> None:
        return None


class FanOut:
    """Every sink gets every event; an exception in one is logged and counted, not raised."""

    def __init__(self, sinks: Sequence[EventSink]) -> None:
        self.sinks = list(sinks)
        self.errors = 0

    def emit(self, event: DefectEvent) -> None:
        for s in self.sinks:
            try:
                s.emit(event)
            except Exception:  # a broken sink must not stop detection or the other sinks
                self.errors += 1
                if self.errors <= 10 or self.errors % 1000 == 0:
                    log.exception("sink %s failed (%d errors so far)", s.name, self.errors)

    def close(self) -> None:
        for s in self.sinks:
            try:
                s.close()
            except Exception:
                log.exception("closing sink %s failed", s.name)
