"""One video encoder (PyAV: libx264 or libvpx) turning BGR frames into RTP-ready packets.

Its packets are handed unchanged to every viewer of the camera: aiortc's ``RTCRtpSender`` only
packetises an ``av.Packet`` it receives from a track (``encoder.pack``), it does not re-encode it.
Settings follow what aiortc's own encoders use for real-time video (zero latency, no B-frames,
constant bitrate), with a keyframe on request for joining viewers.
"""

from __future__ import annotations

import fractions
import multiprocessing

import av
import cv2
import numpy as np
from av.video.frame import PictureType

from edge.stream.settings import Codec

TIME_BASE = fractions.Fraction(1, 90000)  # RTP video clock
MIME_TYPES: dict[Codec, str] = {"h264": "video/H264", "vp8": "video/VP8"}


def even_size(width: int, height: int) -> tuple[int, int]:
    """4:2:0 video needs even dimensions; round down (at least 2)."""
    return max(2, width - width % 2), max(2, height - height % 2)


def stream_size(cam_w: int, cam_h: int, want_w: int | None, want_h: int | None) -> tuple[int, int]:
    """The stream's frame size: the setting, with a missing side following the camera's aspect."""
    if want_w is None and want_h is None:
        w, h = cam_w, cam_h
    elif want_w is None:
        assert want_h is not None
        w, h = round(cam_w * want_h / cam_h), want_h
    elif want_h is None:
        w, h = want_w, round(cam_h * want_w / cam_w)
    else:
        w, h = want_w, want_h
    return even_size(w, h)


def _encoder_threads(width: int, height: int) -> int:
    # aiortc's rule for libvpx: one more thread per ~VGA-sized area, capped by the CPU count.
    pixels = width * height
    threads = 1 if pixels < 640 * 480 else 2 if pixels < 1280 * 720 else 4
    return min(threads, max(1, multiprocessing.cpu_count() - 1))


class VideoEncoder:
    """``encode(bgr, pts)`` -> packets; not thread-safe (one encoder thread per camera)."""

    def __init__(self, codec: Codec, width: int, height: int, fps: float, bitrate_kbps: int,
                 keyframe_interval_s: float) -> None:
        if width % 2 or height % 2:
            raise ValueError(f"encoder size must be even, got {width}x{height}")
        self.codec_name: Codec = codec
        self.mime_type = MIME_TYPES[codec]
        self.width, self.height = width, height
        self._ctx = _open_context(codec, width, height, fps, bitrate_kbps * 1000,
                                  max(1, round(keyframe_interval_s * fps)))
        self._yuv = np.empty((height * 3 // 2, width), np.uint8)
        self.frames = 0
        self.keyframes = 0
        self.bytes = 0

    def encode(self, bgr: np.ndarray, pts: int, keyframe: bool = False) -> list[av.Packet]:
        """Encode one BGR frame of the encoder's size; ``pts`` in :data:`TIME_BASE` units."""
        cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420, dst=self._yuv)
        frame = av.VideoFrame.from_ndarray(self._yuv, format="yuv420p")
        frame.pts = pts
        frame.time_base = TIME_BASE
        frame.pict_type = PictureType.I if keyframe else PictureType.NONE
        packets = self._ctx.encode(frame)
        for packet in packets:
            packet.time_base = TIME_BASE
            self.bytes += packet.size
            if packet.is_keyframe:
                self.keyframes += 1
        self.frames += 1
        return packets


def _open_context(codec: Codec, width: int, height: int, fps: float, bitrate: int,
                  gop: int) -> av.VideoCodecContext:
    ctx = av.CodecContext.create("libx264" if codec == "h264" else "libvpx", "w")
    assert isinstance(ctx, av.VideoCodecContext)
    ctx.width, ctx.height = width, height
    ctx.pix_fmt = "yuv420p"
    ctx.time_base = TIME_BASE
    ctx.framerate = fractions.Fraction(round(fps * 1000), 1000)
    ctx.bit_rate = bitrate
    ctx.gop_size = gop
    ctx.thread_count = _encoder_threads(width, height)
    if codec == "h264":
        # Constrained baseline is what every WebRTC H.264 decoder takes (profile-level-id 42e01f);
        # annex-B output carries SPS/PPS in-band with every IDR, so a joining viewer can start.
        ctx.profile = "Baseline"
        ctx.max_b_frames = 0
        ctx.options = {
            "preset": "ultrafast",
            "tune": "zerolatency",
            "forced-idr": "1",
            "x264-params": f"keyint={gop}:min-keyint={gop}:scenecut=0:vbv-maxrate="
                           f"{bitrate // 1000}:vbv-bufsize={bitrate // 1000 // 2}",
        }
    else:
        ctx.qmin, ctx.qmax = 2, 56
        ctx.options = {
            "bufsize": str(bitrate),
            "cpu-used": "-6",
            "deadline": "realtime",
            "lag-in-frames": "0",
            "minrate": str(bitrate),
            "maxrate": str(bitrate),
            "static-thresh": "1",
            "undershoot-pct": "100",
            "overshoot-pct": "15",
        }
    ctx.open()
    return ctx
