"""Live stream on loopback: glass-to-glass delay, and encoder CPU with 1 vs N viewers.

Server (this process): the edge app with its StreamService (one shared encoder per camera,
WHEP, host candidates on 127.0.0.1 only). A camera stand-in publishes conveyor frames to the
FrameHub at the camera rate, each stamped with its counter as black/white blocks; the publish
instant is the "glass". Receivers run in a child process (so their decoding is not counted as
server CPU): aiortc WHEP players that read the counter back from each decoded frame; the instant
``recv()`` returns is the other "glass". Both sides use CLOCK_MONOTONIC, shared by processes.

The delay includes the stream's newest-frame wait (stream fps below camera fps), drawing,
encoding, SRTP, loopback UDP, aiortc's jitter buffer (it releases a frame when the next one
starts arriving: about one frame interval) and decoding; not the detector.

CPU is this process's user+system time per wall second (1.0 = one core), minus the same with no
viewer (the camera stand-in), for: the shipped design (one encoder shared by all viewers) and
the obvious alternative in the same run, one encoder per viewer (same encoder settings: one
StreamService per viewer).

    python bench/webrtc_latency.py [--seconds 20] [--fps 15] [--camera-fps 30] [--viewers 4]

The last line printed is one JSON object with ``p50_ms``, ``p99_ms``, ``cpu_1_viewer``,
``cpu_4_viewers`` (shared encoder) and the rest of the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from ipaddress import ip_address
from pathlib import Path
from typing import Any

import av
import numpy as np
from fastapi import HTTPException, Request, Response  # (route annotations)

REPO = Path(__file__).resolve().parents[1]

LOOPBACK = [ip_address("127.0.0.1")]
BITS = 16
BLOCK = 20
ROWS_Y = (8, 8 + BLOCK + 4)  # the counter is written twice; a read counts only if both agree


# -- the stamp (pure) ----------------------------------------------------------------------------
def stamp(frame: np.ndarray, counter: int) -> None:
    """Write ``counter`` (16 bits, twice) as white/black blocks into the top-left corner."""
    for y in ROWS_Y:
        for bit in range(BITS):
            x = 8 + bit * BLOCK
            frame[y:y + BLOCK, x:x + BLOCK] = 255 if (counter >> bit) & 1 else 0


def read_stamp(gray: np.ndarray) -> int | None:
    """The counter from a decoded luma plane, or None if the two copies disagree."""
    values = []
    for y in ROWS_Y:
        value = 0
        for bit in range(BITS):
            x = 8 + bit * BLOCK
            if gray[y + 5:y + BLOCK - 5, x + 5:x + BLOCK - 5].mean() > 128:
                value |= 1 << bit
        values.append(value)
    return values[0] if values[0] == values[1] else None


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


# -- receivers (child process) ---------------------------------------------------------------------
async def _receive(url: str, seconds: float) -> list[tuple[int, int]]:
    from edge.stream.whep_client import WhepClient

    client = WhepClient(url, host_addresses=LOOPBACK)
    track = await client.connect()
    got: list[tuple[int, int]] = []
    end = time.monotonic() + seconds
    try:
        while time.monotonic() < end:
            frame = await asyncio.wait_for(track.recv(), 20)
            now = time.monotonic_ns()
            assert isinstance(frame, av.VideoFrame)
            counter = read_stamp(frame.to_ndarray(format="gray"))
            if counter is not None:
                got.append((counter, now))
    finally:
        await client.close()
    return got


def receiver_main(url: str, clients: int, seconds: float, out: Path) -> None:
    async def run() -> list[list[tuple[int, int]]]:
        return list(await asyncio.gather(*(_receive(url, seconds) for _ in range(clients))))

    out.write_text(json.dumps(asyncio.run(run())))


# -- server (this process) -------------------------------------------------------------------------
class Camera:
    """Publishes stamped frames at ``fps``; remembers when each counter was published."""

    def __init__(self, hub: Any, fps: float, frames: list[np.ndarray]) -> None:
        from edge.stream.hub import Overlay

        self.hub, self.fps, self.frames = hub, fps, frames
        self.sent_ns = np.zeros(1 << BITS, np.int64)
        self.count = 0
        self._overlay = Overlay
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        boxes = np.array([[300, 200, 420, 300], [460, 320, 600, 420]], np.float32)
        names = ("scratch", "crack", "dent")
        next_t = time.monotonic()
        while not self._stop.is_set():
            i = self.count
            frame = self.frames[i % len(self.frames)].copy()
            stamp(frame, i % (1 << BITS))
            mono = time.monotonic_ns()
            self.sent_ns[i % (1 << BITS)] = mono
            self.hub.publish("cam1", frame, self._overlay(
                boxes, np.array([0, 1]), np.array([0.9, 0.8], np.float32), np.array([1, 2]),
                names, i, time.time_ns(), mono))
            self.count += 1
            next_t += 1.0 / self.fps
            self._stop.wait(max(0.0, next_t - time.monotonic()))


def cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


def run_phase(path: str, base_url: str, clients: int, seconds: float, warmup: float,
              camera: Camera) -> dict[str, Any]:
    """Receivers in a child for warmup+seconds; CPU of this process over the last ``seconds``."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "frames.json"
        proc = subprocess.Popen([sys.executable, __file__, "--receiver", base_url + path,
                                 "--clients", str(clients), "--seconds",
                                 str(warmup + seconds), "--out", str(out)])
        time.sleep(warmup + 3.0)  # the child's imports and ICE take ~3 s before the warm-up
        c0, w0, t0 = cpu_seconds(), time.monotonic(), time.monotonic_ns()
        time.sleep(seconds - 1.0)
        c1, w1, t1 = cpu_seconds(), time.monotonic(), time.monotonic_ns()
        if proc.wait(timeout=warmup + seconds + 120) != 0:
            raise RuntimeError(f"receiver exited with {proc.returncode}")
        per_client = json.loads(out.read_text())
    delays, counts = [], []
    for frames in per_client:
        window = [(c, t) for c, t in frames if t0 <= t <= t1]
        counts.append(len(window) / ((t1 - t0) / 1e9))
        delays += [(t - int(camera.sent_ns[c])) / 1e6 for c, t in window]
    return {"cpu": (c1 - c0) / (w1 - w0), "delays_ms": delays,
            "fps_per_viewer": [round(c, 2) for c in counts]}


