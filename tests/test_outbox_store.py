"""The outbox's SQLite store and the flow control that picks what to send next.

Real files on disk; the broker-facing behaviour (outages, kills) is in test_outbox_outage.py.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from edge.publish.flow import FlowControl, Inflight, TokenBucket
from edge.publish.outbox import EVENTS, STATE, NewMessage, Outbox, OutboxError, read_pending

TOPIC = "lineinspect/v1/plant1/line3/st2/cam1/events"
ALARM = "lineinspect/v1/plant1/line3/st2/cam1/alarm"


def ev(i: int, size: int = 100) -> NewMessage:
    body = f"{i:08d}".encode()
    return NewMessage(EVENTS, TOPIC, body + b"x" * (size - len(body)), 1, False)


def state(i: int) -> NewMessage:
    return NewMessage(STATE, ALARM, f"{i}".encode(), 1, True)


def payload_ids(rows: list[tuple[int, str, bytes]]) -> list[int]:
    return [int(p[:8]) for _, _, p in rows]


def test_rows_come_back_in_order_and_survive_reopen(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite3"
    box = Outbox(path, 10**6)
    seqs, dropped = box.append([ev(i) for i in range(10)])
    assert dropped == [] and seqs == sorted(seqs) and len(set(seqs)) == 10
    box.delete(seqs[:3])
    box.close()
    again = Outbox(path, 10**6)
    assert again.count == 7
    assert again.nbytes == 7 * (len(TOPIC) + 100)
    rows = again.fetch(EVENTS, 0, None, 100)
    assert [int(r.payload[:8]) for r in rows] == list(range(3, 10))
    assert all(r.qos == 1 and not r.retain for r in rows)
    again.close()


def test_seq_never_goes_back_even_after_the_table_empties(tmp_path: Path) -> None:
    """A reused seq would hide behind the sender's cursor and never be sent."""
    path = tmp_path / "o.sqlite3"
    box = Outbox(path, 10**6)
    first, _ = box.append([ev(1), ev(2)])
    box.delete(first)
    box.close()
    box = Outbox(path, 10**6)
    second, _ = box.append([ev(3)])
    assert second[0] > max(first)
    box.close()


