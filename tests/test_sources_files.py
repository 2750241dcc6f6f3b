"""Video file, image folder, synthetic conveyor and V4L2 device sources, and the capture thread."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.sources.capture import THREAD_PREFIX, CaptureThread, StatusCallback
from edge.sources.device import DeviceFrameSource
from edge.sources.factory import build_source, open_source, start_capture
from edge.sources.folder import FolderFrameSource
from edge.sources.frame import EndOfStream, Frame, FrameSource, SourceOpenError, SourceReadError
from edge.sources.frame import SourceState as S
from edge.sources.rtsp import RtspFrameSource
from edge.sources.settings import (
    DeviceSource,
    FileSource,
    FolderSource,
    RtspSource,
    SourceSettings,
    SyntheticSource,
)
from edge.sources.synthetic import SyntheticFrameSource
from edge.sources.video_file import VideoFileSource
from lineinspect.render.video import ConveyorScene

N_FRAMES, FPS = 30, 30.0


@pytest.fixture(autouse=True)
def no_leaked_threads() -> Iterator[None]:
    before = set(threading.enumerate())
    yield
    assert not [t for t in threading.enumerate() if t.name.startswith(THREAD_PREFIX)]
    assert set(threading.enumerate()) <= before


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """30 frames at 30 fps; frame i is a flat grey of level 8 * i, so order survives MPEG-4."""
    path = tmp_path_factory.mktemp("video") / "ramp.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), FPS, (160, 120))
    assert writer.isOpened()
    for i in range(N_FRAMES):
        writer.write(np.full((120, 160, 3), 8 * i, np.uint8))
    writer.release()
    return path


def level(frame: Frame) -> int:
    return round(float(frame.image.mean()) / 8)


def read_all(source: FrameSource, limit: int = 1000) -> list[Frame]:
    frames: list[Frame] = []
    while len(frames) < limit and (frame := source.read()) is not None:
        frames.append(frame)
    return frames


def drain(cap: CaptureThread, timeout: float = 5.0) -> tuple[list[Frame], EndOfStream]:
    frames: list[Frame] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            frame = cap.get(0.5)
        except EndOfStream as end:
            return frames, end
        if frame is not None:
            frames.append(frame)
    raise AssertionError(f"capture did not end within {timeout} s: {cap.stats()}")


def statuses() -> tuple[list[tuple[S, str]], StatusCallback]:
    seen: list[tuple[S, str]] = []
    return seen, lambda state, message: seen.append((state, message))


# -- video file ---------------------------------------------------------------------------------
def test_file_plays_once_then_ends(video: Path) -> None:
    source = open_source(FileSource(path=video, pace=False))
    frames = read_all(source)
    assert source.read() is None  # stays at the end
    source.close()
    assert [f.seq for f in frames] == list(range(N_FRAMES))
    assert [level(f) for f in frames] == list(range(N_FRAMES))
    assert (frames[0].width, frames[0].height) == (160, 120)


def test_file_loops_with_seq_carrying_on(video: Path) -> None:
    source = open_source(FileSource(path=video, loop=True, pace=False))
    frames = read_all(source, limit=2 * N_FRAMES + 5)
    source.close()
    assert [f.seq for f in frames] == list(range(2 * N_FRAMES + 5))
    assert [level(f) for f in frames] == [i % N_FRAMES for i in range(2 * N_FRAMES + 5)]


def assert_paced(frames: list[Frame], period_s: float) -> None:
    """Delivered no faster than ``period_s`` apart on average (a starved box may be slower)."""
    first, last = frames[0], frames[-1]
    period = (last.mono_ns - first.mono_ns) / 1e9 / (last.seq - first.seq)
    assert period_s * 0.95 < period < period_s * 2.5, (period, period_s)


@pytest.mark.parametrize(("fps", "expected_s"), [(None, N_FRAMES / FPS), (60.0, N_FRAMES / 60)])
def test_file_paced_at_native_or_given_fps(video: Path, fps: float | None,
                                           expected_s: float) -> None:
    cap = start_capture(FileSource(path=video, fps=fps), "file")
    t0 = time.monotonic()
    frames, end = drain(cap, timeout=10)
    took = time.monotonic() - t0
    assert cap.close()
    assert cap.stats().captured == N_FRAMES and end.error is None
    assert end.reason == "end of stream"
    assert expected_s * 0.9 < took < expected_s * 2.5 + 1, took
    assert_paced(frames, expected_s / N_FRAMES)


def test_unpaced_file_ignores_the_frame_rate(video: Path) -> None:
    # Paced, 30 frames at 5 fps would take 6 s.
    cap = start_capture(FileSource(path=video, pace=False, fps=5.0), "unpaced")
    t0 = time.monotonic()
    drain(cap, timeout=10)
    assert cap.close()
    assert cap.stats().captured == N_FRAMES
    assert time.monotonic() - t0 < 3.0


def test_file_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(SourceOpenError, match=r"nope\.mp4: no such file"):
        open_source(FileSource(path=tmp_path / "nope.mp4"))
    junk = tmp_path / "junk.mp4"
    junk.write_text("this is not a video")
    with pytest.raises(SourceOpenError, match=r"junk\.mp4: not a video"):
        open_source(FileSource(path=junk))


def test_capture_of_missing_file_ends_with_the_error(tmp_path: Path) -> None:
    seen, on_status = statuses()
    cap = start_capture(FileSource(path=tmp_path / "gone.mp4"), "cam", on_status=on_status)
    frames, end = drain(cap)
    assert cap.close()
    assert frames == [] and isinstance(end.error, SourceOpenError)
    assert seen == [(S.DOWN, end.reason)] and "gone.mp4: no such file" in end.reason


def test_capture_get_timeout_is_distinct_from_end(video: Path) -> None:
    # At 2 fps the first frame comes at once, the next only after 0.5 s: a short get times out.
    cap = start_capture(FileSource(path=video, fps=2.0), "slow-file")
    try:
        assert cap.get(2.0) is not None
        assert cap.get(0.05) is None  # timeout: None, not EndOfStream
    finally:
        assert cap.close()
    with pytest.raises(EndOfStream, match="stopped"):
        cap.get(0.05)  # after close: the end, not a timeout


def test_consumer_that_keeps_up_loses_nothing(video: Path) -> None:
    # 5 fps leaves the consumer 200 ms per frame: ample even on an overloaded 2-core CI box.
    cap = start_capture(FileSource(path=video, fps=5.0), "paced")
    try:
        frames = [f for f in (cap.get(2.0) for _ in range(8)) if f is not None]
    finally:
        assert cap.close()
    st = cap.stats()
    assert [f.seq for f in frames] == list(range(8))
    assert st.dropped == 0 and st.delivered == 8


def test_slow_consumer_drops_old_frames_and_counts_them(video: Path) -> None:
    cap = start_capture(FileSource(path=video, pace=False, loop=True), "fast-file")
    try:
        got = []
        for _ in range(5):
            # Be slow in frames, not seconds, so the test means the same on a loaded machine.
            target, deadline = cap.stats().captured + 3, time.monotonic() + 5
            while cap.stats().captured < target and time.monotonic() < deadline:
                time.sleep(0.01)
            frame = cap.get(1.0)
            assert frame is not None
            got.append(frame.seq)
            st = cap.stats()
            assert st.captured - st.delivered - st.dropped in (0, 1)
    finally:
        assert cap.close()
    st = cap.stats()
    assert st.dropped >= 5 * 2 and st.captured - st.delivered - st.dropped in (0, 1)
    assert all(b > a + 1 for a, b in itertools.pairwise(got))


# -- image folder --------------------------------------------------------------------------------
@pytest.fixture
def folder(tmp_path: Path) -> Path:
    for i in (1, 2, 10):
        cv2.imwrite(str(tmp_path / f"img{i}.png"), np.full((24, 32, 3), i * 20, np.uint8))
    (tmp_path / "img5.png").write_bytes(b"not a png")  # corrupt: skipped, not fatal
    (tmp_path / "notes.txt").write_text("ignored")
    return tmp_path


def test_folder_in_natural_order_skipping_unreadable(folder: Path) -> None:
    source = open_source(FolderSource(path=folder, pace=False))
    frames = read_all(source)
    assert [int(f.image[0, 0, 0]) // 20 for f in frames] == [1, 2, 10]
    assert [f.seq for f in frames] == [0, 1, 2]


def test_folder_loops(folder: Path) -> None:
    source = open_source(FolderSource(path=folder, pace=False, loop=True))
    frames = read_all(source, limit=7)
    assert [int(f.image[0, 0, 0]) // 20 for f in frames] == [1, 2, 10, 1, 2, 10, 1]


def test_folder_paced_at_fps(folder: Path) -> None:
    cap = start_capture(FolderSource(path=folder, fps=10), "folder")
    t0 = time.monotonic()
    frames, _ = drain(cap)
    took = time.monotonic() - t0
    assert cap.close()
    assert cap.stats().captured == 3 and 0.18 < took < 2.0, took
    assert_paced(frames, 1 / 10)


def test_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(SourceOpenError, match="no images"):
        open_source(FolderSource(path=tmp_path))
    with pytest.raises(SourceOpenError, match="not a directory"):
        open_source(FolderSource(path=tmp_path / "missing"))
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8 truncated")
    source = open_source(FolderSource(path=tmp_path, loop=True, pace=False))
    with pytest.raises(SourceReadError, match="none of the images is readable"):
        source.read()


# -- synthetic conveyor --------------------------------------------------------------------------
def test_synthetic_frames_carry_the_scene_and_its_truth() -> None:
    settings = SyntheticSource(seed=3, width=256, height=192, fps=15, pace=False)
    source = open_source(settings)
    frames = read_all(source, limit=40)
    scene = ConveyorScene(seed=3, width=256, height=192, fps=15)
    for i in (0, 17, 39):
        image, truth = scene.render(i)
        assert np.array_equal(frames[i].image, image)
        assert list(frames[i].truth or []) == truth
    assert any(f.truth for f in frames), "40 frames of conveyor and no defect in view"
    assert frames[0].image.shape == (192, 256, 3) and frames[0].image.dtype == np.uint8


def test_synthetic_randomised_line_is_the_heldout_world() -> None:
    from lineinspect.render.line import RandomConveyor
    from lineinspect.render.world import HELDOUT_WORLD

    settings = SyntheticSource(seed=4, width=256, height=192, fps=15, pace=False, world="heldout")
    source = open_source(settings)
    assert "world=heldout" in source.description
    frames = read_all(source, limit=30)
    image, truth = RandomConveyor(HELDOUT_WORLD, seed=4, width=256, height=192,
                                  fps=15).render(29)
    assert np.array_equal(frames[29].image, image) and list(frames[29].truth or []) == truth


def test_synthetic_length_and_loop() -> None:
    once = open_source(SyntheticSource(width=128, height=96, frames=5, loop=False, pace=False))
    assert len(read_all(once)) == 5
    looped = open_source(SyntheticSource(width=128, height=96, frames=5, loop=True, pace=False))
    frames = read_all(looped, limit=7)
    assert np.array_equal(frames[5].image, frames[0].image) and frames[5].seq == 5


def test_synthetic_capture_paced() -> None:
    cap = start_capture(SyntheticSource(width=128, height=96, fps=20, frames=10, loop=False),
                        "synthetic")
    t0 = time.monotonic()
    frames, end = drain(cap)
    took = time.monotonic() - t0
    assert cap.close()
    assert cap.stats().captured == 10 and end.error is None
    assert 0.4 < took < 3.0, took
    assert_paced(frames, 1 / 20)


# -- V4L2 device: no camera on this machine, so only the failure paths run for real -----------
@pytest.mark.parametrize(("device", "words"), [
    ("/dev/video-nonexistent", "does not exist"),
    ("/dev/null", "cannot open with V4L2"),  # a character device, but not a camera
    (63, "cannot open with V4L2"),
    (-1, "index must be >= 0"),
])
def test_device_open_failure_is_clear(device: int | str, words: str) -> None:
    with pytest.raises(SourceOpenError, match=words):
        open_source(DeviceSource(device=device))


def test_device_path_must_be_a_device(tmp_path: Path) -> None:
    plain = tmp_path / "video0"
    plain.write_text("")
    with pytest.raises(SourceOpenError, match="not a character device"):
        open_source(DeviceSource(device=str(plain)))


def test_missing_device_is_retried_and_reported() -> None:
    seen, on_status = statuses()
    cap = start_capture(DeviceSource(device="/dev/video-nonexistent", reconnect_initial_s=0.05,
                                     reconnect_max_s=0.1), "usb", on_status=on_status)
    time.sleep(0.5)
    t0 = time.monotonic()
    assert cap.close()
    assert time.monotonic() - t0 < 0.5
    st = cap.stats()
    assert st.open_failures >= 3 and st.captured == 0  # retried with backoff, not given up
    assert seen[0][0] is S.RECONNECTING and "does not exist" in seen[0][1]
    assert seen[-1] == (S.DOWN, "stopped")


# -- the capture thread with a source that has a bug ---------------------------------------------
class BuggySource:
    """Test double: a source whose read raises an unexpected exception (a programming error)."""

    description = "buggy"
    pace_fps = None
    max_block_s = 0.1

    def open(self) -> None:
        pass

    def read(self) -> Frame | None:
        raise ZeroDivisionError("bug in a source")

    def close(self) -> None:
        pass


def test_a_bug_in_a_source_ends_the_capture_visibly() -> None:
    seen, on_status = statuses()
    cap = CaptureThread(BuggySource(), "buggy", on_status=on_status).start()
    _, end = drain(cap)
    assert cap.close()
    assert isinstance(end.error, ZeroDivisionError)
    assert seen == [(S.DOWN, "capture failed: ZeroDivisionError('bug in a source')")]


def test_a_failing_status_listener_does_not_stop_the_camera(video: Path) -> None:
    def explode(state: S, message: str) -> None:
        raise RuntimeError("listener bug")

    cap = start_capture(FileSource(path=video, pace=False), "cam", on_status=explode)
    _frames, end = drain(cap)
    assert cap.close()
    assert end.error is None and cap.stats().captured == N_FRAMES


@pytest.mark.parametrize(("settings", "kind"), [
    (SyntheticSource(), SyntheticFrameSource),
    (FileSource(path=Path("missing.mp4")), VideoFileSource),
    (FolderSource(path=Path("missing")), FolderFrameSource),
    (DeviceSource(device="/dev/video-nonexistent"), DeviceFrameSource),
    (RtspSource(url="rtsp://127.0.0.1:9/x"), RtspFrameSource),
])
def test_factory_builds_without_opening(settings: SourceSettings, kind: type) -> None:
    source = build_source(settings)  # nothing is touched yet: missing paths are fine here
    assert isinstance(source, kind)
    source.close()  # closing an unopened source is fine


def test_close_before_start_ends_the_capture() -> None:
    cap = CaptureThread(BuggySource(), "never-started")
    assert cap.close()
    with pytest.raises(EndOfStream, match="stopped"):
        cap.get(5.0)