def idle_cpu(seconds: float) -> float:
    c0, w0 = cpu_seconds(), time.monotonic()
    time.sleep(seconds)
    return (cpu_seconds() - c0) / (time.monotonic() - w0)


def build_server(args: argparse.Namespace) -> tuple[Any, Any, list[Any], Any, Camera]:
    from prometheus_client import CollectorRegistry

    from edge.api.app import create_app
    from edge.api.deps import AppDeps, StatusSnapshot
    from edge.api.feed import EventFeed
    from edge.api.server import ApiServer, free_port
    from edge.api.settings import ApiSettings
    from edge.stream.hub import FrameHub
    from edge.stream.settings import StreamSettings
    from edge.stream.webrtc import StreamService
    from lineinspect.render.video import ConveyorScene

    scene = ConveyorScene(seed=3, width=640, height=480, fps=args.camera_fps)
    frames = [scene.render(80 + 2 * i)[0] for i in range(30)]
    hub = FrameHub(["cam1"])
    settings = StreamSettings(fps=args.fps, codecs=["h264"], ice_host_addresses=LOOPBACK,
                              max_viewers=64)
    shared = StreamService(hub, settings)
    # The alternative: one encoder per viewer, each viewer on its own service.
    separate = [StreamService(hub, settings) for _ in range(args.viewers)]
    deps = AppDeps(ApiSettings(), settings, hub, EventFeed(),
                   lambda: StatusSnapshot(True, {"cam1": "up"}), CollectorRegistry(), None, shared)
    app = create_app(deps)
    free = list(separate)

    @app.post("/whep-alt/{camera}", include_in_schema=False)
    async def alt(camera: str, request: Request) -> Response:
        if not free:
            raise HTTPException(503, "no spare service")
        service = free.pop(0)
        info = await service.loop.call(service.open_session(camera, (await request.body())
                                                            .decode()))
        return Response(info.answer_sdp, 201, media_type="application/sdp",
                        headers={"Location": f"/whep/{camera}/{info.id}"})

    server = ApiServer(app, "127.0.0.1", free_port())
    camera = Camera(hub, args.camera_fps, frames)
    return server, shared, separate, free, camera


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="measured part of a phase")
    parser.add_argument("--warmup", type=float, default=4.0)
    parser.add_argument("--fps", type=float, default=15.0, help="stream fps")
    parser.add_argument("--camera-fps", type=float, default=30.0)
    parser.add_argument("--viewers", type=int, default=4)
    parser.add_argument("--receiver", help=argparse.SUPPRESS)
    parser.add_argument("--clients", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.receiver:
        receiver_main(args.receiver, args.clients, args.seconds, args.out)
        return

    server, shared, separate, free, camera = build_server(args)
    shared.start()
    for service in separate:
        service.start()
    server.start()
    camera.start()
    try:
        time.sleep(2.0)
        base = idle_cpu(args.seconds / 2)
        print(f"no viewer: {base:.3f} CPU (camera stand-in, idle server)", flush=True)
        results: dict[str, dict[str, Any]] = {}
        for name, path, clients in (("shared_1", "/whep/cam1", 1),
                                    (f"shared_{args.viewers}", "/whep/cam1", args.viewers),
                                    ("per_viewer_1", "/whep-alt/cam1", 1),
                                    (f"per_viewer_{args.viewers}", "/whep-alt/cam1",
                                     args.viewers)):
            free[:] = [s for s in separate]  # every alternative phase starts with fresh slots
            time.sleep(2.0)  # sessions of the previous phase have closed
            r = run_phase(path, server.url, clients, args.seconds, args.warmup, camera)
            r["cpu_streaming"] = max(0.0, r["cpu"] - base)
            results[name] = r
            d = r["delays_ms"]
            print(f"{name}: cpu {r['cpu']:.3f} (streaming {r['cpu_streaming']:.3f}), delay p50 "
                  f"{percentile(d, 50):.1f} ms p99 {percentile(d, 99):.1f} ms (n={len(d)}), "
                  f"fps/viewer {r['fps_per_viewer']}", flush=True)
    finally:
        camera.stop()
        server.stop()
        shared.stop()
        for service in separate:
            service.stop()

    one, many = results["shared_1"], results[f"shared_{args.viewers}"]
    alt1, altn = results["per_viewer_1"], results[f"per_viewer_{args.viewers}"]
    summary = {
        "p50_ms": round(percentile(one["delays_ms"], 50), 1),
        "p99_ms": round(percentile(one["delays_ms"], 99), 1),
        "p50_ms_4_viewers": round(percentile(many["delays_ms"], 50), 1),
        "p99_ms_4_viewers": round(percentile(many["delays_ms"], 99), 1),
        "cpu_1_viewer": round(one["cpu_streaming"], 3),
        "cpu_4_viewers": round(many["cpu_streaming"], 3),
        "cpu_ratio_4_to_1": round(many["cpu_streaming"] / max(one["cpu_streaming"], 1e-9), 2),
        "per_viewer_encoders_cpu_1_viewer": round(alt1["cpu_streaming"], 3),
        "per_viewer_encoders_cpu_4_viewers": round(altn["cpu_streaming"], 3),
        "per_viewer_encoders_ratio_4_to_1": round(
            altn["cpu_streaming"] / max(alt1["cpu_streaming"], 1e-9), 2),
        "fps_per_viewer_4": many["fps_per_viewer"],
        "idle_cpu": round(base, 3),
        "viewers": args.viewers, "stream_fps": args.fps, "camera_fps": args.camera_fps,
        "seconds": args.seconds, "machine": f"{platform.machine()} {os.cpu_count()} CPU "
                                            f"{platform.python_version()}",
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
