"""RTSP capture against a real gst-rtsp-server: frames, death, hang, recovery, shutdown."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.sources.capture import THREAD_PREFIX, CaptureThread
from edge.sources.factory import start_capture
from edge.sources.frame import Frame, SourceState
from edge.sources.settings import RtspSource
from tests.rtsp.helpers import RtspServer

READ_TIMEOUT = 1.0
OPEN_TIMEOUT = 3.0
RECOVER = 20.0  # generous upper bound on getting frames again; typical figures are printed


class StatusLog:
    """Records status callbacks with the monotonic time they arrived."""

    def __init__(self) -> None:
        self.events: list[tuple[float, SourceState, str]] = []
        self._cond = threading.Condition()

    def __call__(self, state: SourceState, message: str) -> None:
        with self._cond:
            self.events.append((time.monotonic(), state, message))
            self._cond.notify_all()

    def wait_for(self, state: SourceState, after: float, timeout: float) -> float:
        """Monotonic time of the first ``state`` reported at or after ``after``."""
        def found() -> float | None:
            return next((t for t, s, _ in self.events if s is state and t >= after), None)

        with self._cond:
            self._cond.wait_for(lambda: found() is not None, timeout)
            when = found()
        assert when is not None, f"no {state.value!r} within {timeout} s: {self.events}"
        return when

    @property
    def states(self) -> list[SourceState]:
        return [s for _, s, _ in self.events]


def settings(url: str, **kw: object) -> RtspSource:
    base: dict[str, object] = dict(url=url, open_timeout_s=OPEN_TIMEOUT,
                                   read_timeout_s=READ_TIMEOUT, reconnect_initial_s=0.2,
                                   reconnect_max_s=1.0)
    base.update(kw)
    return RtspSource.model_validate(base)


def take(cap: CaptureThread, n: int, timeout: float = 10.0) -> list[Frame]:
    frames: list[Frame] = []
    deadline = time.monotonic() + timeout
    while len(frames) < n:
        left = deadline - time.monotonic()
        assert left > 0, f"only {len(frames)} of {n} frames within {timeout} s: {cap.stats()}"
        frame = cap.get(left)
        if frame is not None:
            frames.append(frame)
    return frames


def our_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(THREAD_PREFIX) and t.is_alive()]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RtspServer]:
    srv = RtspServer(tmp_path)
    srv.start()
    yield srv
    srv.close()


@pytest.fixture
def status() -> StatusLog:
    return StatusLog()


@pytest.fixture(autouse=True)
def no_leaked_threads() -> Iterator[None]:
    before = set(threading.enumerate())
    yield
    assert our_threads() == []
    assert set(threading.enumerate()) <= before, "a thread outlived the test"


def test_frames_arrive_in_order_with_sane_timestamps(server: RtspServer,
                                                     status: StatusLog) -> None:
    wall0, t0 = time.time_ns(), time.monotonic()
    cap = start_capture(settings(server.url), "cam1", on_status=status)
    try:
        frames = take(cap, 20)
        first_up = status.wait_for(SourceState.UP, t0, 0)
    finally:
        assert cap.close()
    wall1 = time.time_ns()
    print(f"first frame after {first_up - t0:.2f} s")
    seqs = [f.seq for f in frames]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert all(wall0 <= f.ts_ns <= wall1 for f in frames)
    assert all(a.mono_ns < b.mono_ns for a, b in itertools.pairwise(frames))
    assert all((f.width, f.height) == (320, 240) and f.image.dtype.name == "uint8"
               and f.image.shape[2] == 3 for f in frames)
    # The test server draws a moving ball: consecutive frames are not the same picture.
    assert any((a.image != b.image).any() for a, b in itertools.pairwise(frames))
    assert SourceState.RECONNECTING not in status.states[status.states.index(SourceState.UP):]
    assert status.states[-1] is SourceState.DOWN and status.events[-1][2] == "stopped"


def test_transport_setting_reaches_ffmpeg(server: RtspServer, status: StatusLog) -> None:
    # The server refuses UDP (461 Unsupported transport), so asking for UDP must fail to open.
    t0 = time.monotonic()
    cap = start_capture(settings(server.url, transport="udp"), "cam-udp", on_status=status)
    try:
        status.wait_for(SourceState.RECONNECTING, t0, OPEN_TIMEOUT + 2)
        assert cap.get(0.5) is None
    finally:
        assert cap.close()
    assert cap.stats().open_failures >= 1 and cap.stats().captured == 0
    assert "cannot open" in status.events[0][2]


def test_server_killed_then_restarted_on_same_port(server: RtspServer, status: StatusLog) -> None:
    cap = start_capture(settings(server.url), "cam-kill", on_status=status)
    try:
        before = take(cap, 5)
        killed = time.monotonic()
        server.kill()
        down = status.wait_for(SourceState.RECONNECTING, killed, 3 * READ_TIMEOUT)
        time.sleep(2.0)  # stays down a while: the source keeps retrying with backoff
        failed_opens = cap.stats().open_failures
        assert cap.state is SourceState.RECONNECTING
        # 0.2, 0.4, 0.8, 1.0 s caps (minus jitter) in 2 s: a handful of attempts, not a spin.
        assert 2 <= failed_opens <= 12, failed_opens
        restarted = time.monotonic()
        server.start()
        up = status.wait_for(SourceState.UP, restarted, RECOVER)
        after = take(cap, 5)
    finally:
        assert cap.close()
    print(f"kill -> reconnecting {down - killed:.2f} s; restart -> up {up - restarted:.2f} s; "
          f"{failed_opens} failed opens while down")
    assert after[0].seq > before[-1].seq  # seq carries on across the reconnect
    states = status.states
    assert states[states.index(SourceState.UP):] == [
        SourceState.UP, SourceState.RECONNECTING, SourceState.UP, SourceState.DOWN]
    assert cap.stats().reconnects == states.count(SourceState.UP) - (states[0] is SourceState.UP)


def test_server_hung_then_resumed(server: RtspServer, status: StatusLog) -> None:
    cap = start_capture(settings(server.url), "cam-hang", on_status=status)
    try:
        take(cap, 5)
        hung = time.monotonic()
        server.pause()
        down = status.wait_for(SourceState.RECONNECTING, hung, 3 * READ_TIMEOUT)
        # While hung, each open attempt waits out the open timeout, never longer.
        time.sleep(OPEN_TIMEOUT + 1.5)
        assert cap.state is SourceState.RECONNECTING and cap.stats().open_failures >= 1
        resumed = time.monotonic()
        server.resume()
        up = status.wait_for(SourceState.UP, resumed, RECOVER)
        take(cap, 5)
    finally:
        assert cap.close()
    print(f"SIGSTOP -> reconnecting {down - hung:.2f} s (read timeout {READ_TIMEOUT} s); "
          f"SIGCONT -> up {up - resumed:.2f} s")
    lost = next(m for t, st, m in status.events if st is SourceState.RECONNECTING and t >= hung)
    assert "stalled" in lost or "no frame" in lost


def test_hung_at_start_then_restarted(server: RtspServer, status: StatusLog) -> None:
    server.pause()
    t0 = time.monotonic()
    cap = start_capture(settings(server.url), "cam-hung-start", on_status=status)
    try:
        failed = status.wait_for(SourceState.RECONNECTING, t0, OPEN_TIMEOUT + 2)
        server.kill()
        restarted = time.monotonic()
        server.start()
        up = status.wait_for(SourceState.UP, restarted, RECOVER)
        take(cap, 3)
    finally:
        assert cap.close()
    print(f"open on a hung server failed after {failed - t0:.2f} s (open timeout "
          f"{OPEN_TIMEOUT} s); restart -> up {up - restarted:.2f} s")
    assert failed - t0 < OPEN_TIMEOUT + 1.5


def test_slow_consumer_gets_newest_frame_and_drops_are_counted(server: RtspServer) -> None:
    cap = start_capture(settings(server.url), "cam-slow")
    try:
        take(cap, 3)
        seqs = []
        for _ in range(8):
            # Slow by 4 frames of "inference": counted in frames so a loaded box means the same.
            target, deadline = cap.stats().captured + 4, time.monotonic() + 5
            while cap.stats().captured < target and time.monotonic() < deadline:
                time.sleep(0.02)
            newest = cap.stats().captured - 1  # seq of the latest frame read so far
            frame = take(cap, 1)[0]
            assert frame.seq >= newest  # handed the newest frame, not an older queued one
            seqs.append(frame.seq)
            st = cap.stats()
            assert st.captured - st.delivered - st.dropped in (0, 1)  # at most one buffered
        st = cap.stats()
    finally:
        assert cap.close()
    assert st.dropped >= 8 * 3, st
    assert min(b - a for a, b in itertools.pairwise(seqs)) >= 4  # skipped, not queued


def test_close_is_bounded_while_server_hangs(server: RtspServer, status: StatusLog) -> None:
    cap = start_capture(settings(server.url), "cam-close", on_status=status)
    try:
        take(cap, 3)
        server.pause()
        time.sleep(0.2)  # the capture thread is now inside a read that will not return by itself
    finally:
        t0 = time.monotonic()
        closed = cap.close()
        took = time.monotonic() - t0
    print(f"close while hung took {took:.2f} s (read timeout {READ_TIMEOUT} s)")
    assert closed and took < max(READ_TIMEOUT, OPEN_TIMEOUT) + 1.5
    assert not cap.alive and our_threads() == []
    # The read cut short by shutdown is not reported as an outage.
    assert not [e for e in status.events if e[1] is SourceState.RECONNECTING and e[0] >= t0]
    assert status.states[-1] is SourceState.DOWN and status.events[-1][2] == "stopped"


def test_close_is_prompt_while_waiting_to_reconnect(server: RtspServer) -> None:
    cap = start_capture(settings(server.url, reconnect_initial_s=30, reconnect_max_s=60),
                        "cam-backoff")
    try:
        take(cap, 3)
        server.kill()
        deadline = time.monotonic() + 10
        while cap.state is not SourceState.RECONNECTING and time.monotonic() < deadline:
            time.sleep(0.05)
        assert cap.state is SourceState.RECONNECTING
    finally:
        t0 = time.monotonic()
        closed = cap.close()
        took = time.monotonic() - t0
    assert closed and took < 0.5  # the backoff sleep is interrupted, not waited out
