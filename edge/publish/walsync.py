"""Disk work of the outbox that must not run on the publisher's worker thread."""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from pathlib import Path

log = logging.getLogger(__name__)


class BackgroundSync:
    """Keeps the outbox's disk work off the worker thread, so an alarm never waits for it:

    * with ``fsync`` (``synchronous=normal``): fsyncs the WAL every ``interval`` s while there
      are new commits, bounding what a power cut can take to one interval (fsync only makes
      more of what SQLite wrote durable; its recovery keeps the longest valid prefix of
      commits);
    * always: checkpoints the WAL into the database from its own connection once the WAL
      passes ``checkpoint_bytes`` (the worker's connection has auto-checkpoint off, because a
      checkpoint fsyncs and, under I/O contention, took hundreds of ms in line).
    """

    def __init__(
        self, db_path: Path, interval: float, fsync: bool, checkpoint_bytes: int = 4 << 20
    ) -> None:
        if interval <= 0:
            raise ValueError("interval must be > 0")
        self.db_path = db_path
        self.wal = Path(f"{db_path}-wal")
        self.interval = interval
        self.fsync = fsync
        self.checkpoint_bytes = checkpoint_bytes
        self.syncs = 0
        self.checkpoints = 0
        self._dirty = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="outbox-sync", daemon=True)
        self._thread.start()

    def mark(self) -> None:
        self._dirty.set()

    def _run(self) -> None:
        db: sqlite3.Connection | None = None
        try:
            while not self._stop.wait(self.interval):
                if self.fsync and self._dirty.is_set():
                    self._dirty.clear()
                    self.sync()
                if self._wal_size() > self.checkpoint_bytes:
                    db = db or sqlite3.connect(self.db_path, isolation_level=None)
                    self._checkpoint(db)
        finally:
            if db is not None:
                db.close()

    def _wal_size(self) -> int:
        try:
            return self.wal.stat().st_size
        except FileNotFoundError:
            return 0

    def _checkpoint(self, db: sqlite3.Connection) -> None:
        try:
            # PASSIVE never waits for the writer; what it cannot copy now it copies next time.
            db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            self.checkpoints += 1
        except sqlite3.Error as exc:
            log.warning("outbox checkpoint failed: %s", exc)

    def sync(self) -> None:
        try:
            fd = os.open(self.wal, os.O_RDONLY)
        except FileNotFoundError:
            return  # checkpointed and removed: nothing unsynced
        try:
            os.fsync(fd)
            self.syncs += 1
        except OSError as exc:
            log.warning("fsync of %s failed: %s", self.wal, exc)
        finally:
            os.close(fd)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        if self.fsync and self._dirty.is_set():
            self.sync()
