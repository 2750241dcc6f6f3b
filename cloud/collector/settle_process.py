"""Settling in a worker process, so one collector uses two cores.

The main process keeps the MQTT side (paho's receive path is a third of the collector's work
per message) and the acknowledgements; the worker judges the messages (contract validation,
line-protocol encoding: the rest) and writes them to the store. Only raw payloads go to the
worker and only dead letters come back, because pickling points would cost as much as making
them.

Nothing can be lost to the worker: a batch is acknowledged only after the worker said it is
stored. If the worker dies mid-batch, it is restarted and given the same batch again (a point
written twice overwrites itself). The worker dies with the collector (``PR_SET_PDEATHSIG`` on
Linux, end of file on its pipe elsewhere), so a killed collector leaves no writer behind.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing as mp
import os
import signal
import sys
import time
from collections.abc import Sequence
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
    conn: Connection, settings: CloudSettings, collector_id: str, aborted: AbortFlag,
    parent_pid: int,
) -> None:
    """The worker process: settle each batch it is sent, answer with the dead letters and
    the counters it moved, until it is sent ``None`` or its pipe closes."""
    _die_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle
    from cloud.store.factory import build_writer
    from edge.logsetup import setup_logging

    setup_logging(settings.logging)
    cs = settings.collector
    counters = Counters()
    writer = build_writer(settings)
    settler = LocalSettler(
        Classifier(collector_id, cs.max_payload_bytes, cs.deadletter_topic),
        writer,
        counters,
        (cs.retry_min_s, cs.retry_max_s),
        aborted,
    )
    conn.send(_READY)
    try:
        while True:
            try:
                batch = conn.recv()
            except EOFError:
                break
            if batch is None:
                break
            before = counters.snapshot()
            try:
                dead = settler.settle(batch)
            except Stopping:
                conn.send(_STOPPED)
                continue
            moved = {k: v - before.get(k, 0) for k, v in counters.snapshot().items()}
            conn.send((dead, moved))
    finally:
        writer.close()


class ProcessSettler:
    def __init__(self, settings: CloudSettings, collector_id: str, counters: Counters) -> None:
        self._settings = settings
        self._collector_id = collector_id
        self._counters = counters
        self._ctx = mp.get_context("spawn")  # the collector has threads: never fork it
        self._aborted = self._ctx.Event()
        self._proc: Any = None
        self._conn: Connection | None = None
        self._restarts = 0
        self._ready = False

    # -- life cycle -----------------------------------------------------------------------------
    def start(self) -> None:
        """Start the worker (it imports and connects in the background of the MQTT start)."""
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

    # -- the writer thread's call ---------------------------------------------------------------
    def settle(self, batch: Sequence[Raw]) -> list[DeadLetter | None]:
        raw = list(batch)
        while True:
            if self._aborted.is_set():
                raise Stopping
            self.start()
            try:
                reply = self._exchange(raw)
            except (EOFError, OSError) as exc:
                self._worker_died(exc)
                continue
            if reply == _STOPPED:
                raise Stopping
            dead, moved = reply
            for name, n in moved.items():
                if n:
                    self._counters.add(name, n)
            self._restarts = 0
            return list(dead)

    def _exchange(self, batch: list[Raw]) -> Any:
        conn = self._conn
        assert conn is not None
        if not self._ready:
            if self._receive(conn, START_TIMEOUT_S) != _READY:
                raise EOFError("worker did not start")
            self._ready = True
        conn.send(batch)
        return self._receive(conn)

    def _receive(self, conn: Connection, timeout: float | None = None) -> Any:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not conn.poll(POLL_S):
            if not self._proc.is_alive():
                raise EOFError(f"worker exited with code {self._proc.exitcode}")
            if deadline is not None and time.monotonic() > deadline:
                raise EOFError("worker did not answer")
        return conn.recv()

    def _worker_died(self, exc: BaseException) -> None:
        self._counters.add("worker_restarts")
        delay = min(RESTART_DELAY_S[1], RESTART_DELAY_S[0] * 2 ** min(self._restarts, 10))
        self._restarts += 1
        log.error("collector worker process failed (%s); restarting it in %.1f s and "
                  "settling the same batch again", exc, delay)  # fmt: skip
        proc = self._proc
        self._proc = None
        if proc is not None and proc.is_alive():
            proc.kill()
            proc.join(5)
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._aborted.wait(delay):
            raise Stopping from None
