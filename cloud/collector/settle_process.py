"""Settling in a worker process, so one collector uses two cores.

The main process keeps the MQTT side (paho's receive path is a third of the collector's work
per message) and the acknowledgements; the worker judges the messages (contract validation,
line-protocol encoding: the rest) and writes them to the store. Only raw payloads go to the
worker and only dead letters come back, because pickling points would cost as much as making
them.

Nothing can be lost to the worker: a batch is acknowledged only after the worker said it is
stored. Batches are answered in the order they were sent; the collector sends the next one
while the previous is being written, so the worker never waits for the collector's acks. If the
worker dies, it is restarted and given every unanswered batch again, in order (a point written
twice overwrites itself). The worker dies with the collector (``PR_SET_PDEATHSIG`` on
Linux, end of file on its pipe elsewhere), so a killed collector leaves no writer behind.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future
from multiprocessing.connection import Connection
from typing import Any

from cloud.collector.counters import Counters
from cloud.collector.intake import Classifier
from cloud.collector.settle import AbortFlag, LocalSettler, Raw, Stopping
from cloud.settings import CloudSettings
from lineinspect.contract import DeadLetter

log = logging.getLogger(__name__)

_STOPPED = "stopped"
_READY = "ready"
_FAILED = "failed"
START_TIMEOUT_S = 60.0
POLL_S = 0.2
RESTART_DELAY_S = (0.5, 10.0)


def _die_with_parent(parent_pid: int) -> None:
    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)


def worker_main(
    conn: Connection,
    settings: CloudSettings,
    collector_id: str,
    aborted: AbortFlag,
    parent_pid: int,
) -> None:
    """The worker process: settle each batch it is sent and answer, in order, with the dead
    letters and the counters it moved, until it is sent ``None`` or its pipe closes."""
    _die_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle
    from cloud.store.factory import build_writer
    from lineinspect.logsetup import setup_logging

    setup_logging(settings.logging)
    cs = settings.collector
    counters = Counters()
    settler = LocalSettler(
        Classifier(collector_id, cs.max_payload_bytes, cs.deadletter_topic),
        build_writer(settings),
        counters,
        (cs.retry_min_s, cs.retry_max_s),
        aborted,
    )
    reported: dict[str, int] = {}

    def answer(done: Future[list[DeadLetter | None]]) -> None:
        # On the settler's writer thread, once per batch and in order.
        try:
            dead = done.result()
        except Stopping:
            conn.send(_STOPPED)
            return
        except BaseException as exc:
            log.exception("worker failed on a batch")
            conn.send((_FAILED, repr(exc)))
            return
        now = counters.snapshot()
        moved = {k: v - reported.get(k, 0) for k, v in now.items() if v != reported.get(k, 0)}
        reported.update(now)
        conn.send((dead, moved))

    conn.send(_READY)
    try:
        while True:
            try:
                batch = conn.recv()
            except EOFError:
                break
            if batch is None:
                break
            settler.submit(batch).add_done_callback(answer)
    finally:
        settler.close()


class _Answer:
    """The worker's answer to one submitted batch."""

    def __init__(self, owner: ProcessSettler) -> None:
        self._owner = owner
        self.value: list[DeadLetter | None] | None = None
        self.stopped = False

    def done(self) -> bool:
        return self._owner._poll(self)

    def result(self) -> list[DeadLetter | None]:
        return self._owner._wait(self)


