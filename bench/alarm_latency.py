"""Capture-to-alarm latency at a real MQTT subscriber (a PLC gateway stand-in), p50/p99.

The synthetic conveyor video (``lineinspect.render.video.ConveyorScene``) is rendered frame by
frame at its own fps, like a camera. The capture time of a frame is taken when its pixels exist. The
alarm is received by a separate MQTT client (paho, MQTT 3.1.1, like a PLC gateway) through a
real Mosquitto started here, which acknowledges each alarm at once so the next defect raises it
again: every raise is one sample.

Driver: the defects come from the video's **ground truth** (first frame a defect is visible →
its ``new`` event), not from the detector: the detector/tracker pipeline is not wired to the
publisher yet. The figure is therefore the publish path's share (hand-off, alarm rules, durable
outbox, MQTT, broker, subscriber), to which the detector's own latency adds.

Modes, same run, same broker:
  outbox        the publisher as shipped: durable outbox commit, then publish; the WAL is
                fsynced in the background every 0.2 s (synchronous=normal)
  outbox_full   outbox fsynced before each batch is sent (synchronous=full)
  direct_paho   the obvious alternative: paho QoS 1 publish straight from the frame thread, no
                outbox (what Frigate-style agents do; loses alarms while the broker is down)

    python bench/alarm_latency.py [--seconds 60] [--fps 15] [--modes outbox,direct_paho]

The last line printed is one JSON object: ``p50_ms``, ``p99_ms``, ``n`` of ``outbox`` (or the
first mode run), and every mode's figures under ``modes``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from edge.publish.alarms import AlarmMachine, Now, wire_payload
from edge.publish.factory import PublishSettings, build_publisher
from edge.publish.settings import (
    AlarmSettings,
    MqttSettings,
    OutboxSettings,
    StatsSettings,
)
from edge.publish.station import Station
from edge.publish.stats import percentile
from lineinspect.contract import (
    AlarmAck,
    BoxPx,
    DefectEvent,
    FrameSize,
    ModelRef,
    TopicKind,
    Uuid7Generator,
    format_ts,
    parse_message,
)
from lineinspect.render.video import ConveyorScene, GroundTruth
from lineinspect.testing import MosquittoServer

REPO = Path(__file__).resolve().parents[1]

STATION = Station("bench", "line1", "st1", ("cam1",))
MODEL = ModelRef(name="ground-truth", version="0", sha256="0" * 64)
RULES = AlarmSettings(clear="ack", min_interval_s=0.0, severities=[])
MODES = ("outbox", "outbox_full", "direct_paho")


class TruthEvents:
    """Ground truth → ``new`` events: a defect's first visible frame, like a perfect tracker."""

    def __init__(self, width: int, height: int) -> None:
        self.frame = FrameSize(width=width, height=height)
        self.seen: set[int] = set()
        self.ids = Uuid7Generator()

    def events(self, truth: list[GroundTruth], seq: int, ts_ms: int) -> list[DefectEvent]:
        out: list[DefectEvent] = []
        for gt in truth:
            if gt.defect_id in self.seen:
                continue
            self.seen.add(gt.defect_id)
            box = BoxPx(x1=float(gt.box[0]), y1=float(gt.box[1]), x2=float(gt.box[2]),
                        y2=float(gt.box[3]))
            eid = self.ids.next_str()
            out.append(DefectEvent(
                v=1, event_id=eid, defect_id=eid, kind="new", ts=format_ts(ts_ms), ts_ms=ts_ms,
                site=STATION.site, line=STATION.line, station=STATION.station, camera="cam1",
                track_id=gt.defect_id, frame_seq=seq, index_in_frame=len(out),
                class_name=gt.class_name, class_id=gt.class_id, confidence=1.0,
                severity="high", box=box, box_norm=box.normalised(self.frame), frame=self.frame,
                area_px=(box.x2 - box.x1) * (box.y2 - box.y1), model=MODEL,
            ))
        return out