def test_wal_mode_and_readers_beside_the_writer(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite3"
    box = Outbox(path, 10**6)
    box.append([ev(1), state(2)])
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    pending = read_pending(path)
    assert [t for _, t, _ in pending] == [TOPIC, ALARM]
    box.close()


@pytest.mark.parametrize(
    ("max_bytes", "n", "size"),
    [
        (10_000, 100, 100),   # keeps floor(10000 / 143) = 69
        (10_000, 69, 100),    # exactly fits: nothing dropped
        (50_000, 1000, 300),
    ],
)
def test_byte_cap_drops_the_oldest_with_an_exact_count(
    tmp_path: Path, max_bytes: int, n: int, size: int
) -> None:
    box = Outbox(tmp_path / "o.sqlite3", max_bytes, synchronous="normal")
    row_bytes = len(TOPIC) + size
    keep = min(n, max_bytes // row_bytes)
    dropped_total = 0
    for start in range(0, n, 7):  # several transactions, like the worker's batches
        _, dropped = box.append([ev(i, size) for i in range(start, min(n, start + 7))])
        dropped_total += len(dropped)
        assert box.nbytes <= max_bytes
    assert dropped_total == n - keep
    assert box.dropped_total == n - keep
    assert box.count == keep
    assert payload_ids(read_pending(box.path)) == list(range(n - keep, n))  # the newest survive
    box.close()


def test_the_byte_cap_spares_rows_in_flight_and_drops_events_before_state(
    tmp_path: Path,
) -> None:
    row = len(TOPIC) + 100
    box = Outbox(tmp_path / "o.sqlite3", 5 * row)
    seqs, _ = box.append([ev(i) for i in range(4)])
    box.append([state(99)])
    # The client holds seq[0] (PUBACK may be on its way): the cap must take seq[1] instead.
    _, dropped = box.append([ev(4)], protect={seqs[0]})
    assert [d.seq for d in dropped] == [seqs[1]]
    kept = read_pending(box.path)
    assert ALARM in [t for _, t, _ in kept]
    box.close()


def test_dropped_total_persists_across_restarts(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite3"
    row = len(TOPIC) + 100
    box = Outbox(path, 3 * row)
    box.append([ev(i) for i in range(5)])
    box.close()
    box = Outbox(path, 3 * row)
    box.append([ev(5)])
    assert box.dropped_total == 3
    box.close()


def test_background_fsync_runs_after_commits_and_only_then(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite3", 10**6, synchronous="normal", fsync_interval_s=0.05)
    syncer = box._syncer
    time.sleep(0.3)
    assert syncer.syncs == 0  # idle: no commit, no fsync
    box.append([ev(1)])
    deadline = time.monotonic() + 10
    while syncer.syncs == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert syncer.syncs >= 1
    box.close()
    full = Outbox(tmp_path / "x.sqlite3", 10**6, synchronous="full")
    assert not full._syncer.fsync  # full: every commit is fsynced in line
    full.close()


def test_wal_is_checkpointed_off_the_worker_and_stays_bounded(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite3", 10**8, synchronous="normal", fsync_interval_s=0.05)
    box._syncer.checkpoint_bytes = 256 * 1024
    wal = tmp_path / "o.sqlite3-wal"
    for round_ in range(40):
        seqs, _ = box.append([ev(round_ * 100 + i, 1000) for i in range(100)])
        box.delete(seqs)
        time.sleep(0.06)
    assert box._syncer.checkpoints >= 1
    assert wal.stat().st_size < 4 * 1024 * 1024  # ~8 MB went through it
    box.close()


def test_unusable_path_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(OutboxError, match="cannot open outbox"):
        Outbox(blocker / "o.sqlite3", 10**6)


def test_file_stays_bounded_under_churn(tmp_path: Path) -> None:
    """Freed pages are reused: appending and deleting far more than the cap keeps the file
    near the cap instead of growing."""
    max_bytes = 200_000
    box = Outbox(tmp_path / "o.sqlite3", max_bytes, synchronous="normal")
    for round_ in range(20):
        seqs, _ = box.append([ev(round_ * 1000 + i, 500) for i in range(600)])
        box.delete(seqs[: len(seqs) // 2])
    box.close()
    on_disk = sum(p.stat().st_size for p in tmp_path.glob("o.sqlite3*"))
    assert on_disk < 3 * max_bytes


# -- token bucket ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("rate", "burst", "script", "want"),
    [
        # (time, asked) -> granted
        (10.0, 1.0, [(0.0, 5), (0.05, 5), (0.1, 5), (0.35, 5)], [1, 0, 1, 1]),  # burst caps
        (100.0, 10.0, [(0.0, 50), (0.1, 50), (10.0, 50)], [10, 10, 10]),
        (1000.0, 100.0, [(0.0, 20), (0.0, 200)], [20, 80]),
    ],
)
def test_token_bucket(
    rate: float, burst: float, script: list[tuple[float, int]], want: list[int]
) -> None:
    bucket = TokenBucket(rate, burst)
    assert [bucket.take(t, n) for t, n in script] == want


def test_token_bucket_wait() -> None:
    bucket = TokenBucket(10.0, 1.0)
    assert bucket.wait_s(0.0) == 0.0
    bucket.take(0.0, 1)
    assert bucket.wait_s(0.0) == pytest.approx(0.1)
    assert bucket.wait_s(0.05) == pytest.approx(0.05)


# -- flow control ---------------------------------------------------------------------------------
def hand_over(flow: FlowControl, box: Outbox, now: float, mids: list[int]) -> list[int]:
    rows = flow.next_rows(box, now)
    for row in rows:
        mids.append(mids[-1] + 1 if mids else 1)
        flow.inflight[mids[-1]] = Inflight(row.seq, "cam1", None, "publish")
    return [int(r.payload[:8]) if r.lane == EVENTS else -int(r.payload) for r in rows]


def ack_all(flow: FlowControl, box: Outbox) -> None:
    box.delete([f.seq for f in flow.inflight.values()])
    flow.inflight.clear()


def test_state_first_then_live_then_paced_backlog(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite3", 10**7)
    box.append([ev(i) for i in range(300)])  # queued while offline: 3 s worth at 100/s
    flow = FlowControl(drain_rate_per_s=100.0, max_inflight=50)  # burst 10
    flow.connected(box, receive_maximum=None)
    assert flow.paced
    box.append([ev(1000), state(7), ev(1001)])  # arrive after the connect
    mids: list[int] = []
    got = hand_over(flow, box, 0.0, mids)
    assert got == [-7, 1000, 1001, *range(10)]  # alarm, live, then a burst of backlog
    ack_all(flow, box)
    assert hand_over(flow, box, 0.0, mids) == []  # the bucket is empty
    assert flow.wait_s(0.0) == pytest.approx(0.01)
    assert hand_over(flow, box, 0.05, mids) == list(range(10, 15))  # 100/s for 50 ms
    box.close()


def test_a_small_backlog_goes_out_at_once_ahead_of_live_events(tmp_path: Path) -> None:
    """A blip (or the first moments before the first connect) must not reorder events."""
    box = Outbox(tmp_path / "o.sqlite3", 10**7)
    box.append([ev(i) for i in range(40)])
    flow = FlowControl(drain_rate_per_s=100.0, max_inflight=30)
    flow.connected(box, receive_maximum=None)
    assert not flow.paced
    box.append([ev(i) for i in range(40, 45)])
    mids: list[int] = []
    assert hand_over(flow, box, 0.0, mids) == list(range(30))
    ack_all(flow, box)
    assert hand_over(flow, box, 0.0, mids) == list(range(30, 45))
    box.close()


def test_window_and_receive_maximum_cap_what_is_in_flight(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite3", 10**7)
    flow = FlowControl(drain_rate_per_s=1e5, max_inflight=20)
    flow.connected(box, receive_maximum=5)
    box.append([ev(i) for i in range(12)])
    mids: list[int] = []
    assert hand_over(flow, box, 0.0, mids) == list(range(5))
    assert hand_over(flow, box, 1.0, mids) == []
    ack_all(flow, box)
    assert hand_over(flow, box, 1.0, mids) == list(range(5, 10))
    box.close()


def test_reconnect_does_not_hand_over_rows_the_client_still_holds(tmp_path: Path) -> None:
    """Rows sent live before a disconnect are re-sent by paho itself: handing them over again
    would duplicate them and lose track of their PUBACKs."""
    box = Outbox(tmp_path / "o.sqlite3", 10**7)
    flow = FlowControl(drain_rate_per_s=1e5, max_inflight=100)
    flow.connected(box, None)
    box.append([ev(i) for i in range(10)])
    mids: list[int] = []
    assert hand_over(flow, box, 0.0, mids) == list(range(10))
    # PUBACKs for the first 6 only, then the connection drops; 5 more arrive while offline.
    for mid in mids[:6]:
        box.delete([flow.inflight.pop(mid).seq])
    box.append([ev(i) for i in range(10, 15)])
    flow.connected(box, None)
    assert hand_over(flow, box, 10.0, mids) == list(range(10, 15))
    assert sorted(f.seq for f in flow.inflight.values()) == sorted(
        s for s, _, _ in read_pending(box.path)
    )
    box.close()


def test_restart_resends_everything_left_in_order(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite3"
    box = Outbox(path, 10**7)
    box.append([ev(i) for i in range(30)])
    box.close()
    box = Outbox(path, 10**7)
    flow = FlowControl(drain_rate_per_s=1e5, max_inflight=100)
    flow.connected(box, None)
    mids: list[int] = []
    assert hand_over(flow, box, 0.0, mids) == list(range(30))
    box.close()


def test_transient_refusal_is_retried_after_its_wait(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite3", 10**7)
    flow = FlowControl(drain_rate_per_s=1e5, max_inflight=100)
    flow.connected(box, None)
    box.append([ev(1)])
    mids: list[int] = []
    hand_over(flow, box, 0.0, mids)
    refused = flow.inflight.pop(mids[0])
    flow.retry_later(refused.seq, 1.0)
    assert refused.seq in flow.protected()
    assert flow.due_retries(box, 0.5) == []
    assert flow.wait_s(0.5) == pytest.approx(0.5)
    again = flow.due_retries(box, 1.0)
    assert [r.seq for r in again] == [refused.seq]
    box.close()
