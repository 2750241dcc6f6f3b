"""Batching/retry timing (pure) and the ordered write path: acknowledgements only after the
batch is stored, in arrival order, retried writes without loss or reordering."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from cloud.api.rates import join_rates
from cloud.collector.counters import Counters
from cloud.collector.intake import Classifier, Item
from cloud.collector.pipeline import Pipeline, PipelineOptions
from cloud.collector.policy import BatchPolicy, receive_maximum
from cloud.collector.settle import LocalSettler
from cloud.store.points import Point
from cloud.store.query import CountRow, InspectedRow
from cloud.store.sqlite_store import SqliteStore
from cloud.store.writer import PointWriter, StoreUnavailable
from lineinspect.contract import DeadLetter, encode_payload
from tests._cloud_helpers import event_stream, event_topic

POLICY = BatchPolicy(max_points=100, max_wait_s=1.0, linger_s=0.02)
WAITS = [
    # (points pending, age of the batch, wait for the next message or None = write now)
    (0, 0.0, 0.02),
    (99, 0.5, 0.02),
    (100, 0.0, None),
    (5, 1.0, None),
    (5, 0.99, pytest.approx(0.01)),
]


@pytest.mark.parametrize(("points", "age", "want"), WAITS)
def test_batch_policy_next_wait(points: int, age: float, want: object) -> None:
    assert POLICY.next_wait(points, age) == want


def test_batch_policy_without_linger_waits_for_size_or_age() -> None:
    assert BatchPolicy(10, 1.0, 0.0).next_wait(3, 0.25) == 0.75


@pytest.mark.parametrize(("batch", "want"), [(1, 100), (5000, 15000), (40000, 65535)])
def test_receive_maximum_leaves_room_for_three_batches(batch: int, want: int) -> None:
    assert receive_maximum(batch) == want


# -- rates (pure) ------------------------------------------------------------------------------
def test_join_rates_divides_by_the_scope_without_class() -> None:
    counts = [CountRow(0, {"station": "a", "class": "x"}, 2),
              CountRow(0, {"station": "a", "class": "y"}, 1),
              CountRow(60, {"station": "a", "class": "x"}, 1)]  # fmt: skip
    dens = [InspectedRow(0, {"station": "a"}, 100, 10)]
    rows = join_rates(counts, dens, ("station", "class"))
    got = [(r.bucket_us, r.group["class"], r.per_part, r.per_frame) for r in rows]
    assert got == [(0, "x", 0.2, 0.02), (0, "y", 0.1, 0.01), (60, "x", None, None)]


def test_join_rates_keeps_buckets_with_inspections_and_no_defects() -> None:
    rows = join_rates([], [InspectedRow(0, {"line": "l"}, 50, 5)], ("line",))
    assert [(r.defects, r.per_part) for r in rows] == [(0, 0.0)]


# -- the write path ----------------------------------------------------------------------------
@dataclass
class Published:
    done: bool = True

    def is_published(self) -> bool:
        return self.done


@dataclass
class RecordingLink:
    """Stands in for the MQTT link: records acknowledgements and dead letters."""

    acked: list[int] = field(default_factory=list)
    letters: list[DeadLetter] = field(default_factory=list)
    written_when_acked: list[int] = field(default_factory=list)
    store: SqliteStore | None = None

    def ack(self, item: Item) -> None:
        self.acked.append(item.mid)
        if self.store is not None:
            n = self.store._conn().execute("SELECT COUNT(*) FROM points").fetchone()[0]
            self.written_when_acked.append(int(n))

    def publish_dead_letter(self, dead_letter: DeadLetter) -> Published:
        self.letters.append(dead_letter)
        return Published()


class FlakyStore:
    """The real SQLite store behind a switch that makes writes fail (a test double for an
    outage, named as such)."""

    def __init__(self, store: SqliteStore, failures: int) -> None:
        self.store = store
        self.failures = failures
        self.calls: list[int] = []

    def write(self, points: Sequence[Point]) -> None:
        self.calls.append(len(points))
        if self.failures > 0:
            self.failures -= 1
            raise StoreUnavailable("switched off by the test")
        self.store.write(points)

    def close(self) -> None:
        self.store.close()


def _items(n: int, bad_every: int = 0) -> list[Item]:
    out = []
    for mid, event in enumerate(event_stream(n), start=1):
        payload = b"junk" if bad_every and mid % bad_every == 0 else encode_payload(event)
        out.append(Item(mid, 1, 0, event_topic(event), payload, 1))
    return out


def _is_good(item: Item) -> bool:
    return item.payload != b"junk"


def _event_ids(items: list[Item]) -> list[str]:
    import json

    return [json.loads(i.payload)["event_id"] for i in items if _is_good(i)]


def _settler(writer: PointWriter, counters: Counters, retry_s: tuple[float, float] = (0.2, 5.0)
             ) -> LocalSettler:
    return LocalSettler(Classifier("c0", 262_144), writer, counters, retry_s, threading.Event())


def _pipeline(writer: PointWriter, link: RecordingLink, policy: BatchPolicy,
              counters: Counters | None = None, retry_s: tuple[float, float] = (0.2, 5.0),
              options: PipelineOptions | None = None) -> Pipeline:
    counters = counters if counters is not None else Counters()
    return Pipeline(_settler(writer, counters, retry_s), link, policy, counters, options)


def _run(pipeline: Pipeline, items: list[Item]) -> None:
    pipeline.start()
    for item in items:
        pipeline.submit(item)
    assert pipeline.wait_idle(30)
    time.sleep(0.05)
    pipeline.stop()


def test_acks_follow_the_write_in_arrival_order(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.sqlite3")
    link = RecordingLink(store=store)
    items = _items(250, bad_every=7)
    _run(_pipeline(store, link, BatchPolicy(50, 0.5, 0.05)), items)
    assert link.acked == [i.mid for i in items]
    good = [i for i in items if _is_good(i)]
    # when message k is acknowledged, everything up to its batch is already stored
    for pos, item in enumerate(items):
        stored_before = sum(1 for i in items[: pos + 1] if _is_good(i))
        assert link.written_when_acked[pos] >= stored_before, item.mid
    assert len(link.letters) == len(items) - len(good)
    assert all(dl.reason_code == "not_json" for dl in link.letters)


def test_failed_writes_are_retried_without_loss_or_reordering(tmp_path: Path) -> None:
    flaky = FlakyStore(SqliteStore(tmp_path / "s.sqlite3"), failures=3)
    link = RecordingLink()
    counters = Counters()
    items = _items(120)
    pipeline = _pipeline(flaky, link, BatchPolicy(40, 0.5, 0.05), counters, (0.01, 0.02))
    _run(pipeline, items)
    assert link.acked == [i.mid for i in items]
    assert counters.get("write_retries") == 3
    assert flaky.calls[:4] == [flaky.calls[0]] * 4  # the same batch, four times
    rows = flaky.store._conn().execute(
        "SELECT json_extract(fields, '$.event_id') FROM points ORDER BY time_us"
    ).fetchall()
    assert [r[0] for r in rows] == _event_ids(items)


def test_stop_while_the_store_is_down_leaves_messages_unacknowledged(tmp_path: Path) -> None:
    flaky = FlakyStore(SqliteStore(tmp_path / "s.sqlite3"), failures=10**9)
    link = RecordingLink()
    pipeline = _pipeline(flaky, link, BatchPolicy(10, 0.1, 0.01), retry_s=(0.01, 0.05))
    pipeline.start()
    for item in _items(30):
        pipeline.submit(item)
    time.sleep(0.5)
    stopper = threading.Thread(target=pipeline.stop, kwargs={"drain_timeout_s": 0.5})
    stopper.start()
    stopper.join(10)
    assert not stopper.is_alive()
    assert link.acked == []  # the broker keeps them and redelivers


def test_qos0_is_dropped_and_counted_over_the_backlog_limit(tmp_path: Path) -> None:
    counters = Counters()
    pipeline = _pipeline(SqliteStore(tmp_path / "s.sqlite3"), RecordingLink(), POLICY, counters,
                         options=PipelineOptions(qos0_backlog_limit=100))  # fmt: skip
    items = _items(150)
    for item in items:  # not started: nothing drains the queue
        item.qos = 0
        pipeline.submit(item)
    assert counters.get("qos0_dropped") == 50
