"""Durable store-and-forward queue: SQLite in WAL mode, one row per MQTT message.

A message is appended before it is handed to the MQTT client and deleted only after the broker's
PUBACK. A committed append survives a crash of the agent at once; against a power cut it is
fsynced either before it is sent (``synchronous="full"``: an alarm then waits for the disk,
measured at up to hundreds of ms under I/O contention) or by a background thread within
``fsync_interval_s`` (``"normal"``, the default). Rows carry a lane: ``STATE`` (alarms and
status: retained, tiny, sent first) and ``EVENTS``. ``seq`` is ``AUTOINCREMENT`` so it never
goes backwards, even after the table empties, which is what keeps replay in order across
restarts.

The byte budget counts topic + payload bytes (what the broker will receive), not the file size;
SQLite reuses freed pages, so the file stays near the peak of that budget plus page overhead.
At the cap the oldest rows go first, events before state, never a row the client is still
sending (its PUBACK may be on the way). Every drop is counted, persistently.

Not thread-safe: one worker thread owns an ``Outbox``. Other processes or threads may read the
file with :func:`read_pending` (WAL allows readers beside the writer).
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from edge.publish.walsync import BackgroundSync

STATE = 0
EVENTS = 1
LANES = (STATE, EVENTS)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    lane INTEGER NOT NULL,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    qos INTEGER NOT NULL,
    retain INTEGER NOT NULL,
    nbytes INTEGER NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_lane_seq ON outbox (lane, seq);
CREATE TABLE IF NOT EXISTS outbox_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO outbox_meta (key, value) VALUES ('dropped_total', 0);
"""

_DROP_SCAN = 512  # candidate rows read per step when making room


class OutboxError(RuntimeError):
    """The outbox file cannot be opened or written (path, permissions, disk full, corrupt)."""


@dataclass(frozen=True, slots=True)
class NewMessage:
    lane: int
    topic: str
    payload: bytes
    qos: int
    retain: bool

    @property
    def nbytes(self) -> int:
        return len(self.topic.encode()) + len(self.payload)


@dataclass(frozen=True, slots=True)
class Row:
    seq: int
    lane: int
    topic: str
    payload: bytes
    qos: int
    retain: bool
    nbytes: int


@dataclass(frozen=True, slots=True)
class Dropped:
    seq: int
    topic: str


