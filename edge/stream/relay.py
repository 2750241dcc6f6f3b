"""Fan-out of one camera's encoded packets to every viewer's WebRTC track.

Runs on the stream's event loop. Each viewer has a small bounded queue of packets. Encoded video
cannot drop single frames (the next ones depend on them), so a viewer that falls behind loses
its whole backlog and resumes at the next keyframe, which is requested from the encoder; a new
viewer also starts at a keyframe. Everything dropped is counted. The encoder never waits for a
viewer and other viewers are not affected.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable, Sequence

import av
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

from edge.stream.settings import Codec


class ViewerTrack(MediaStreamTrack):
    """A video track whose ``recv`` hands out pre-encoded packets (aiortc sends them as they are).
    """

    kind = "video"

    def __init__(self, max_queue: int, request_keyframe: Callable[[ViewerTrack], None]) -> None:
        super().__init__()
        if max_queue < 1:
            raise ValueError(f"max_queue must be >= 1, got {max_queue}")
        self._max = max_queue
        self._queue: deque[av.Packet] = deque()
        self._ready = asyncio.Event()
        self._request_keyframe = request_keyframe
        self._waiting_key = True
        self.codec: Codec | None = None  # set when attached to a relay
        self.packets_in = 0  # offered by the relay
        self.packets_out = 0  # taken by the sender
        self.dropped = 0  # lost to a backlog or while waiting for a keyframe

    @property
    def backlog(self) -> int:
        return len(self._queue)

    def offer(self, packet: av.Packet) -> None:
        """Queue ``packet`` (on the loop thread); never waits."""
        self.packets_in += 1
        keyframe = packet.is_keyframe
        if self._waiting_key and not keyframe:
            self.dropped += 1
            return
        if len(self._queue) >= self._max:
            # Fell behind: what is queued is stale and undecodable without its predecessors.
            self.dropped += len(self._queue)
            self._queue.clear()
            if not keyframe:
                self.dropped += 1
                self._waiting_key = True
                self._request_keyframe(self)
                return
        self._waiting_key = False
        self._queue.append(packet)
        self._ready.set()

    async def recv(self) -> av.Packet:
        while not self._queue:
            if self.readyState != "live":
                raise MediaStreamError
            self._ready.clear()
            await self._ready.wait()
        self.packets_out += 1
        return self._queue.popleft()

    def stop(self) -> None:
        super().stop()
        self._ready.set()


class CameraRelay:
    """Viewers of one camera, grouped by the codec each one negotiated.

    The loop thread attaches/detaches viewers and delivers packets; the camera's encoder thread
    reads :attr:`codecs` (an immutable snapshot) and :meth:`take_keyframe_request`.
    """

    def __init__(self, camera_id: str, max_queue: int) -> None:
        self.camera_id = camera_id
        self.max_queue = max_queue
        self._viewers: dict[Codec, list[ViewerTrack]] = {}
        self.codecs: tuple[Codec, ...] = ()
        self._all: tuple[ViewerTrack, ...] = ()
        self.active = threading.Event()  # set while anyone watches: the encoder runs only then
        self._key_wanted: set[Codec] = set()
        self._key_lock = threading.Lock()
        self.delivered = 0  # packets handed to viewers (one per viewer per packet)
        self._dropped_gone = 0  # drops of viewers that have left

    @property
    def dropped(self) -> int:
        """Packets any viewer of this camera lost, ever (monotonic, for metrics)."""
        return self._dropped_gone + sum(t.dropped for t in self.viewers())

    @property
    def viewer_count(self) -> int:
        return len(self._all)

    def viewers(self) -> tuple[ViewerTrack, ...]:
        """Snapshot, safe to read from any thread."""
        return self._all

    def new_track(self) -> ViewerTrack:
        """A track for a new viewer; it gets packets once :meth:`attach` ed."""
        return ViewerTrack(self.max_queue, self._track_wants_keyframe)

    def _track_wants_keyframe(self, track: ViewerTrack) -> None:
        if track.codec is not None:
            self.request_keyframe(track.codec)

    def attach(self, codec: Codec, track: ViewerTrack) -> None:
        track.codec = codec
        self._viewers.setdefault(codec, []).append(track)
        self._publish_codecs()
        self.request_keyframe(codec)

    def detach(self, track: ViewerTrack) -> None:
        for codec, tracks in list(self._viewers.items()):
            if track in tracks:
                tracks.remove(track)
                self._dropped_gone += track.dropped
                if not tracks:
                    del self._viewers[codec]
        self._publish_codecs()

    def _publish_codecs(self) -> None:
        # Immutable snapshots: other threads read them without locks.
        self._all = tuple(t for tracks in self._viewers.values() for t in tracks)
        self.codecs = tuple(self._viewers)
        if self._viewers:
            self.active.set()
        else:
            self.active.clear()

    def request_keyframe(self, codec: Codec) -> None:
        with self._key_lock:
            self._key_wanted.add(codec)

    def take_keyframe_request(self, codec: Codec) -> bool:
        """True once after a keyframe of ``codec`` was requested (encoder thread)."""
        with self._key_lock:
            if codec in self._key_wanted:
                self._key_wanted.discard(codec)
                return True
            return False

    def deliver(self, codec: Codec, packets: Sequence[av.Packet]) -> None:
        """Hand encoded ``packets`` to every viewer of ``codec`` (loop thread)."""
        tracks = self._viewers.get(codec)
        if not tracks:
            return
        for packet in packets:
            for track in tracks:
                track.offer(packet)
            self.delivered += len(tracks)
