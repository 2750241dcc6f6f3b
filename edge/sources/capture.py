"""One thread per camera that reads its source and keeps only the newest frame.

The thread owns the source: it opens it, paces finite sources at their frame rate, reconnects
live ones with capped exponential backoff and jitter, and reports state changes (up,
reconnecting, down) through ``on_status``. Consumers call :meth:`CaptureThread.get`; a frame not
taken before the next arrives is dropped and counted, so a slow consumer never builds a backlog.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import TracebackType

from edge.sources.frame import (
    EndOfStream,
    Frame,
    FrameSource,
    SourceError,
    SourceOpenError,
    SourceState,
)
from edge.sources.mailbox import LatestMailbox, MailboxClosed
from lineinspect.backoff import RetryPolicy, backoff_delay

log = logging.getLogger(__name__)

StatusCallback = Callable[[SourceState, str], None]
THREAD_PREFIX = "capture-"


@dataclass(frozen=True)
class CaptureStats:
    captured: int  # frames read from the source
    delivered: int  # frames taken by the consumer
    dropped: int  # frames replaced before the consumer took them
    read_errors: int  # failed reads (timeouts, stalls, lost connections, bad data)
    open_failures: int  # failed (re)open attempts
    reconnects: int  # outages that ended with frames flowing again
    state: SourceState | None  # None until the first frame or failure


class CaptureThread:
    """Runs ``source`` on a joinable (non-daemon) thread; see the module docstring.

    ``retry=None`` means the source is not retried: a failure ends the capture (files, folders).
    ``on_status`` runs on the capture thread and must return quickly (enqueue, do not publish).
    """

    def __init__(self, source: FrameSource, camera: str, *, retry: RetryPolicy | None = None,
                 on_status: StatusCallback | None = None, rng: random.Random | None = None,
                 lossless: bool = False) -> None:
        self.camera = camera
        self._source = source
        self._retry = retry
        self._on_status = on_status
        # Recordings read unpaced are processed offline: wait for the consumer instead of
        # replacing frames, so every frame is inspected. Cameras always use newest-wins.
        self._lossless = lossless
        self._rng = rng or random.Random()
        self._mailbox: LatestMailbox[Frame] = LatestMailbox()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=THREAD_PREFIX + camera)
        self._state: SourceState | None = None
        self._end: EndOfStream | None = None
        self._read_errors = 0
        self._open_failures = 0
        self._reconnects = 0

    # -- consumer side --------------------------------------------------------------------------
    def start(self) -> CaptureThread:
        self._thread.start()
        return self

    def get(self, timeout: float | None = None) -> Frame | None:
        """The newest frame, waiting up to ``timeout`` s; None on timeout.

        Raises :class:`EndOfStream` once the capture has ended (end of file, a failure that is
        not retried, or :meth:`close`) and the last frame has been taken.
        """
        try:
            return self._mailbox.get(timeout)
        except MailboxClosed:
            raise self._end or EndOfStream("capture ended") from None

    def frames(self, timeout: float | None = None) -> Iterator[Frame]:
        """Newest frames until the end of the stream; skips timeouts."""
        while True:
            try:
                frame = self.get(timeout)
            except EndOfStream:
                return
            if frame is not None:
                yield frame

    def close(self, timeout: float | None = None) -> bool:
        """Stop and join the thread; True if it ended within ``timeout``.

        The default timeout is the longest the source can block in one call plus a margin, so
        close returns in bounded time even while a camera hangs.
        """
        self._stop.set()
        if self._thread.ident is None:  # never started: end it here so get() does not wait
            self._finish("stopped", None)
            self._mailbox.close()
            return True
        if self._thread.is_alive():
            self._thread.join(self._source.max_block_s + 2.0 if timeout is None else timeout)
        alive = self._thread.is_alive()
        if alive:
            log.error("%s: capture thread did not stop within the timeout", self.camera)
        return not alive

    def stats(self) -> CaptureStats:
        box = self._mailbox
        return CaptureStats(captured=box.posted, delivered=box.delivered, dropped=box.dropped,
                            read_errors=self._read_errors, open_failures=self._open_failures,
                            reconnects=self._reconnects, state=self._state)

    @property
    def state(self) -> SourceState | None:
        return self._state

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def __enter__(self) -> CaptureThread:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- capture thread -------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            self._loop()
        except Exception as exc:  # a bug in a source must end the capture visibly, not silently
            log.exception("%s: capture failed", self.camera)
            self._finish(f"capture failed: {exc!r}", exc)
        finally:
            self._source.close()
            self._mailbox.close()

    def _loop(self) -> None:
        failures = 0  # consecutive, for the backoff
        while not self._stop.is_set():
            try:
                self._source.open()
                ended = self._pump()
            except SourceError as exc:
                self._source.close()
                if self._stop.is_set():  # e.g. a hung read ended by its timeout during close
                    break
                if isinstance(exc, SourceOpenError):
                    self._open_failures += 1
                else:
                    self._read_errors += 1
                if self._retry is None:
                    self._finish(str(exc), exc)
                    return
                if self._state is SourceState.UP:
                    failures = 0
                failures += 1
                delay = backoff_delay(failures, self._retry, self._rng.random())
                self._set_state(SourceState.RECONNECTING, f"{exc}; retrying in {delay:.1f} s")
                log.debug("%s: attempt %d failed, next in %.2f s", self.camera, failures, delay)
                self._stop.wait(delay)
                continue
            self._source.close()
            if ended:
                self._finish("end of stream", None)
                return
        self._finish("stopped", None)

    def _pump(self) -> bool:
        """Deliver frames until the end of the stream (True) or a stop request (False)."""
        source, box, stop = self._source, self._mailbox, self._stop
        fps = source.pace_fps
        period = 1.0 / fps if fps else 0.0
        due = time.monotonic()
        first = True
        while not stop.is_set():
            if period:
                now = time.monotonic()
                if now < due:
                    if stop.wait(due - now):
                        return False
                elif now - due > period:
                    due = now  # fell behind (slow decode): carry on, do not burst to catch up
                due += period
            frame = source.read()
            if frame is None:
                return True
            if first:
                first = False
                if self._state is SourceState.RECONNECTING:
                    self._reconnects += 1
                self._set_state(SourceState.UP,
                                f"{source.description}: {frame.width}x{frame.height}",
                                logging.INFO)
            if self._lossless:
                if not box.put_when_taken(frame, stop):
                    return False
            else:
                box.put(frame)
        return False

    def _finish(self, reason: str, error: BaseException | None) -> None:
        self._end = EndOfStream(reason, error)
        self._set_state(SourceState.DOWN, reason, logging.INFO if error is None else logging.ERROR)

    def _set_state(self, state: SourceState, message: str, level: int = logging.WARNING) -> None:
        if state is self._state:
            return
        self._state = state
        log.log(level, "%s: %s (%s)", self.camera, state.value, message)
        if self._on_status is not None:
            try:
                self._on_status(state, message)
            except Exception:  # a broken listener must not stop the camera
                log.exception("%s: status callback failed", self.camera)
