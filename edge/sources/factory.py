"""Build a frame source, or a running capture, from its settings."""

from __future__ import annotations

import random

from edge.clock import SYSTEM_CLOCK, Clock
from edge.sources.capture import CaptureThread, StatusCallback
from edge.sources.device import DeviceFrameSource
from edge.sources.folder import FolderFrameSource
from edge.sources.frame import FrameSource, Stamper
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
from lineinspect.backoff import RetryPolicy


def build_source(settings: SourceSettings, clock: Clock = SYSTEM_CLOCK) -> FrameSource:
    """A source for ``settings``, not yet opened."""
    stamper = Stamper(clock)
    if isinstance(settings, RtspSource):
        return RtspFrameSource(settings, stamper)
    if isinstance(settings, FileSource):
        return VideoFileSource(settings, stamper)
    if isinstance(settings, DeviceSource):
        return DeviceFrameSource(settings, stamper)
    if isinstance(settings, FolderSource):
        return FolderFrameSource(settings, stamper)
    if isinstance(settings, SyntheticSource):
        return SyntheticFrameSource(settings, stamper)
    raise TypeError(f"unknown source settings {type(settings).__name__}")


def open_source(settings: SourceSettings, clock: Clock = SYSTEM_CLOCK) -> FrameSource:
    """A source for ``settings``, opened (raises ``SourceOpenError``); for scripts and tools.

    The edge pipeline uses :func:`start_capture` instead, which also retries cameras that are
    down at start.
    """
    source = build_source(settings, clock)
    source.open()
    return source


def retry_policy(settings: SourceSettings) -> RetryPolicy | None:
    """Cameras are retried forever; recordings and synthetic video fail for good."""
    if isinstance(settings, RtspSource | DeviceSource):
        return RetryPolicy(settings.reconnect_initial_s, settings.reconnect_max_s)
    return None


def start_capture(settings: SourceSettings, camera: str, on_status: StatusCallback | None = None,
                  clock: Clock = SYSTEM_CLOCK, rng: random.Random | None = None) -> CaptureThread:
    """A running :class:`CaptureThread` for ``settings``; close it to stop."""
    return CaptureThread(build_source(settings, clock), camera, retry=retry_policy(settings),
                         on_status=on_status, rng=rng, lossless=is_offline(settings)).start()


def is_offline(settings: SourceSettings) -> bool:
    """A finite, unpaced recording is processed offline: every frame, as fast as detection goes.

    Looping or paced recordings stand in for cameras, so they keep newest-wins.
    """
    return (isinstance(settings, FileSource | SyntheticSource) and not settings.pace
            and not settings.loop)
