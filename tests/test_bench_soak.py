"""bench/soak.py's figures: growth after the warm-up, and when a process counts as leaking."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[1]


def _soak() -> ModuleType:
    spec = importlib.util.spec_from_file_location("soak", REPO / "bench" / "soak.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["soak"] = module
    spec.loader.exec_module(module)
    return module


soak = _soak()
S = soak.Sample


@pytest.mark.parametrize(("samples", "rss_pct", "ok"), [
    # warm-up growth (before 600 s) does not count; flat after it
    ([S(0, 100, 10, 5), S(600, 200, 12, 6), S(3600, 204, 12, 6)], 2.0, True),
    # 5 % or more after the warm-up is a leak
    ([S(600, 200, 12, 6), S(1800, 205, 12, 6), S(3600, 210, 12, 6)], 5.0, False),
    # a file descriptor per sample is a leak even with flat memory
    ([S(600, 200, 12, 6), S(1200, 200, 13, 6), S(1800, 200, 14, 6), S(3600, 200, 15, 6)],
     0.0, False),
    # one transient connection at a sampling instant is not
    ([S(600, 200, 12, 6), S(1200, 200, 14, 6), S(3600, 200, 12, 6)], 0.0, True),
    # threads growing
    ([S(600, 200, 12, 6), S(1800, 200, 12, 8), S(3600, 200, 12, 9)], 0.0, False),
    # memory going down is fine
    ([S(600, 200, 12, 6), S(3600, 150, 12, 6)], -25.0, True),
])  # fmt: skip
def test_growth_after_warmup(samples: list, rss_pct: float, ok: bool) -> None:
    figures = soak.growth(samples, 600)
    assert figures["rss_growth_pct"] == pytest.approx(rss_pct)
    assert figures["ok"] is ok


def test_growth_needs_two_samples_after_warmup() -> None:
    with pytest.raises(ValueError, match="two samples after the 600 s warm-up"):
        soak.growth([S(0, 100, 1, 1), S(600, 100, 1, 1)], 600)


def test_default_warmup() -> None:
    assert soak.default_warmup(3600) == 600
    assert soak.default_warmup(300) == 100


def test_samples_this_process_and_finds_its_children() -> None:
    sample = soak.read_sample(os.getpid(), 0.0)
    assert sample is not None and sample.rss_kb > 1000 and sample.fds >= 3 and sample.threads >= 1
    import subprocess

    child = subprocess.Popen(["sleep", "30"])
    try:
        assert child.pid in soak.children(os.getpid())
        assert soak.watched({"me": os.getpid()})["me/sleep"] == child.pid
    finally:
        child.kill()
        child.wait()
    assert soak.read_sample(child.pid, 0.0) is None


def test_prometheus_totals_sum_every_label_set() -> None:
    text = (
        "# HELP lineinspect_frames_inspected_total Frames\n"
        'lineinspect_frames_inspected_total{camera="cam1"} 120.0\n'
        'lineinspect_frames_inspected_total{camera="cam2"} 30.0\n'
        "lineinspect_frames_inspected_created 1.7e9\n"
        "lineinspect_frames_dropped_total 4\n"
    )
    assert soak.prometheus_total(text, "lineinspect_frames_inspected_total") == 150.0
    assert soak.prometheus_total(text, "lineinspect_frames_dropped_total") == 4.0
    assert soak.prometheus_total(text, "lineinspect_events_total") == 0.0
