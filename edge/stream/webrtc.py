"""The live stream service: WHEP sessions over aiortc, one shared encoder per camera.

``StreamService`` owns the stream event loop thread, one :class:`CameraStreamer` (encoder
thread) and one :class:`CameraRelay` per camera. A viewer session is one aiortc peer connection
whose only track is a :class:`ViewerTrack` fed with the camera's already-encoded packets.

Coroutines here run on the stream loop: from elsewhere use ``await service.loop.call(...)``
(another event loop) or ``service.loop.submit(...)`` (a thread).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from dataclasses import dataclass, field

from aiortc import RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.rtcrtpparameters import RTCRtpCodecCapability
from aiortc.sdp import SessionDescription

from edge.stream.camera import CameraStreamer
from edge.stream.encoder import MIME_TYPES
from edge.stream.errors import BadOffer, NoCommonCodec, StreamStopped, UnknownSession, ViewerLimit
from edge.stream.hub import FrameHub, UnknownCamera
from edge.stream.ice import gather_on, rtc_configuration
from edge.stream.loop import LoopThread
from edge.stream.relay import CameraRelay, ViewerTrack
from edge.stream.settings import Codec, StreamSettings

log = logging.getLogger(__name__)

MAX_OFFER_BYTES = 64 * 1024
# Packets a viewer may have queued before it counts as fallen behind: ~half a second of video.
QUEUE_SECONDS = 0.5


def codec_capabilities(codecs: list[Codec]) -> list[RTCRtpCodecCapability]:
    """aiortc's capabilities for ``codecs``, in that order of preference (RTX left out: we
    cannot retransmit from a relayed packet stream any better than the next keyframe)."""
    caps = RTCRtpSender.getCapabilities("video").codecs
    return [c for name in codecs for c in caps if c.mimeType.lower() == MIME_TYPES[name].lower()]


def negotiated_codec(answer_sdp: str) -> Codec:
    """The codec the answer's video section sends first (what aiortc's sender will use)."""
    description = SessionDescription.parse(answer_sdp)
    for media in description.media:
        if media.kind == "video" and media.rtp.codecs:
            mime = media.rtp.codecs[0].mimeType.lower()
            for name, known in MIME_TYPES.items():
                if known.lower() == mime:
                    return name
            raise NoCommonCodec(f"negotiated {mime}, which the stream does not send")
    raise NoCommonCodec("the answer has no video codec")


def check_offer(sdp: str) -> None:
    """Reject what aiortc would fail on obscurely, with a reason a person can act on."""
    if len(sdp.encode()) > MAX_OFFER_BYTES:
        raise BadOffer(f"offer is larger than {MAX_OFFER_BYTES} bytes")
    if not sdp.lstrip().startswith("v=0"):
        raise BadOffer("not an SDP offer: it must start with 'v=0'")
    try:
        description = SessionDescription.parse(sdp)
    except Exception as exc:  # aiortc's parser raises whatever the malformed line provokes
        why = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        raise BadOffer(f"malformed SDP, the parser failed with {why}") from None
    video = [m for m in description.media if m.kind == "video"]
    if not video:
        raise BadOffer("the offer has no video section (m=video)")
    if any(m.direction is None for m in video):
        raise BadOffer("the offer's video section has no direction (a=recvonly)")
    if all(m.direction in ("sendonly", "inactive") for m in video):
        raise BadOffer("the offer's video section does not receive (recvonly or sendrecv)")
    for media in video:
        if media.ice is None or not (media.ice.usernameFragment and media.ice.password):
            raise BadOffer("the offer has no ICE credentials (a=ice-ufrag / a=ice-pwd)")
        if media.dtls is None or not media.dtls.fingerprints:
            raise BadOffer("the offer has no DTLS fingerprint (a=fingerprint)")


@dataclass
class Session:
    id: str
    camera_id: str
    codec: Codec
    pc: RTCPeerConnection
    track: ViewerTrack
    created: float = field(default_factory=time.monotonic)
    answer_sdp: str = ""


@dataclass(frozen=True, slots=True)
class SessionInfo:
    id: str
    camera_id: str
    codec: Codec
    answer_sdp: str


class StreamService:
    def __init__(self, hub: FrameHub, settings: StreamSettings) -> None:
        self.hub = hub
        self.settings = settings
        self.loop = LoopThread()
        queue = max(4, round(settings.fps * QUEUE_SECONDS))
        self.relays = {cid: CameraRelay(cid, queue) for cid in hub.camera_ids}
        self.streamers: dict[str, CameraStreamer] = {}
        self._sessions: dict[str, Session] = {}
        self._pending = 0  # sessions being negotiated (count against the limit)
        self.rejected_full = 0
        self.sessions_opened = 0
        self.timed_out = 0

    # -- lifecycle (any thread) ---------------------------------------------------------------
    def start(self) -> None:
        loop = self.loop.start()
        for cid, relay in self.relays.items():
            streamer = CameraStreamer(cid, self.hub, relay, self.settings, loop)
            self.streamers[cid] = streamer
            streamer.start()

    def stop(self, timeout: float = 10.0) -> None:
        if self.loop.running:
            try:
                self.loop.submit(self._close_all()).result(timeout)
            except TimeoutError:
                log.warning("closing viewer sessions took longer than %.0f s", timeout)
        for streamer in self.streamers.values():
            streamer.stop()
        self.loop.stop()

    @property
    def viewer_count(self) -> int:
        return len(self._sessions)

    def viewers_by_camera(self) -> dict[str, int]:
        counts = dict.fromkeys(self.relays, 0)
        for s in list(self._sessions.values()):
            counts[s.camera_id] += 1
        return counts

    # -- sessions (stream loop) ---------------------------------------------------------------
    async def open_session(self, camera_id: str, offer_sdp: str) -> SessionInfo:
        if not self.loop.running:
            raise StreamStopped("the stream service is not running")
        if not self.hub.has_camera(camera_id):
            raise UnknownCamera(camera_id, self.relays)
        if len(self._sessions) + self._pending >= self.settings.max_viewers:
            self.rejected_full += 1
            raise ViewerLimit(f"{self.settings.max_viewers} viewers are watching already "
                              "(stream.max_viewers); try again later")
        check_offer(offer_sdp)
        self._pending += 1
        try:
            session = await self._negotiate(camera_id, offer_sdp)
        finally:
            self._pending -= 1
        self._sessions[session.id] = session
        self.sessions_opened += 1
        self.relays[camera_id].attach(session.codec, session.track)
        asyncio.get_running_loop().create_task(self._watch_connect(session))
        log.info("viewer %s on camera %s (%s)", session.id, camera_id, session.codec)
        return SessionInfo(session.id, camera_id, session.codec, session.answer_sdp)

    async def _negotiate(self, camera_id: str, offer_sdp: str) -> Session:
        pc = RTCPeerConnection(rtc_configuration(self.settings.ice_servers))
        relay = self.relays[camera_id]
        try:
            track = relay.new_track()
            transceiver = pc.addTransceiver(track, direction="sendonly")
            transceiver.setCodecPreferences(codec_capabilities(self.settings.codecs))
            try:
                await pc.setRemoteDescription(RTCSessionDescription(offer_sdp, "offer"))
            except NoCommonCodec:
                raise
            except Exception as exc:
                if "codec" in str(exc).lower() or "parameters" in str(exc).lower():
                    names = ", ".join(self.settings.codecs)
                    raise NoCommonCodec(f"the offer accepts none of the stream's codecs "
                                        f"({names})") from None
                raise BadOffer(f"offer rejected: {exc}") from None
            await gather_on(pc, self.settings.ice_host_addresses)
            try:
                await pc.setLocalDescription(await pc.createAnswer())
            except Exception as exc:  # an offer aiortc accepted but cannot answer
                log.warning("camera %s: cannot answer an offer", camera_id, exc_info=True)
                raise BadOffer(f"cannot answer this offer: {type(exc).__name__}: {exc}"
                               ) from None
            answer = pc.localDescription.sdp
            codec = negotiated_codec(answer)
        except BaseException:
            await pc.close()
            raise
        session = Session(secrets.token_urlsafe(12), camera_id, codec, pc, track,
                          answer_sdp=answer)
        pc.on("connectionstatechange", lambda: self._on_state(session))
        return session

    def _on_state(self, session: Session) -> None:
        state = session.pc.connectionState
        if state in ("failed", "closed") and session.id in self._sessions:
            log.info("viewer %s on camera %s: connection %s", session.id, session.camera_id,
                     state)
            asyncio.get_running_loop().create_task(self._close(session))

    async def _watch_connect(self, session: Session) -> None:
        deadline = session.created + self.settings.connect_timeout_s
        while session.id in self._sessions and session.pc.connectionState != "connected":
            if time.monotonic() >= deadline:
                self.timed_out += 1
                log.info("viewer %s on camera %s never connected; closing", session.id,
                         session.camera_id)
                await self._close(session)
                return
            await asyncio.sleep(0.25)

    async def close_session(self, camera_id: str, session_id: str) -> None:
        session = self._sessions.get(session_id)
        if session is None or session.camera_id != camera_id:
            raise UnknownSession(f"no session {session_id!r} on camera {camera_id!r}")
        await self._close(session)

    async def _close(self, session: Session) -> None:
        if self._sessions.pop(session.id, None) is None:
            return
        self.relays[session.camera_id].detach(session.track)
        session.track.stop()
        await session.pc.close()

    async def _close_all(self) -> None:
        for session in list(self._sessions.values()):
            await self._close(session)