class ProcessSettler:
    def __init__(self, settings: CloudSettings, collector_id: str, counters: Counters) -> None:
        self._settings = settings
        self._collector_id = collector_id
        self._counters = counters
        self._ctx = mp.get_context("spawn")  # the collector has threads: never fork it
        self._aborted = self._ctx.Event()
        self._proc: Any = None
        self._conn: Connection | None = None
        self._ready = False
        self._restarts = 0
        # Sent and not yet answered, oldest first; resent in order to a new worker.
        self._unanswered: deque[tuple[_Answer, list[Raw]]] = deque()
        self._lock = threading.Lock()

    # -- life cycle -----------------------------------------------------------------------------
    def start(self) -> None:
        """Start the worker (it imports and connects while the MQTT side starts)."""
        if self._proc is not None and self._proc.is_alive():
            return
        ours, theirs = self._ctx.Pipe(duplex=True)
        self._proc = self._ctx.Process(
            target=worker_main,
            args=(theirs, self._settings, self._collector_id, self._aborted, os.getpid()),
            name="collector-worker",
            daemon=True,
        )
        self._proc.start()
        theirs.close()
        self._conn = ours
        self._ready = False

    def abort(self) -> None:
        self._aborted.set()

    def close(self) -> None:
        proc, conn = self._proc, self._conn
        self._proc = self._conn = None
        if proc is None or conn is None:
            return
        with contextlib.suppress(OSError):
            conn.send(None)
        proc.join(10)
        if proc.is_alive():
            proc.kill()
            proc.join(5)
        conn.close()

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    # -- the pipeline's calls -------------------------------------------------------------------
    def settle(self, batch: Sequence[Raw]) -> list[DeadLetter | None]:
        return self.submit(batch).result()

    def submit(self, batch: Sequence[Raw]) -> _Answer:
        answer = _Answer(self)
        raw = list(batch)
        with self._lock:
            self._unanswered.append((answer, raw))
            try:
                self._send(raw)
            except (EOFError, OSError) as exc:
                self._recover(exc)  # resends everything unanswered, this batch included
        return answer

    def _poll(self, answer: _Answer) -> bool:
        with self._lock:
            try:
                while not self._answered(answer) and self._conn is not None and self._conn.poll(0):
                    self._take_reply()
            except (EOFError, OSError) as exc:
                self._recover(exc)
            return self._answered(answer)

    def _wait(self, answer: _Answer) -> list[DeadLetter | None]:
        with self._lock:
            while not self._answered(answer):
                try:
                    self._take_reply(block=True)
                except (EOFError, OSError) as exc:
                    self._recover(exc)
        if answer.stopped:
            raise Stopping
        assert answer.value is not None
        return answer.value

    # -- under the lock -------------------------------------------------------------------------
    def _answered(self, answer: _Answer) -> bool:
        return answer.value is not None or answer.stopped

    def _send(self, raw: list[Raw]) -> None:
        if self._aborted.is_set():
            raise Stopping
        self.start()
        conn = self._conn
        assert conn is not None
        if not self._ready:
            if self._receive(conn, START_TIMEOUT_S) != _READY:
                raise EOFError("worker did not start")
            self._ready = True
        conn.send(raw)

    def _take_reply(self, block: bool = False) -> None:
        """Read one answer (the oldest unanswered batch's)."""
        conn = self._conn
        if conn is None or not self._ready:
            raise EOFError("no worker")
        reply = self._receive(conn) if block else conn.recv()
        if isinstance(reply, tuple) and reply and reply[0] == _FAILED:
            raise EOFError(f"worker failed: {reply[1]}")  # the batch stays unanswered
        answer, _ = self._unanswered.popleft()
        if reply == _STOPPED:
            answer.stopped = True
            return
        dead, moved = reply
        for name, n in moved.items():
            self._counters.add(name, n)
        self._restarts = 0
        answer.value = list(dead)

    def _receive(self, conn: Connection, timeout: float | None = None) -> Any:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not conn.poll(POLL_S):
            if not self._proc.is_alive():
                raise EOFError(f"worker exited with code {self._proc.exitcode}")
            if deadline is not None and time.monotonic() > deadline:
                raise EOFError("worker did not answer")
        return conn.recv()

    def _recover(self, exc: BaseException) -> None:
        """Replace a dead or failed worker and resend every unanswered batch, in order; if the
        collector is stopping meanwhile, those batches are answered 'stopped' (not acked)."""
        while True:
            self._counters.add("worker_restarts")
            delay = min(RESTART_DELAY_S[1], RESTART_DELAY_S[0] * 2 ** min(self._restarts, 10))
            self._restarts += 1
            log.error("collector worker process failed (%s); restarting it in %.1f s and "
                      "settling %d unanswered batch(es) again", exc, delay,
                      len(self._unanswered))  # fmt: skip
            self._discard_worker()
            try:
                if self._aborted.wait(delay):
                    raise Stopping
                for _, raw in self._unanswered:
                    self._send(raw)
                return
            except Stopping:
                for answer, _ in self._unanswered:
                    answer.stopped = True
                self._unanswered.clear()
                return
            except (EOFError, OSError) as again:
                exc = again

    def _discard_worker(self) -> None:
        proc, conn = self._proc, self._conn
        self._proc = self._conn = None
        self._ready = False
        if proc is not None and proc.is_alive():
            proc.kill()
            proc.join(5)
        if conn is not None:
            conn.close()
