"""Sustained ingest broker -> InfluxDB: the collector vs a naive subscriber, same run.

Starts a real Mosquitto and a real influxd (Debian's 1.6) on free loopback ports, then:

1. collector: ``python -m cloud.collector`` (MQTT 5 shared subscription, manual acks, batched
   line-protocol writes) while ``--publishers`` processes publish ``--events`` v1 defect
   events at QoS 1 as fast as they can. Timed from the first publish to the moment InfluxDB
   holds every event.
2. naive: a minimal subscriber (QoS 1, auto-ack, parse, one HTTP write per message) in its
   own process, the same way, with ``--naive-events``.

Zero loss is checked, not assumed: the stored event ids are read back and compared. The last
line printed is one JSON object with ``events_per_s``, ``naive_events_per_s``, ``sent``,
``stored_unique``, ``lost`` (and more).

Run from the repository root: ``python bench/collector_ingest.py`` (``--help`` for options).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import yaml  # noqa: E402

from lineinspect.contract import (  # noqa: E402
    TopicKind,
    Uuid7Generator,
    build_topic,
    encode_payload,
    format_ts,
)
from lineinspect.contract.examples import example_event  # noqa: E402
from tests.servers import InfluxServer, MosquittoServer  # noqa: E402

T0_MS = 1_763_794_391_000
PER_FRAME = 3


def make_payloads(worker: int, count: int) -> list[tuple[str, bytes]]:
    """``count`` valid events from camera ``cam{worker}``, three per frame, frame = 1 ms."""
    ids = Uuid7Generator()
    base = example_event()
    camera = f"cam{worker}"
    topic = build_topic(TopicKind.EVENTS, base.site, base.line, base.station, camera)
    out = []
    for i in range(count):
        ts = T0_MS + i // PER_FRAME
        eid = ids.next_str()
        ev = base.model_copy(update={
            "event_id": eid, "defect_id": eid, "camera": camera, "ts": format_ts(ts),
            "ts_ms": ts, "index_in_frame": i % PER_FRAME, "frame_seq": i // PER_FRAME,
            "track_id": i,
        })  # fmt: skip
        out.append((topic, encode_payload(ev)))
    return out


def publisher(worker: int, count: int, port: int, go: Any, results: Any) -> None:
    import paho.mqtt.client as mqtt

    payloads = make_payloads(worker, count)
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{worker}",
                         protocol=mqtt.MQTTv5)  # fmt: skip
    client.max_inflight_messages_set(1000)
    client.connect("127.0.0.1", port)
    client.loop_start()
    go.wait()
    t0 = time.monotonic()
    infos = [client.publish(topic, payload, qos=1) for topic, payload in payloads]
    for info in infos:
        info.wait_for_publish(600)
    results.put((worker, t0, time.monotonic(), count))
    client.disconnect()
    client.loop_stop()


def naive_subscriber(port: int, influx_url: str, db: str, ready: Any) -> None:
    """The obvious way: subscribe, and for each message parse it and write one point."""
    import paho.mqtt.client as mqtt

    from cloud.store.schema import points_for
    from lineinspect.contract import parse_message

    url = f"{influx_url}/write?" + urllib.parse.urlencode({"db": db, "precision": "u"})

    def on_message(client: Any, userdata: Any, msg: Any) -> None:
        for p in points_for(parse_message(msg.topic, msg.payload), 0):
            req = urllib.request.Request(url, data=p.line.encode(), method="POST")
            urllib.request.urlopen(req, timeout=10).read()

    def on_connect(client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        client.subscribe("lineinspect/v1/+/+/+/+/events", qos=1)

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-naive",
                         protocol=mqtt.MQTTv5)  # fmt: skip
    client.on_message = on_message
    client.on_connect = on_connect
    client.on_subscribe = lambda *a: ready.set()
    client.connect("127.0.0.1", port)
    client.loop_forever()


def stored(influx: InfluxServer, db: str) -> int:
    try:
        rows = influx.select('SELECT count("event_id") FROM "defect_events"', db=db)
    except Exception:
        return 0
    return int(rows[0]["count"]) if rows else 0


def stored_ids(influx: InfluxServer, db: str) -> list[str]:
    return [r["event_id"] for r in influx.select('SELECT "event_id" FROM "defect_events"', db)]


def publish_and_wait(
    broker: MosquittoServer, influx: InfluxServer, db: str, events: int, publishers: int,
    timeout: float,
) -> dict[str, float]:  # fmt: skip
    ctx = mp.get_context("fork")
    go, results = ctx.Event(), ctx.Queue()
    share = [events // publishers + (i < events % publishers) for i in range(publishers)]
    procs = [ctx.Process(target=publisher, args=(i, n, broker.port, go, results))
             for i, n in enumerate(share)]  # fmt: skip
    for p in procs:
        p.start()
    time.sleep(2.0)  # let every publisher build its payloads and connect
    t0 = time.monotonic()
    go.set()
    deadline = t0 + timeout
    while stored(influx, db) < events and time.monotonic() < deadline:
        time.sleep(0.2)
    t_done = time.monotonic()
    pub = [results.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(10)
    pub_end = max(r[2] for r in pub)
    return {
        "seconds": t_done - t0,
        "events_per_s": events / (t_done - t0),
        "publish_events_per_s": events / (pub_end - min(r[1] for r in pub)),
    }


def run_collector(broker: MosquittoServer, influx: InfluxServer, work: Path, args: Any) -> Any:
    config = {
        "collector": {"mqtt": {"url": broker.url, "client_id": "bench-collector"},
                      "stats_log_interval_s": 5.0},
        "influx": {"api": "v1", "url": influx.url, "database": "bench_collector",
                   "create_database": True, "batch_size": args.batch_size,
                   "flush_interval_ms": args.flush_ms},
        "logging": {"level": "INFO"},
    }  # fmt: skip
    path = work / "cloud.yaml"
    path.write_text(yaml.safe_dump(config))
    log = (work / "collector.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "cloud.collector", "--config", str(path)],
                            cwd=REPO, stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    deadline = time.monotonic() + 180
    while "subscription active" not in (work / "collector.log").read_text():
        if time.monotonic() > deadline or proc.poll() is not None:
            raise RuntimeError("collector did not start:\n" + (work / "collector.log").read_text())
        time.sleep(0.2)
    return proc


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=30_000, help="events through the collector")
    ap.add_argument("--naive-events", type=int, default=3_000, help="events through the naive one")
    ap.add_argument("--publishers", type=int, default=4, help="publisher processes")
    ap.add_argument("--batch-size", type=int, default=5_000)
    ap.add_argument("--flush-ms", type=int, default=1_000)
    ap.add_argument("--timeout", type=float, default=600.0)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="collector-bench-") as tmp:
        work = Path(tmp)
        broker = MosquittoServer(work / "mosquitto", max_queued_messages=1_000_000)
        influx = InfluxServer(work / "influxd")
        broker.start()
        influx.start()
        try:
            proc = run_collector(broker, influx, work, args)
            try:
                fast = publish_and_wait(broker, influx, "bench_collector", args.events,
                                        args.publishers, args.timeout)  # fmt: skip
            finally:
                proc.terminate()
                proc.wait(60)
            ids = stored_ids(influx, "bench_collector")

            influx.create_database("bench_naive")
            ctx = mp.get_context("fork")
            ready = ctx.Event()
            naive = ctx.Process(target=naive_subscriber,
                                args=(broker.port, influx.url, "bench_naive", ready))  # fmt: skip
            naive.start()
            ready.wait(120)
            slow = publish_and_wait(broker, influx, "bench_naive", args.naive_events,
                                    args.publishers, args.timeout)  # fmt: skip
            naive.terminate()
            naive.join(10)
            naive_ids = stored_ids(influx, "bench_naive")
        finally:
            broker.stop()
            influx.stop()

    unique = len(set(ids))
    result = {
        "events_per_s": round(fast["events_per_s"], 1),
        "naive_events_per_s": round(slow["events_per_s"], 1),
        "speedup": round(fast["events_per_s"] / slow["events_per_s"], 1),
        "sent": args.events,
        "stored_unique": unique,
        "stored_points": len(ids),
        "lost": args.events - unique,
        "naive_sent": args.naive_events,
        "naive_lost": args.naive_events - len(set(naive_ids)),
        "publish_events_per_s": round(fast["publish_events_per_s"], 1),
        "publishers": args.publishers,
        "batch_size": args.batch_size,
        "cpus": os.cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }
    print(f"collector: {result['events_per_s']} events/s ({args.events} events, "
          f"publishers {result['publish_events_per_s']}/s), naive: "
          f"{result['naive_events_per_s']} events/s, lost {result['lost']}")  # fmt: skip
    print(json.dumps(result))
    return 0 if result["lost"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
