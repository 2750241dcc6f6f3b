"""FrameHub: newest frame wins, counted; the publisher never waits for a consumer."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from edge.stream.hub import EMPTY_OVERLAY, FrameHub, HubCounts, Overlay, UnknownCamera


def _frame(value: int) -> np.ndarray:
    return np.full((4, 6, 3), value, np.uint8)


def test_consumer_gets_the_newest_frame_and_skips_are_counted() -> None:
    hub = FrameHub(["a"])
    for v in range(5):
        hub.publish("a", _frame(v))
    item = hub.take("a", after=0)
    assert item is not None and item.index == 5 and int(item.frame[0, 0, 0]) == 4
    assert hub.take("a", after=item.index) is None  # nothing newer
    hub.publish("a", _frame(9))
    item2 = hub.take("a", after=item.index)
    assert item2 is not None and item2.index == 6
    assert hub.counts("a") == HubCounts(offered=6, taken=2, skipped=4)


def test_frames_and_overlays_are_referenced_not_copied() -> None:
    hub = FrameHub(["a"])
    frame = _frame(1)
    overlay = Overlay(np.zeros((1, 4), np.float32), np.zeros(1, np.int64), np.ones(1, np.float32))
    hub.publish("a", frame, overlay)
    item = hub.latest("a")
    assert item is not None and item.frame is frame and item.overlay is overlay
    assert hub.counts("a").taken == 0  # latest() is a peek


def test_take_waits_for_a_new_frame_up_to_the_timeout() -> None:
    hub = FrameHub(["a"])
    t0 = time.monotonic()
    assert hub.take("a", after=0, timeout=0.2) is None
    assert time.monotonic() - t0 >= 0.15
    threading.Timer(0.1, lambda: hub.publish("a", _frame(3))).start()
    item = hub.take("a", after=0, timeout=5)
    assert item is not None and int(item.frame[0, 0, 0]) == 3


def test_publish_does_not_wait_while_a_consumer_is_blocked() -> None:
    hub = FrameHub(["a"])
    consumer = threading.Thread(target=lambda: hub.take("a", after=10**9, timeout=1.0))
    consumer.start()
    time.sleep(0.05)
    t0 = time.perf_counter()
    for v in range(1000):
        hub.publish("a", _frame(v % 256), EMPTY_OVERLAY)
    per_call = (time.perf_counter() - t0) / 1000
    consumer.join()
    assert per_call < 0.001, f"publish took {per_call * 1e6:.0f} us per call"


def test_unknown_camera_is_named_with_the_known_ones() -> None:
    hub = FrameHub(["cam1", "cam2"])
    with pytest.raises(UnknownCamera, match=r"no camera 'x' \(known: cam1, cam2\)"):
        hub.publish("x", _frame(0))
    with pytest.raises(ValueError, match="at least one camera"):
        FrameHub([])
