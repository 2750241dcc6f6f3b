"""WHEP end to end with aiortc as the player, over loopback only (host candidates on 127.0.0.1,
no STUN): frames arrive at the configured rate and size, annotated; viewers share one encoder;
the viewer limit and session teardown behave as WHEP says."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import av
import numpy as np
import pytest

from edge.stream.annotate import class_colour
from edge.stream.whep_client import WhepClient, WhepError
from tests._edge_app import LOOPBACK, AppParts, build_app, colour_pixels, loopback_stream, running
from tests._framefeed import FramePublisher, numbered_frames

STREAM_FPS = 10.0
CAMERA_FPS = 25.0  # the stream rate is the setting's, not the camera's


@pytest.fixture
def parts() -> Iterator[AppParts]:
    parts = build_app(None, cameras=("cam1",), stream=True,
                      stream_settings=loopback_stream(fps=STREAM_FPS, width=320, max_viewers=2))
    yield parts
    assert parts.deps.stream is not None
    parts.deps.stream.stop()


async def _frames(track: object, seconds: float) -> list[tuple[float, av.VideoFrame]]:
    out = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        frame = await asyncio.wait_for(track.recv(), 15)  # type: ignore[attr-defined]
        out.append((time.monotonic(), frame))
    return out


def _rate(frames: list[tuple[float, av.VideoFrame]]) -> float:
    times = [t for t, _ in frames]
    return (len(times) - 1) / (times[-1] - times[0])


@pytest.mark.slow
def test_frames_arrive_at_the_stream_rate_and_size_with_boxes(parts: AppParts) -> None:
    stream = parts.deps.stream
    assert stream is not None
    with running(parts) as server, FramePublisher(parts.deps.hub, "cam1", CAMERA_FPS,
                                                  numbered_frames(20)) as publisher:
        async def watch() -> tuple[list[tuple[float, av.VideoFrame]], str | None, int | None]:
            client = WhepClient(f"{server.url}/whep/cam1", host_addresses=LOOPBACK)
            track = await client.connect()
            await _frames(track, 2.0)  # warm-up: first keyframe, jitter buffer
            frames = await _frames(track, 6.0)
            status = await client.close()
            return frames, client.codec, status

        frames, codec, status = asyncio.run(watch())
        assert codec == "h264" and status == 200
        rate = _rate(frames)
        assert 0.8 * STREAM_FPS <= rate <= 1.2 * STREAM_FPS, f"{rate:.1f} fps"
        last = frames[-1][1].to_ndarray(format="bgr24")
        assert last.shape == (240, 320, 3)  # width 320 set, height from the camera's 4:3
        # The crack box (class 1) is drawn into the video.
        assert colour_pixels(last, class_colour(1), tol=70) > 150
        assert publisher.median_publish_s < 0.001  # the pipeline does not wait for the stream
        deadline = time.monotonic() + 10
        while stream.viewer_count and time.monotonic() < deadline:
            time.sleep(0.05)
        assert stream.viewer_count == 0


@pytest.mark.slow
def test_viewers_share_one_encoder_and_the_limit_holds(parts: AppParts) -> None:
    stream = parts.deps.stream
    assert stream is not None
    streamer = stream.streamers["cam1"]
    with running(parts) as server, FramePublisher(parts.deps.hub, "cam1", CAMERA_FPS,
                                                  numbered_frames(20)):
        url = f"{server.url}/whep/cam1"

        async def watch() -> None:
            a = WhepClient(url, host_addresses=LOOPBACK)
            b = WhepClient(url, host_addresses=LOOPBACK)
            ta, tb = await a.connect(), await b.connect()
            await asyncio.gather(_frames(ta, 2.0), _frames(tb, 2.0))
            encoded0 = streamer.stats.frames
            fa, fb = await asyncio.gather(_frames(ta, 4.0), _frames(tb, 4.0))
            encoded = streamer.stats.frames - encoded0
            # Each viewer got about every encoded frame, and each frame was encoded once.
            assert encoded <= 1.2 * 4.0 * STREAM_FPS
            assert len(fa) >= 0.7 * encoded and len(fb) >= 0.7 * encoded
            assert stream.viewers_by_camera() == {"cam1": 2}
            c = WhepClient(url, host_addresses=LOOPBACK)
            with pytest.raises(WhepError) as refused:
                await c.connect()
            assert refused.value.status == 503 and "max_viewers" in refused.value.reason
            assert await a.close() == 200
            assert await a.close() is None  # already ended
            c2 = WhepClient(url, host_addresses=LOOPBACK)
            tc = await c2.connect()  # a freed slot is usable again
            assert len(await _frames(tc, 2.0)) > 0
            await asyncio.gather(b.close(), c2.close())

        asyncio.run(watch())
        metrics = __import__("urllib.request").request.urlopen(f"{server.url}/metrics").read()
        assert b'lineinspect_stream_sessions_rejected_total{reason="full"} 1.0' in metrics


@pytest.mark.slow
def test_vp8_viewers_get_vp8() -> None:
    parts = build_app(None, stream=True,
                      stream_settings=loopback_stream(fps=STREAM_FPS, codecs=["vp8"]))
    with running(parts) as server, FramePublisher(parts.deps.hub, "cam1", CAMERA_FPS,
                                                  numbered_frames(5)):
        async def watch() -> tuple[str | None, int]:
            client = WhepClient(f"{server.url}/whep/cam1", host_addresses=LOOPBACK)
            track = await client.connect()
            frames = await _frames(track, 3.0)
            await client.close()
            return client.codec, len(frames)

        codec, n = asyncio.run(watch())
    assert codec == "vp8" and n > 5


def test_whep_errors_name_the_problem(parts: AppParts) -> None:
    import httpx

    with running(parts) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        sdp = {"content-type": "application/sdp"}
        r = http.post("/whep/nope", content=b"v=0\r\n", headers=sdp)
        assert r.status_code == 404 and "known: cam1" in r.json()["detail"]
        r = http.post("/whep/cam1", content=b"v=0\r\n", headers={"content-type": "text/plain"})
        assert r.status_code == 415 and "application/sdp" in r.json()["detail"]
        r = http.post("/whep/cam1", content=b"hello", headers=sdp)
        assert r.status_code == 400 and "v=0" in r.json()["detail"]
        r = http.post("/whep/cam1", content=np.zeros(70_000, np.uint8).tobytes(), headers=sdp)
        assert r.status_code == 413
        assert http.delete("/whep/cam1/unknown").status_code == 404
        assert http.patch("/whep/cam1/unknown").status_code == 405  # no trickle ICE needed


def test_stream_off_means_503() -> None:
    import httpx

    parts = build_app(None, stream=False)
    with running(parts) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        r = http.post("/whep/cam1", content=b"v=0\r\n",
                      headers={"content-type": "application/sdp"})
        assert r.status_code == 503 and "stream.enabled" in r.json()["detail"]
