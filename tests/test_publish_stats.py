"""Stats counters and the Stats payload (pure parts; the broker path is in test_publish_broker)."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from edge.publish.stats import (
    RESERVOIR,
    Snapshot,
    StatsCounters,
    build_stats,
    latency_summary,
    percentile,
)
from edge.publish.status import StatusTracker, make_status
from lineinspect.contract import parse_message
from tests._publish_helpers import MODEL, topic


@pytest.mark.parametrize(
    ("values", "q", "want"),
    [
        ([5.0], 50, 5.0),
        ([5.0], 99, 5.0),
        ([1.0, 2.0], 50, 1.5),
        ([1.0, 2.0, 3.0, 4.0], 0, 1.0),
        ([1.0, 2.0, 3.0, 4.0], 100, 4.0),
        ([1.0, 2.0, 3.0, 4.0], 50, 2.5),
        (list(range(1, 101)), 99, 99.01),
    ],
)
def test_percentile_table(values: list[float], q: float, want: float) -> None:
    assert percentile(sorted(values), q) == pytest.approx(want)
    assert percentile(sorted(values), q) == pytest.approx(float(np.percentile(values, q)))


@pytest.mark.parametrize(("values", "q"), [([], 50), ([1.0], -1), ([1.0], 101)])
def test_percentile_rejects_bad_input(values: list[float], q: float) -> None:
    with pytest.raises(ValueError):
        percentile(values, q)


def test_latency_summary_rounds_and_keeps_p99_above_p50() -> None:
    got = latency_summary([3.0, 1.0, 2.0])
    assert (got.p50, got.p99) == (2.0, 2.98)


def test_counters_take_resets_the_interval() -> None:
    c = StatsCounters(seed=1)
    c.frame_inspected(30)
    c.part_seen(2)
    c.defect("scratch")
    c.defect("scratch")
    c.latency("detect", 12.5)
    c.drop("capture", 3)
    snap = c.take()
    assert (snap.frames_inspected, snap.parts_seen) == (30, 2)
    assert snap.defects_by_class == {"scratch": 2}
    assert snap.latency_samples == {"detect": [12.5]}
    assert snap.drops == {"capture": 3}
    empty = c.take()
    assert (empty.frames_inspected, empty.defects_by_class, empty.latency_samples) == (0, {}, {})


def test_reservoir_is_bounded_and_unbiased() -> None:
    c = StatsCounters(seed=7)
    for i in range(20_000):
        c.latency("detect", float(i % 100))
    samples = c.take().latency_samples["detect"]
    assert len(samples) == RESERVOIR
    assert percentile(sorted(samples), 50) == pytest.approx(49.5, abs=5)


def test_counters_are_thread_safe() -> None:
    c = StatsCounters()

    def work() -> None:
        for _ in range(10_000):
            c.frame_inspected()
            c.latency("detect", 1.0)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert c.take().frames_inspected == 40_000


@pytest.mark.parametrize("stage", ["Detect", "1x", "with space", "a" * 33])
def test_bad_stage_names_are_refused_by_name(stage: str) -> None:
    with pytest.raises(ValueError, match="stage name"):
        StatsCounters().latency(stage, 1.0)


def test_build_stats_is_a_valid_contract_payload() -> None:
    snap = Snapshot(300, 12, {"scratch": 1, "crack": 0}, {"detect": [18.0, 19.0, 30.0]},
                    {"capture": 2})
    stats = build_stats(snap, 10.0, 1_763_794_391_123, outbox_backlog=5)
    assert stats.fps == 30.0 and stats.outbox_backlog == 5
    assert stats.latency_ms["detect"].p50 == 19.0
    again = parse_message(topic("stats"), stats.model_dump_json().encode())
    assert again.payload == stats


def test_status_is_valid_and_only_changes_are_published() -> None:
    tracker = StatusTracker()
    assert tracker.changed("cam1", "up", "", MODEL)
    assert not tracker.changed("cam1", "up", "", MODEL)
    assert tracker.changed("cam1", "reconnecting", "rtsp timeout", MODEL)
    assert tracker.last("cam1") == "reconnecting"
    long = make_status("down", 1_763_794_391_123, "x" * 1000)
    assert len(long.message) == 256
    assert parse_message(topic("status"), long.model_dump_json().encode()).payload == long