class PlcGateway:
    """Receives the alarm, timestamps it, and acknowledges it at once."""

    def __init__(self, broker: MosquittoServer, captured: dict[str, float]) -> None:
        self.captured = captured
        self.latencies_ms: list[float] = []
        self.alarm_topic = STATION.topic(TopicKind.ALARM, "cam1")
        self.ack_topic = STATION.topic(TopicKind.ALARM_ACK, "cam1")
        self.ready = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-plc",
                                  protocol=mqtt.MQTTv311)
        self.client.on_connect = lambda c, *_: c.subscribe(self.alarm_topic, 1)
        self.client.on_subscribe = lambda *_: self.ready.set()
        self.client.on_message = self._on_message
        self.client.connect(broker.host, broker.port, keepalive=30)
        self.client.loop_start()
        if not self.ready.wait(20):
            raise RuntimeError("the PLC stand-in could not subscribe")

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        t = time.perf_counter()
        if msg.retain:
            return  # the state from before this mode started
        alarm = parse_message(msg.topic, bytes(msg.payload)).payload
        if not getattr(alarm, "active", False) or getattr(alarm, "count", 0) != 1:
            return
        event_id = getattr(alarm, "event_id", None)
        t0 = self.captured.get(event_id or "")
        if t0 is not None:
            self.latencies_ms.append((t - t0) * 1000.0)
        ack = AlarmAck(v=1, event_id=event_id, by="bench-plc")
        client.publish(self.ack_topic, ack.model_dump_json(), qos=1)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class DirectPaho:
    """The alternative: alarm rules in the frame thread, paho publish, no outbox."""

    def __init__(self, broker: MosquittoServer) -> None:
        self.machine = AlarmMachine(RULES)
        self.machine.restore(None, Now(time.monotonic(), time.time_ns() // 1_000_000))
        self.lock = threading.Lock()
        self.topic = STATION.topic(TopicKind.ALARM, "cam1")
        ack_topic = STATION.topic(TopicKind.ALARM_ACK, "cam1")
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-direct",
                                  protocol=mqtt.MQTTv5)
        ready = threading.Event()
        self.client.on_connect = lambda c, *_: c.subscribe(ack_topic, 1)
        self.client.on_subscribe = lambda *_: ready.set()
        self.client.on_message = self._on_ack
        self.client.connect(broker.host, broker.port, keepalive=30)
        self.client.loop_start()
        if not ready.wait(20):
            raise RuntimeError("direct paho client could not subscribe")

    def _on_ack(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        ack = parse_message(msg.topic, bytes(msg.payload)).payload
        assert isinstance(ack, AlarmAck)
        with self.lock:
            out = self.machine.on_ack(ack, Now(time.monotonic(), time.time_ns() // 1_000_000))
        if out is not None:
            client.publish(self.topic, wire_payload(out, "json"), qos=1, retain=True)

    def publish_event(self, ev: DefectEvent) -> bool:
        with self.lock:
            out = self.machine.on_event(ev, Now(time.monotonic(), time.time_ns() // 1_000_000))
        if out is not None:
            self.client.publish(self.topic, wire_payload(out, "json"), qos=1, retain=True)
        return True

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@dataclass
class Tally:
    latencies_ms: list[float] = field(default_factory=list)
    defects: int = 0
    frames: int = 0
    frames_late: int = 0

    def summary(self) -> dict[str, Any]:
        lat = sorted(self.latencies_ms)
        if not lat:
            raise RuntimeError("no alarm reached the subscriber")
        return {
            "p50_ms": round(percentile(lat, 50), 2),
            "p99_ms": round(percentile(lat, 99), 2),
            "max_ms": round(lat[-1], 2),
            "n": len(lat),
            "defects": self.defects,
            "frames": self.frames,
            "frames_late": self.frames_late,
        }


def run_chunk(mode: str, broker: MosquittoServer, args: argparse.Namespace, workdir: Path,
              frames: range, tally: Tally) -> None:
    """Frames ``frames`` of the video through ``mode``; samples and counts go to ``tally``."""
    captured: dict[str, float] = {}
    plc = PlcGateway(broker, captured)
    sink: Any
    if mode == "direct_paho":
        sink = DirectPaho(broker)
    else:
        sync: Literal["full", "normal"] = "full" if mode == "outbox_full" else "normal"
        settings = PublishSettings(
            MqttSettings(url=broker.url, client_id=f"bench-{mode}"),
            OutboxSettings(path=workdir / f"{mode}.sqlite3", synchronous=sync),
            RULES,
            StatsSettings(),
        )
        sink = build_publisher(STATION, settings).start()
        if not sink.client.wait_connected(20):
            raise RuntimeError("publisher did not connect")
    time.sleep(1.5)  # the publisher's startup restore window
    scene = ConveyorScene(seed=args.seed, width=args.width, height=args.height, fps=args.fps)
    truth_events = TruthEvents(args.width, args.height)
    if frames.start > 0:  # defects already in view at the chunk's start are not new
        truth_events.events(scene.render(frames.start - 1)[1], 0, 0)
    period = 1.0 / args.fps
    start = time.perf_counter()
    for n, i in enumerate(frames):
        due = start + n * period
        if (wait := due - time.perf_counter()) > 0:
            time.sleep(wait)
        else:
            tally.frames_late += 1
        _, truth = scene.render(i)
        t_cap = time.perf_counter()
        for ev in truth_events.events(truth, i, time.time_ns() // 1_000_000):
            captured[ev.event_id] = t_cap
            sink.publish_event(ev)
    time.sleep(1.0)
    sink.close()
    plc.close()
    tally.latencies_ms += plc.latencies_ms
    tally.defects += len(captured)
    tally.frames += len(frames)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=60.0, help="video length per mode")
    ap.add_argument("--chunk", type=float, default=10.0,
                    help="modes take turns on chunks of this many seconds of the same video, "
                    "so a change in machine load hits every mode alike")
    ap.add_argument("--fps", type=float, default=15.0)
    ap.add_argument("--width", type=int, default=640)
    ap.add_argument("--height", type=int, default=480)
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--modes", default=",".join(MODES), help=f"subset of {','.join(MODES)}")
    args = ap.parse_args(argv)
    modes = [m for m in args.modes.split(",") if m]
    if bad := [m for m in modes if m not in MODES]:
        ap.error(f"unknown mode(s) {bad}; choose from {MODES}")
    total = int(args.seconds * args.fps)
    step = max(1, int(args.chunk * args.fps))
    tallies = {m: Tally() for m in modes}
    with tempfile.TemporaryDirectory(prefix="alarm-bench-") as tmp:
        broker = MosquittoServer(Path(tmp) / "mosquitto")
        broker.start()
        try:
            for first in range(0, total, step):
                for mode in modes:
                    chunk = range(first, min(total, first + step))
                    run_chunk(mode, broker, args, Path(tmp), chunk, tallies[mode])
        finally:
            broker.close()
    results = {m: t.summary() for m, t in tallies.items()}
    for mode, r in results.items():
        print(f"{mode:12s} p50 {r['p50_ms']:7.2f} ms  p99 {r['p99_ms']:7.2f} ms  "
              f"max {r['max_ms']:7.2f} ms  n={r['n']} (frames late: "
              f"{r['frames_late']}/{r['frames']})", flush=True)
    head_mode = "outbox" if "outbox" in results else modes[0]
    head = results[head_mode]
    summary = {
        "p50_ms": head["p50_ms"],
        "p99_ms": head["p99_ms"],
        "n": head["n"],
        "mode": head_mode,
        "driver": "ground truth of the synthetic conveyor video (detector not wired yet)",
        "video": {"fps": args.fps, "width": args.width, "height": args.height,
                  "seconds_per_mode": args.seconds, "chunk_s": args.chunk, "seed": args.seed},
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform(), "load_avg_1m": os.getloadavg()[0]},
        "modes": results,
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
