"""Pure parts of the stream: drawing, sizes, the packet relay, the encoder, offer checks."""

from __future__ import annotations

import asyncio
from fractions import Fraction

import av
import numpy as np
import pytest
from aiortc import RTCPeerConnection

from edge.stream.annotate import PALETTE, annotate, class_colour, label_text, line_width
from edge.stream.encoder import TIME_BASE, VideoEncoder, even_size, stream_size
from edge.stream.errors import BadOffer
from edge.stream.hub import Overlay
from edge.stream.ice import rtc_configuration
from edge.stream.relay import CameraRelay
from edge.stream.webrtc import check_offer, codec_capabilities, negotiated_codec

# -- drawing -----------------------------------------------------------------------------------


def _overlay(boxes: list[list[float]], classes: list[int], tracks: list[int]) -> Overlay:
    return Overlay(np.array(boxes, np.float32), np.array(classes, np.int64),
                   np.full(len(boxes), 0.87, np.float32), np.array(tracks, np.int64),
                   ("scratch", "crack", "dent"))


def test_annotate_draws_on_a_copy_in_the_class_colour() -> None:
    frame = np.full((240, 320, 3), 128, np.uint8)
    out = annotate(frame, _overlay([[40, 60, 140, 160]], [1], [7]))
    assert (frame == 128).all(), "the input frame must not be drawn on"
    colour = np.array(class_colour(1), np.uint8)
    # The box's bottom edge is drawn in the class colour; the inside is untouched.
    assert (out[160, 60:120] == colour).all()
    assert (out[110, 90] == 128).all()


def test_overlay_boxes_are_scaled_to_a_resized_canvas() -> None:
    from edge.stream.annotate import draw_overlay

    canvas = np.zeros((120, 160, 3), np.uint8)
    draw_overlay(canvas, _overlay([[40, 60, 140, 200]], [0], [-1]), 0.5, 0.5)
    colour = np.array(class_colour(0), np.uint8)
    assert (canvas[100, 30:60] == colour).all()  # bottom edge at y = 200 * 0.5


@pytest.mark.parametrize(("name", "score", "track", "text"), [
    ("crack", 0.871, 12, "crack 0.87 #12"),
    ("dent", 0.5, -1, "dent 0.50"),
])
def test_label_text(name: str, score: float, track: int, text: str) -> None:
    assert label_text(name, score, track) == text


@pytest.mark.parametrize(("hw", "width"), [((480, 640), 2), ((1080, 1920), 5), ((100, 100), 2)])
def test_line_width_stays_visible(hw: tuple[int, int], width: int) -> None:
    assert line_width(*hw) == width


def test_palette_colours_are_saturated_and_cycle() -> None:
    for b, g, r in PALETTE:
        assert max(b, g, r) - min(b, g, r) >= 128
    assert class_colour(len(PALETTE)) == class_colour(0)


# -- sizes -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("cam", "want", "size"), [
    ((640, 480), (None, None), (640, 480)),
    ((641, 481), (None, None), (640, 480)),
    ((1920, 1080), (None, 360), (640, 360)),
    ((1920, 1080), (960, None), (960, 540)),
    ((1280, 720), (320, 320), (320, 320)),
    ((1280, 720), (None, 241), (428, 240)),
])
def test_stream_size(cam: tuple[int, int], want: tuple[int | None, int | None],
                     size: tuple[int, int]) -> None:
    assert stream_size(*cam, *want) == size


def test_even_size_never_reaches_zero() -> None:
    assert even_size(1, 1) == (2, 2)


# -- encoder -----------------------------------------------------------------------------------


@pytest.mark.parametrize("codec", ["h264", "vp8"])
def test_encoder_makes_keyframes_on_request_with_rtp_clock_stamps(codec: str) -> None:
    enc = VideoEncoder(codec, 160, 120, fps=15, bitrate_kbps=300,  # type: ignore[arg-type]
                       keyframe_interval_s=10)
    rng = np.random.default_rng(0)
    keys = []
    for i in range(8):
        frame = rng.integers(0, 255, (120, 160, 3), np.uint8)
        packets = enc.encode(frame, pts=i * 6000, keyframe=(i == 5))
        assert len(packets) == 1
        assert packets[0].time_base == TIME_BASE and packets[0].pts == i * 6000
        keys.append(packets[0].is_keyframe)
    assert keys == [True, False, False, False, False, True, False, False]
    assert Fraction(1, 90000) == TIME_BASE
    # The packets decode: a receiver gets real pictures.
    decoder = av.CodecContext.create("h264" if codec == "h264" else "libvpx", "r")
    enc2 = VideoEncoder(codec, 160, 120, 15, 300, 10)  # type: ignore[arg-type]
    decoded = []
    for i in range(3):
        for packet in enc2.encode(np.full((120, 160, 3), 60 * i, np.uint8), i * 6000):
            decoded += decoder.decode(packet)
    assert decoded and decoded[0].width == 160 and decoded[0].height == 120


def test_encoder_refuses_odd_sizes() -> None:
    with pytest.raises(ValueError, match="even"):
        VideoEncoder("h264", 161, 120, 15, 300, 2)


# -- relay -------------------------------------------------------------------------------------