class Outbox:
    def __init__(
        self,
        path: Path,
        max_bytes: int,
        synchronous: Literal["full", "normal"] = "normal",
        fsync_interval_s: float = 0.2,
    ) -> None:
        if max_bytes < 1:
            raise ValueError("max_bytes must be >= 1")
        self.path = Path(path)
        self.max_bytes = max_bytes
        self._sync = synchronous.upper()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            mode = self._db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise OutboxError(f"outbox {self.path}: SQLite refused WAL mode (got {mode})")
            self._db.execute("PRAGMA wal_autocheckpoint=0")  # BackgroundSync checkpoints
            self._db.executescript(_SCHEMA)
            self._set_sync(self._sync)
            row = self._db.execute("SELECT COUNT(*), COALESCE(SUM(nbytes), 0) FROM outbox")
            count, total = row.fetchone()
        except (sqlite3.Error, OSError) as exc:
            raise OutboxError(f"cannot open outbox {self.path}: {exc}") from exc
        self._count = int(count)
        self._bytes = int(total)
        fsync = self._sync == "NORMAL" and fsync_interval_s > 0
        self._syncer = BackgroundSync(self.path, fsync_interval_s if fsync else 0.5, fsync)

    # -- state -----------------------------------------------------------------------------
    @property
    def count(self) -> int:
        return self._count

    @property
    def nbytes(self) -> int:
        return self._bytes

    @property
    def dropped_total(self) -> int:
        """Rows dropped by the byte cap since the file was created (survives restarts)."""
        row = self._db.execute("SELECT value FROM outbox_meta WHERE key = 'dropped_total'")
        return int(row.fetchone()[0])

    def max_seq(self, lane: int) -> int:
        row = self._db.execute("SELECT COALESCE(MAX(seq), 0) FROM outbox WHERE lane = ?", (lane,))
        return int(row.fetchone()[0])

    # -- writing ---------------------------------------------------------------------------
    def append(
        self, messages: Sequence[NewMessage], protect: Collection[int] = ()
    ) -> tuple[list[int], list[Dropped]]:
        """Append ``messages`` in one transaction, dropping the oldest rows (not in ``protect``)
        to stay within the byte cap. Returns the new seqs (0 for a message that could not fit
        at all) and what was dropped."""
        if not messages:
            return [], []
        now_ms = time.time_ns() // 1_000_000
        sizes = [m.nbytes for m in messages]
        # A batch larger than the whole cap keeps only its newest messages (rare: the cap is
        # >= 1 MiB and a batch is what arrived during one fsync).
        first, total = len(messages), 0
        while first > 0 and total + sizes[first - 1] <= self.max_bytes:
            first -= 1
            total += sizes[first]
        seqs: list[int] = [0] * first
        dropped = [Dropped(0, m.topic) for m in messages[:first]]
        try:
            self._db.execute("BEGIN IMMEDIATE")
            if self._bytes + total > self.max_bytes:
                # One pass for the whole batch: the same rows a per-message pass would drop,
                # since every new row is newer than every stored one.
                dropped += self._make_room(self._bytes + total - self.max_bytes, protect)
            for msg, size in zip(messages[first:], sizes[first:], strict=True):
                cur = self._db.execute(
                    "INSERT INTO outbox (lane, topic, payload, qos, retain, nbytes, created_ms)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (msg.lane, msg.topic, msg.payload, msg.qos, int(msg.retain), size, now_ms),
                )
                seqs.append(int(cur.lastrowid or 0))
                self._bytes += size
                self._count += 1
            if dropped:
                self._db.execute(
                    "UPDATE outbox_meta SET value = value + ? WHERE key = 'dropped_total'",
                    (len(dropped),),
                )
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            self._rollback()
            raise OutboxError(f"outbox {self.path}: append failed: {exc}") from exc
        self._syncer.mark()
        return seqs, dropped

    def _make_room(self, need: int, protect: Collection[int]) -> list[Dropped]:
        freed = 0
        victims: list[tuple[int, str, int]] = []
        for lane in (EVENTS, STATE):
            after = 0
            while freed < need:
                rows = self._db.execute(
                    "SELECT seq, topic, nbytes FROM outbox WHERE lane = ? AND seq > ?"
                    " ORDER BY seq LIMIT ?",
                    (lane, after, _DROP_SCAN),
                ).fetchall()
                if not rows:
                    break
                for seq, topic, nbytes in rows:
                    after = seq
                    if seq in protect:
                        continue
                    victims.append((seq, topic, nbytes))
                    freed += nbytes
                    if freed >= need:
                        break
            if freed >= need:
                break
        self._db.executemany("DELETE FROM outbox WHERE seq = ?", [(v[0],) for v in victims])
        self._bytes -= freed
        self._count -= len(victims)
        return [Dropped(seq, topic) for seq, topic, _ in victims]

    def delete(self, seqs: Iterable[int]) -> int:
        """Remove acknowledged rows; returns how many existed. Not fsynced: a delete lost to a
        power cut only means one duplicate delivery later."""
        keys = [(s,) for s in seqs]
        if not keys:
            return 0
        try:
            self._set_sync("NORMAL")
            self._db.execute("BEGIN IMMEDIATE")
            gone = 0
            freed = 0
            for key in keys:
                row = self._db.execute(
                    "DELETE FROM outbox WHERE seq = ? RETURNING nbytes", key
                ).fetchone()
                if row is not None:
                    gone += 1
                    freed += int(row[0])
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            self._rollback()
            raise OutboxError(f"outbox {self.path}: delete failed: {exc}") from exc
        finally:
            self._set_sync(self._sync)
        self._bytes -= freed
        self._count -= gone
        return gone

    # -- reading ---------------------------------------------------------------------------
    def fetch(self, lane: int, after: int, upto: int | None, limit: int) -> list[Row]:
        """Up to ``limit`` rows of ``lane`` with ``after < seq <= upto``, oldest first."""
        if limit <= 0:
            return []
        hi = upto if upto is not None else 2**62
        rows = self._db.execute(
            "SELECT seq, lane, topic, payload, qos, retain, nbytes FROM outbox"
            " WHERE lane = ? AND seq > ? AND seq <= ? ORDER BY seq LIMIT ?",
            (lane, after, hi, limit),
        ).fetchall()
        return [Row(r[0], r[1], r[2], bytes(r[3]), r[4], bool(r[5]), r[6]) for r in rows]

    def count_range(self, lane: int, after: int, upto: int, limit: int) -> int:
        """Rows of ``lane`` with ``after < seq <= upto``, counted up to ``limit`` (cheap)."""
        row = self._db.execute(
            "SELECT COUNT(*) FROM (SELECT 1 FROM outbox WHERE lane = ? AND seq > ? AND seq <= ?"
            " LIMIT ?)",
            (lane, after, upto, limit),
        ).fetchone()
        return int(row[0])

    def get(self, seq: int) -> Row | None:
        r = self._db.execute(
            "SELECT seq, lane, topic, payload, qos, retain, nbytes FROM outbox WHERE seq = ?",
            (seq,),
        ).fetchone()
        return None if r is None else Row(r[0], r[1], r[2], bytes(r[3]), r[4], bool(r[5]), r[6])

    def close(self) -> None:
        self._syncer.close()
        # A checkpoint is housekeeping; the WAL is replayed on the next open anyway.
        with contextlib.suppress(sqlite3.Error):
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self._db.close()

    # -- helpers ---------------------------------------------------------------------------
    def _set_sync(self, level: str) -> None:
        self._db.execute(f"PRAGMA synchronous={level}")

    def _rollback(self) -> None:
        with contextlib.suppress(sqlite3.Error):  # no transaction was open
            self._db.execute("ROLLBACK")


def read_pending(path: Path) -> list[tuple[int, str, bytes]]:
    """``(seq, topic, payload)`` of every queued row, oldest first, read without taking over
    the file (diagnostics, tests, ``outbox status``)."""
    uri = f"file:{Path(path).resolve()}?mode=ro"
    db = sqlite3.connect(uri, uri=True)
    try:
        rows = db.execute("SELECT seq, topic, payload FROM outbox ORDER BY seq").fetchall()
    finally:
        db.close()
    return [(int(r[0]), str(r[1]), bytes(r[2])) for r in rows]
