"""The hand-off queue between the pipeline and the publisher's worker: bounded data lane with a
counted drop-newest policy, a control lane that never drops, and a worker that sleeps on both."""

from __future__ import annotations

import threading
import time

import pytest

from edge.publish.handoff import Handoff


def test_data_lane_drops_newest_when_full_and_counts() -> None:
    h: Handoff[int, str] = Handoff(3)
    assert [h.put_data(i) for i in range(5)] == [True, True, True, False, False]
    assert (h.accepted, h.dropped, h.pending) == (3, 2, 3)
    got = h.take(0)
    assert got.data == [0, 1, 2] and h.taken == 3 and h.pending == 0
    assert h.put_data(9)  # room again


def test_control_lane_is_never_dropped_and_comes_with_the_data() -> None:
    h: Handoff[int, str] = Handoff(1)
    h.put_data(1)
    for i in range(100):
        h.put_control(f"ack{i}")
    got = h.take(0)
    assert got.data == [1] and len(got.control) == 100


def test_take_waits_for_either_lane_or_the_timeout() -> None:
    h: Handoff[int, str] = Handoff(4)
    t0 = time.monotonic()
    assert h.take(0.1).data == []
    assert time.monotonic() - t0 >= 0.09
    threading.Timer(0.05, h.put_control, args=("wake",)).start()
    t0 = time.monotonic()
    assert h.take(5.0).control == ["wake"]
    assert time.monotonic() - t0 < 2.0


def test_close_refuses_data_but_not_control_and_does_not_spin() -> None:
    h: Handoff[int, str] = Handoff(4)
    h.close()
    assert not h.put_data(1) and h.dropped == 1
    h.put_control("stop")
    got = h.take(0)
    assert got.closed and got.control == ["stop"]
    t0 = time.monotonic()
    h.take(0.1)  # closed and empty: still waits, so a draining worker does not busy-loop
    assert time.monotonic() - t0 >= 0.09


def test_size_must_be_positive() -> None:
    with pytest.raises(ValueError):
        Handoff(0)