def _packet(key: bool) -> av.Packet:
    # A real encoded frame whose key flag we know.
    p = av.Packet(b"\x00\x00\x00\x01\x09\x10")
    if key:
        p.is_keyframe = True
    return p


def test_relay_starts_viewers_at_a_keyframe_and_drops_a_backlog_to_the_next() -> None:
    async def body() -> None:
        relay = CameraRelay("cam", max_queue=3)
        track = relay.new_track()
        relay.attach("h264", track)
        assert relay.take_keyframe_request("h264") is True  # joining asks for a keyframe
        assert relay.take_keyframe_request("h264") is False
        relay.deliver("h264", [_packet(False)])  # before any keyframe: useless, dropped
        assert track.backlog == 0 and track.dropped == 1
        relay.deliver("h264", [_packet(True), _packet(False), _packet(False)])
        assert track.backlog == 3
        relay.deliver("h264", [_packet(False)])  # full: the stale backlog goes, keyframe asked
        assert track.backlog == 0 and track.dropped == 5
        assert relay.take_keyframe_request("h264") is True
        relay.deliver("h264", [_packet(False)])
        assert track.backlog == 0 and track.dropped == 6
        relay.deliver("h264", [_packet(True)])
        got = await asyncio.wait_for(track.recv(), 1)
        assert got.is_keyframe
        relay.deliver("vp8", [_packet(True)])  # nobody watches vp8
        assert track.backlog == 0
        relay.detach(track)
        assert relay.viewer_count == 0 and not relay.active.is_set()
        assert relay.dropped == 6  # kept after the viewer left

    asyncio.run(body())


def test_a_slow_viewer_does_not_affect_another() -> None:
    async def body() -> None:
        relay = CameraRelay("cam", max_queue=2)
        slow, fast = relay.new_track(), relay.new_track()
        relay.attach("h264", slow)
        relay.attach("h264", fast)
        for i in range(10):
            relay.deliver("h264", [_packet(i % 5 == 0)])
            await asyncio.wait_for(fast.recv(), 1)  # fast keeps up
        assert fast.dropped == 0 and fast.packets_out == 10
        assert slow.dropped > 0 and slow.backlog <= 2

    asyncio.run(body())


# -- SDP -----------------------------------------------------------------------------------------


def _browser_like_offer() -> str:
    async def make() -> str:
        pc = RTCPeerConnection(rtc_configuration([]))  # no public STUN server
        pc.addTransceiver("video", direction="recvonly")
        await pc.setLocalDescription(await pc.createOffer())
        sdp = pc.localDescription.sdp
        await pc.close()
        return sdp

    return asyncio.run(make())


def test_a_real_offer_passes_and_broken_ones_say_why() -> None:
    offer = _browser_like_offer()
    check_offer(offer)
    cases = {
        "hello": "must start with 'v=0'",
        offer.replace("m=video", "m=audio"): "no video section",
        offer.replace("a=recvonly", "a=sendonly"): "does not receive",
        "\n".join(line for line in offer.splitlines() if not line.startswith("a=fingerprint")):
            "no DTLS fingerprint",
        "\n".join(line for line in offer.splitlines() if not line.startswith("a=ice-pwd")):
            "no ICE credentials",
        "v=0\r\n" + "x" * 70000: "larger than",
    }
    for sdp, reason in cases.items():
        with pytest.raises(BadOffer, match=reason):
            check_offer(sdp)


def test_codec_preferences_follow_the_setting_order() -> None:
    caps = codec_capabilities(["vp8", "h264"])
    assert caps[0].mimeType == "video/VP8"
    assert {c.mimeType for c in caps} == {"video/VP8", "video/H264"}
    assert all(c.mimeType != "video/rtx" for c in caps)


def test_negotiated_codec_reads_the_first_payload_type() -> None:
    offer = _browser_like_offer()
    assert negotiated_codec(offer) == "vp8"  # aiortc lists VP8 first by default


def _candidate_hosts(addresses: list[str] | None) -> set[str]:
    from ipaddress import ip_address

    from edge.stream.ice import gather_on

    async def make() -> set[str]:
        pc = RTCPeerConnection(rtc_configuration([]))
        pc.addTransceiver("video", direction="recvonly")
        await gather_on(pc, None if addresses is None else [ip_address(a) for a in addresses])
        await pc.setLocalDescription(await pc.createOffer())
        hosts = {line.split()[4] for line in pc.localDescription.sdp.splitlines()
                 if line.startswith("a=candidate:")}
        await pc.close()
        return hosts

    return asyncio.run(make())


def test_host_candidates_can_be_pinned_to_given_addresses_loopback_included() -> None:
    assert _candidate_hosts(["127.0.0.1"]) == {"127.0.0.1"}
    assert "127.0.0.1" not in _candidate_hosts(None)  # aiortc's own choice leaves it out


def test_no_public_stun_server_unless_configured() -> None:
    from edge.stream.settings import IceServer

    assert rtc_configuration([]).iceServers == []
    config = rtc_configuration([IceServer(urls=["turn:turn.example:3478"], username="u",
                                          credential="p")])
    assert config.iceServers is not None
    (server,) = config.iceServers
    assert (server.urls, server.username, server.credential) == (
        ["turn:turn.example:3478"], "u", "p")
