"""Per-camera interval counters (the dashboards' denominators) and the ``Stats`` payload.

The pipeline fills a :class:`StatsCounters` from its threads (frames, parts, stage latencies,
queue drops); the publisher adds what it sees itself (defects by class, its own drops, outbox
backlog) and, every ``stats.interval_s``, takes a snapshot, which resets the interval.
Latency samples are kept by reservoir sampling, so memory is bounded however high the frame rate
and the percentiles stay unbiased.
"""

from __future__ import annotations

import math
import random
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

from lineinspect.contract import LatencyMs, Stats, format_ts

MAX_STAGES = 32
MAX_CLASSES = 256
RESERVOIR = 1024
_STAGE_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (numpy's default method) of already sorted values."""
    if not sorted_values:
        raise ValueError("percentile of no values")
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"q must be within 0..100, got {q}")
    pos = (len(sorted_values) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    frac = pos - lo
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * frac


def latency_summary(samples: Sequence[float]) -> LatencyMs:
    ordered = sorted(samples)
    p50 = round(percentile(ordered, 50.0), 3)
    p99 = round(percentile(ordered, 99.0), 3)
    return LatencyMs(p50=p50, p99=max(p99, p50))


def check_stage(stage: str) -> str:
    if not _STAGE_RE.fullmatch(stage):
        raise ValueError(
            f"stage name {stage!r} is invalid: use [a-z][a-z0-9_]*, at most 32 characters"
        )
    return stage


@dataclass
class _Reservoir:
    seen: int = 0
    values: list[float] = field(default_factory=list)

    def add(self, value: float, rng: random.Random) -> None:
        self.seen += 1
        if len(self.values) < RESERVOIR:
            self.values.append(value)
            return
        slot = rng.randrange(self.seen)
        if slot < RESERVOIR:
            self.values[slot] = value


@dataclass(frozen=True)
class Snapshot:
    """Raw counts of one interval."""

    frames_inspected: int
    parts_seen: int
    defects_by_class: dict[str, int]
    latency_samples: dict[str, list[float]]
    drops: dict[str, int]


class StatsCounters:
    """Thread-safe counters for one camera; every method is O(1) and never blocks for long."""

    def __init__(self, seed: int | None = None) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self._reset()

    def _reset(self) -> None:
        self._frames = 0
        self._parts = 0
        self._defects: dict[str, int] = {}
        self._latency: dict[str, _Reservoir] = {}
        self._drops: dict[str, int] = {}

    def frame_inspected(self, n: int = 1) -> None:
        with self._lock:
            self._frames += n

    def part_seen(self, n: int = 1) -> None:
        with self._lock:
            self._parts += n

    def defect(self, class_name: str) -> None:
        with self._lock:
            if class_name in self._defects or len(self._defects) < MAX_CLASSES:
                self._defects[class_name] = self._defects.get(class_name, 0) + 1

    def latency(self, stage: str, ms: float) -> None:
        with self._lock:
            res = self._latency.get(stage)
            if res is None:
                if len(self._latency) >= MAX_STAGES:
                    raise ValueError(f"more than {MAX_STAGES} latency stages")
                res = self._latency[check_stage(stage)] = _Reservoir()
            res.add(max(0.0, ms), self._rng)

    def drop(self, stage: str, n: int = 1) -> None:
        with self._lock:
            if stage not in self._drops:
                if len(self._drops) >= MAX_STAGES:
                    raise ValueError(f"more than {MAX_STAGES} drop stages")
                check_stage(stage)
            self._drops[stage] = self._drops.get(stage, 0) + n

    def take(self) -> Snapshot:
        """This interval's counts; the next interval starts from zero."""
        with self._lock:
            snap = Snapshot(
                self._frames,
                self._parts,
                dict(self._defects),
                {k: list(v.values) for k, v in self._latency.items() if v.values},
                dict(self._drops),
            )
            self._reset()
        return snap


def build_stats(snap: Snapshot, interval_s: float, now_ms: int, outbox_backlog: int) -> Stats:
    """The ``Stats`` payload of one interval (pure)."""
    if interval_s <= 0:
        raise ValueError("interval_s must be > 0")
    fps = min(snap.frames_inspected / interval_s, 10000.0)
    return Stats(
        v=1,
        ts=format_ts(now_ms),
        ts_ms=now_ms,
        interval_s=round(interval_s, 3),
        frames_inspected=snap.frames_inspected,
        parts_seen=snap.parts_seen,
        defects_by_class=snap.defects_by_class,
        fps=round(fps, 3),
        latency_ms={k: latency_summary(v) for k, v in snap.latency_samples.items()},
        drops=snap.drops,
        outbox_backlog=outbox_backlog,
    )
